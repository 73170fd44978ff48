// Package sqlite implements store.Store on SQLite (modernc.org/sqlite: pure
// Go, WAL, FTS5) in one file per data folder.
//
// The code is split by concern: schema.go (format and migrations),
// changes.go (changes, heads, parked changes), index.go (the object index
// and search), local.go (membership, settings and the device-local tables)
// and copy.go (copies of the store).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"mycel/internal/change"
	"mycel/internal/store"
)

var _ store.Store = (*DB)(nil)

// DB is a store in one SQLite file.
type DB struct {
	// db runs the writes, and rd the reads: the same pool, or with
	// Options.CacheMiB (a device's store) one connection that writes, with
	// that cache, beside a pool of readers with SQLite's default one: a
	// device opened three connections, each of which grew its cache to
	// the writer's 32 MiB.
	db, rd *sql.DB
	// readOnly: opened for reading only, because the disk is full (see
	// Open); every write fails with store.ErrFull.
	readOnly bool
	path     string

	// Statements are prepared once and reused by every transaction: with
	// modernc's SQLite, parsing a statement costs as much as running it.
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt // prepared on db
	rstmts map[string]*sql.Stmt // prepared on rd, when it is not db
	// toPrepare, with one writing connection, lists the statements a
	// write used that are not prepared on db yet: preparing on the pool
	// needs its connection, which the write holds, so they are prepared
	// before the next write begins (see run).
	toPrepare map[string]bool
}

// Open opens (creating if needed) the store at path. The file is made
// readable by its owner only.
//
// Open checks only what it reads (the header, the schema and its format):
// a full structural check costs most of a command's time on a large store,
// so it is IntegrityCheck's, for `mycel check`.
//
// On a full disk, opening as usual fails: the first connection to a WAL
// store must write its shared-memory index (mycel.db-shm) before any read.
// Then, if the WAL holds nothing (the last connection closed cleanly, so
// everything is in the main file), the store is opened immutable, read
// only: reads work and every write fails with store.ErrFull. (With
// changes still in the WAL, reading the main file alone would miss them:
// then the error stands.)
func Open(path string) (*DB, error) { return OpenWith(path, Options{}) }

// Options tune a store for its use.
type Options struct {
	// CacheMiB is the writing connection's page cache, in MiB (0:
	// SQLite's default, 2 MiB, and one pool of connections for reads
	// and writes). With it, writes go through one connection of their
	// own and reads through others, with the default cache. SQLite fills
	// a cache only as pages are used, so a short command pays nothing
	// for a large one.
	CacheMiB int
}

// OpenWith is Open with options.
func OpenWith(path string, o Options) (*DB, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	f.Close()
	d, err := openDB(path, false, o)
	if err != nil && isFull(err) && walEmpty(path) {
		if ro, rerr := openDB(path, true, o); rerr == nil {
			return ro, nil
		}
	}
	return d, err
}

func openDB(path string, readOnly bool, o Options) (*DB, error) {
	q := url.Values{}
	pragmas := []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)", "wal_autocheckpoint(16384)"}
	if readOnly {
		pragmas = []string{"busy_timeout(10000)", "foreign_keys(1)"}
		q.Set("mode", "ro")
		q.Set("immutable", "1")
	} else {
		q.Set("_txlock", "immediate")
	}
	split := o.CacheMiB > 0 && !readOnly
	dsn := func(cacheMiB int) string {
		q := maps.Clone(q)
		for _, p := range pragmas {
			q.Add("_pragma", p)
		}
		if cacheMiB > 0 {
			q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -cacheMiB<<10)) // negative: KiB
		}
		return "file:" + path + "?" + q.Encode()
	}
	db, err := sql.Open("sqlite", dsn(o.CacheMiB))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := migrate(db, readOnly); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, wrapFull(err))
	}
	d := &DB{db: db, rd: db, readOnly: readOnly, path: path, stmts: map[string]*sql.Stmt{}}
	if split {
		// SQLite lets one connection write at a time anyway: the others
		// waited in its busy handler, here in the pool.
		db.SetMaxOpenConns(1)
		if d.rd, err = sql.Open("sqlite", dsn(0)); err != nil {
			db.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
		d.rstmts, d.toPrepare = map[string]*sql.Stmt{}, map[string]bool{}
	}
	return d, nil
}

// ReadOnly reports whether the store was opened for reading only (the
// disk is full).
func (d *DB) ReadOnly() bool { return d.readOnly }

// isFull reports whether err is SQLite's for a full disk, or an I/O error
// (what growing the shared-memory index on a full disk gives).
func isFull(err error) bool {
	var se interface{ Code() int }
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqliteFull || code == sqliteIOErr
}

const (
	sqliteIOErr = 10
	sqliteFull  = 13
)

// wrapFull makes a full disk's error wrap store.ErrFull.
func wrapFull(err error) error {
	if err != nil && isFull(err) && !errors.Is(err, store.ErrFull) {
		return fmt.Errorf("%w: %w", store.ErrFull, err)
	}
	return err
}

// walEmpty: the store's WAL is absent or empty.
func walEmpty(path string) bool {
	fi, err := os.Stat(path + "-wal")
	return errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0)
}

// IntegrityCheck implements store.Store with PRAGMA quick_check: every
// page and b-tree is well formed (it does not compare indexes with their
// tables, which integrity_check would, at several times the cost).
func (d *DB) IntegrityCheck(ctx context.Context) error {
	rows, err := d.rd.QueryContext(ctx, `PRAGMA quick_check(20)`)
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		problems = append(problems, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	return fmt.Errorf("integrity check failed: %s", strings.Join(problems, "; "))
}

// Close closes the database.
func (d *DB) Close() error {
	d.mu.Lock()
	for _, st := range d.stmts {
		st.Close()
	}
	for _, st := range d.rstmts {
		st.Close()
	}
	d.stmts, d.rstmts = nil, nil
	d.mu.Unlock()
	var rerr error
	if d.rd != d.db {
		rerr = d.rd.Close()
	}
	return errors.Join(d.db.Close(), rerr)
}

// prepared returns the shared prepared statement for query, of the
// readers' pool or the writer's.
// With one writing connection, a write's statement not prepared yet is
// nil (see toPrepare).
func (d *DB) prepared(ctx context.Context, query string, read bool) (*sql.Stmt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pool, stmts := d.db, d.stmts
	if read && d.rd != d.db {
		pool, stmts = d.rd, d.rstmts
	}
	if st := stmts[query]; st != nil {
		return st, nil
	}
	if stmts == nil {
		return nil, errors.New("store is closed")
	}
	if !read && d.rd != d.db {
		return nil, nil // the transaction prepares it (see txn.stmt)
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	stmts[query] = st
	return st, nil
}

// Update implements store.Store.
func (d *DB) Update(ctx context.Context, f func(store.Tx) error) error {
	return d.run(ctx, false, f)
}

// View implements store.Store.
func (d *DB) View(ctx context.Context, f func(store.Tx) error) error {
	return d.run(ctx, true, f)
}

func (d *DB) run(ctx context.Context, readOnly bool, f func(store.Tx) error) error {
	if d.readOnly && !readOnly {
		return fmt.Errorf("%w where %s is: mycel can read but not write until some space is freed", store.ErrFull, d.path)
	}
	var tx *sql.Tx
	var err error
	switch {
	case readOnly:
		tx, err = d.rd.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	case d.rd != d.db:
		// One connection writes: a write waits for it in the pool, not in
		// SQLite's busy handler, so the wait is bounded here as that
		// handler bounded it (a write nested in a write, or one that
		// never ends, fails the others instead of hanging them).
		var c *sql.Conn
		if c, err = d.writer(ctx); err != nil {
			return err
		}
		defer c.Close()
		tx, err = c.BeginTx(ctx, nil)
	default:
		tx, err = d.db.BeginTx(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("begin: %w", wrapFull(err))
	}
	// Whatever way f leaves (an error, a panic, which goes on up, or
	// runtime.Goexit from t.Fatal), the transaction ends here. Left open it
	// would keep its connection and, for a writer, the write lock: every
	// later write would wait out busy_timeout (or busyWait) and fail.
	// After a commit, this rollback is a no-op.
	defer tx.Rollback()
	if err := f(&txn{tx: tx, db: d, ctx: ctx, read: readOnly}); err != nil {
		return wrapFull(err)
	}
	if readOnly {
		return tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", wrapFull(err))
	}
	return nil
}

// busyWait bounds how long a write waits for the one writing connection:
// SQLite's busy_timeout, which bounds the wait for its lock.
var busyWait = 10 * time.Second // a variable: tests shorten it

// writer is the writing connection, once the statements writes used are
// prepared on it, waited for at most busyWait (or ctx's deadline).
func (d *DB) writer(ctx context.Context) (*sql.Conn, error) {
	wait := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, busyWait)
		defer cancel()
	}
	busy := func(err error) error {
		if wait.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("%s is busy: another write has held it for %v (is a write waiting on another?)", d.path, busyWait)
		}
		return fmt.Errorf("begin: %w", wrapFull(err))
	}
	if err := d.prepareWaiting(wait); err != nil {
		return nil, busy(err)
	}
	c, err := d.db.Conn(wait)
	if err != nil {
		return nil, busy(err)
	}
	return c, nil
}

type txn struct {
	tx   *sql.Tx
	db   *DB
	ctx  context.Context
	read bool // a View's, on the readers' pool
	// stmts are the shared statements bound to this transaction, each
	// bound once: a received batch runs the same few statements
	// thousands of times. The transaction closes them when it ends.
	stmts map[string]*sql.Stmt
}

// stmt is query, prepared once per connection, bound to this transaction.
func (t *txn) stmt(query string) (*sql.Stmt, error) {
	if st := t.stmts[query]; st != nil {
		return st, nil
	}
	st, err := t.db.prepared(t.ctx, query, t.read)
	if err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	if st == nil { // for this transaction only, this once
		if st, err = t.tx.PrepareContext(t.ctx, query); err != nil {
			return nil, err
		}
		// It prepares: the next write prepares it on the pool.
		t.db.mu.Lock()
		if t.db.toPrepare != nil {
			t.db.toPrepare[query] = true
		}
		t.db.mu.Unlock()
	} else {
		st = t.tx.StmtContext(t.ctx, st)
	}
	t.stmts[query] = st
	return st, nil
}

// prepareWaiting prepares on the writing connection the statements writes
// used since the last time (see toPrepare): called before a write begins.
//
// Not under mu: preparing waits for the connection, and a write holding it
// may want mu (for a statement of its own).
func (d *DB) prepareWaiting(ctx context.Context) error {
	d.mu.Lock()
	queries := slices.Collect(maps.Keys(d.toPrepare))
	d.mu.Unlock()
	for _, query := range queries {
		st, err := d.db.PrepareContext(ctx, query)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// Left to the write that uses it to prepare, and report.
			d.mu.Lock()
			delete(d.toPrepare, query)
			d.mu.Unlock()
			continue
		}
		d.mu.Lock()
		if d.stmts == nil || d.stmts[query] != nil { // closed, or prepared meanwhile
			st.Close()
		} else {
			d.stmts[query] = st
		}
		delete(d.toPrepare, query)
		d.mu.Unlock()
	}
	return nil
}

func (t *txn) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.Exec(args...)
}

func (t *txn) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.Query(args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (t *txn) queryRow(query string, args ...any) interface{ Scan(...any) error } {
	st, err := t.stmt(query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRow(args...)
}

// ids runs a query of one id column.
func (t *txn) ids(query string, args ...any) ([]change.ID, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []change.ID
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		id, err := toID(b)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func joinIDs(ids []change.ID) []byte {
	b := make([]byte, 0, len(ids)*32)
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

func splitIDs(b []byte) ([]change.ID, error) {
	if len(b)%32 != 0 {
		return nil, errors.New("stored id list is damaged")
	}
	ids := make([]change.ID, len(b)/32)
	for i := range ids {
		copy(ids[i][:], b[i*32:])
	}
	return ids, nil
}

func toID(b []byte) (change.ID, error) {
	var id change.ID
	if len(b) != len(id) {
		return id, errors.New("stored id is damaged")
	}
	copy(id[:], b)
	return id, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
