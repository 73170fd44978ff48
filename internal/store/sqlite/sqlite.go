// Package sqlite implements store.Store on SQLite (modernc.org/sqlite: pure
// Go, WAL, FTS5) in one file per data folder.
package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
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
	db *sql.DB

	// Statements are prepared once and reused by every transaction: with
	// modernc's SQLite, parsing a statement costs as much as running it.
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

const schema = `
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	id       BLOB NOT NULL UNIQUE,
	object   BLOB NOT NULL,
	author   BLOB NOT NULL,
	lamport  INTEGER NOT NULL,
	time_ms  INTEGER NOT NULL,
	flags    INTEGER NOT NULL, -- 1 snapshot, 2 starts a new version
	parents  BLOB NOT NULL,
	raw      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_by_object ON changes(object, seq);
CREATE TABLE IF NOT EXISTS heads (object BLOB NOT NULL, change BLOB NOT NULL, PRIMARY KEY (object, change)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
	id         BLOB PRIMARY KEY,
	title      TEXT NOT NULL,
	type       TEXT NOT NULL,
	archived   INTEGER NOT NULL,
	created_ms INTEGER NOT NULL,
	updated_ms INTEGER NOT NULL,
	snippet    TEXT NOT NULL,
	changes    INTEGER NOT NULL,
	snap_id    BLOB,
	snap_seq   INTEGER NOT NULL,
	text_stale INTEGER NOT NULL DEFAULT 0,
	fts_rowid  INTEGER -- the object's row in objects_fts
);
CREATE VIRTUAL TABLE IF NOT EXISTS objects_fts USING fts5(id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS parked (
	id      BLOB PRIMARY KEY,
	object  BLOB NOT NULL,
	author  BLOB NOT NULL,
	lamport INTEGER NOT NULL,
	time_ms INTEGER NOT NULL,
	flags   INTEGER NOT NULL,
	parents BLOB NOT NULL,
	raw     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS parked_by_object ON parked(object);
CREATE TABLE IF NOT EXISTS members (seq INTEGER PRIMARY KEY AUTOINCREMENT, hash BLOB NOT NULL UNIQUE, raw BLOB NOT NULL);
`

// SchemaVersion is the store format this code writes (PRAGMA user_version).
const SchemaVersion = 2

// migrations[v] brings a store of version v to v+1.
var migrations = map[int]string{
	// Version 1 found an object's search row by its id, which FTS5 cannot
	// index: every update scanned the whole search table. Rows are now
	// found by rowid; the search table is rebuilt from the objects, whose
	// text is reindexed when the vault opens (text_stale).
	1: `ALTER TABLE objects ADD COLUMN fts_rowid INTEGER;
DELETE FROM objects_fts;
UPDATE objects SET text_stale = 1;`,
}

// Open opens (creating if needed) the store at path. The file is made
// readable by its owner only.
func Open(path string) (*DB, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	f.Close()
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)", "wal_autocheckpoint(16384)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	var ok string
	if err := db.QueryRow("PRAGMA quick_check").Scan(&ok); err != nil || ok != "ok" {
		db.Close()
		if err == nil {
			err = errors.New(ok)
		}
		return nil, fmt.Errorf("open store %s: integrity check failed: %v", path, err)
	}
	return &DB{db: db, stmts: map[string]*sql.Stmt{}}, nil
}

// migrate creates the schema in a new store or brings an older one up to
// SchemaVersion, in one transaction.
func migrate(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("the store has format %d, newer than this mycel understands (%d): upgrade mycel", v, SchemaVersion)
	case v == SchemaVersion:
		return nil
	case v == 0:
		if _, err := tx.Exec(schema); err != nil {
			return err
		}
	default:
		for ; v < SchemaVersion; v++ {
			if _, err := tx.Exec(migrations[v]); err != nil {
				return fmt.Errorf("upgrade the store from format %d: %w", v, err)
			}
		}
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the database.
func (d *DB) Close() error {
	d.mu.Lock()
	for _, st := range d.stmts {
		st.Close()
	}
	d.stmts = nil
	d.mu.Unlock()
	return d.db.Close()
}

// prepared returns the shared prepared statement for query.
func (d *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.stmts[query]; st != nil {
		return st, nil
	}
	if d.stmts == nil {
		return nil, errors.New("store is closed")
	}
	st, err := d.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	d.stmts[query] = st
	return st, nil
}

// Update implements store.Store.
func (d *DB) Update(ctx context.Context, f func(store.Tx) error) error {
	return d.run(ctx, false, f)
}

// View implements store.Store.
// CopyTo writes a consistent copy with VACUUM INTO: one read transaction,
// so writers go on meanwhile, and the copy is compact and self-contained
// (no WAL). The file is made readable by its owner only.
func (d *DB) CopyTo(ctx context.Context, path string, _ store.CopyOptions) error {
	// Made empty and private first: VACUUM INTO fills an empty file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy store: %w", err)
	}
	f.Close()
	if _, err := d.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("copy store: %w", err)
	}
	return nil
}

func (d *DB) View(ctx context.Context, f func(store.Tx) error) error {
	return d.run(ctx, true, f)
}

func (d *DB) run(ctx context.Context, readOnly bool, f func(store.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := f(&txn{tx: tx, db: d, ctx: ctx}); err != nil {
		tx.Rollback()
		return err
	}
	if readOnly {
		return tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

type txn struct {
	tx  *sql.Tx
	db  *DB
	ctx context.Context
}

// stmt is query, prepared once per connection, bound to this transaction.
func (t *txn) stmt(query string) (*sql.Stmt, error) {
	st, err := t.db.prepared(t.ctx, query)
	if err != nil {
		return nil, err
	}
	return t.tx.StmtContext(t.ctx, st), nil
}

func (t *txn) exec(query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Exec(args...)
}

func (t *txn) query(query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(query)
	if err != nil {
		return nil, err
	}
	// Closing a transaction's copy of a shared statement keeps the
	// prepared statement; rows stay readable until they are closed.
	defer st.Close()
	return st.Query(args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (t *txn) queryRow(query string, args ...any) interface{ Scan(...any) error } {
	st, err := t.stmt(query)
	if err != nil {
		return errRow{err}
	}
	defer st.Close()
	return st.QueryRow(args...)
}

func (t *txn) Setting(key string) ([]byte, error) {
	var v []byte
	err := t.queryRow(`SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

func (t *txn) SetSetting(key string, value []byte) error {
	_, err := t.exec(`INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
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

func flags(m store.ChangeMeta) int {
	return boolInt(m.Snapshot) | boolInt(m.NewVersion)<<1
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (t *txn) PutChange(m store.ChangeMeta, raw []byte) (int64, bool, error) {
	res, err := t.exec(`INSERT OR IGNORE INTO changes(id, object, author, lamport, time_ms, flags, parents, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID[:], m.Object[:], m.Author, int64(m.Lamport), m.Time.UnixMilli(), flags(m), joinIDs(m.Parents), raw)
	if err != nil {
		return 0, false, fmt.Errorf("put change: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, false, err
	}
	seq, err := res.LastInsertId()
	return seq, err == nil, err
}

func (t *txn) HasChange(id change.ID) (bool, error) {
	var one int
	err := t.queryRow(`SELECT 1 FROM changes WHERE id = ?`, id[:]).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// storedOfChunk is how many ids one StoredOf query asks about; shorter
// lists are padded, so that one prepared statement serves every query.
const storedOfChunk = 128

var storedOfQuery = `SELECT id FROM changes WHERE id IN (?` + strings.Repeat(`, ?`, storedOfChunk-1) + `)`

func (t *txn) StoredOf(ids []change.ID) (map[change.ID]bool, error) {
	out := map[change.ID]bool{}
	args := make([]any, storedOfChunk)
	for lo := 0; lo < len(ids); lo += storedOfChunk {
		chunk := ids[lo:min(lo+storedOfChunk, len(ids))]
		for i := range args {
			args[i] = chunk[min(i, len(chunk)-1)][:]
		}
		found, err := t.ids(storedOfQuery, args...)
		if err != nil {
			return nil, err
		}
		for _, id := range found {
			out[id] = true
		}
	}
	return out, nil
}

func (t *txn) RawChange(id change.ID) ([]byte, error) {
	var raw []byte
	err := t.queryRow(`SELECT raw FROM changes WHERE id = ?`, id[:]).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("change %s: %w", id.Short(), store.ErrNotFound)
	}
	return raw, err
}

func scanMetas(rows *sql.Rows, withRaw bool) ([]store.ChangeMeta, [][]byte, error) {
	defer rows.Close()
	var out []store.ChangeMeta
	var raws [][]byte
	for rows.Next() {
		var id, obj, author, parents, raw []byte
		var lamport, tms, seq int64
		var snap, size int
		dst := []any{&id, &obj, &author, &lamport, &tms, &snap, &parents, &size, &seq}
		if withRaw {
			dst = append(dst, &raw)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, nil, err
		}
		m := store.ChangeMeta{Author: author, Lamport: uint64(lamport), Time: time.UnixMilli(tms).UTC(),
			Snapshot: snap&1 != 0, NewVersion: snap&2 != 0, Size: size, Seq: seq}
		var err error
		if m.ID, err = toID(id); err != nil {
			return nil, nil, err
		}
		if m.Object, err = toID(obj); err != nil {
			return nil, nil, err
		}
		if m.Parents, err = splitIDs(parents); err != nil {
			return nil, nil, err
		}
		out = append(out, m)
		raws = append(raws, raw)
	}
	return out, raws, rows.Err()
}

func (t *txn) Changes(object change.ID, seq int64) ([]store.ChangeMeta, error) {
	rows, err := t.query(`SELECT id, object, author, lamport, time_ms, flags, parents, length(raw), seq FROM changes WHERE object = ? AND seq > ? ORDER BY seq`, object[:], seq)
	if err != nil {
		return nil, fmt.Errorf("list changes: %w", err)
	}
	m, _, err := scanMetas(rows, false)
	return m, err
}

func (t *txn) ChangesAfter(object change.ID, seq int64) ([]store.ChangeMeta, [][]byte, error) {
	rows, err := t.query(`SELECT id, object, author, lamport, time_ms, flags, parents, length(raw), seq, raw FROM changes WHERE object = ? AND seq > ? ORDER BY seq`, object[:], seq)
	if err != nil {
		return nil, nil, fmt.Errorf("list changes: %w", err)
	}
	return scanMetas(rows, true)
}

func (t *txn) Heads(object change.ID) ([]change.ID, error) {
	return t.ids(`SELECT change FROM heads WHERE object = ? ORDER BY change`, object[:])
}

func (t *txn) AllHeads() (map[change.ID][]change.ID, error) {
	rows, err := t.query(`SELECT object, change FROM heads ORDER BY object, change`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[change.ID][]change.ID{}
	for rows.Next() {
		var o, c []byte
		if err := rows.Scan(&o, &c); err != nil {
			return nil, err
		}
		obj, err := toID(o)
		if err != nil {
			return nil, err
		}
		id, err := toID(c)
		if err != nil {
			return nil, err
		}
		out[obj] = append(out[obj], id)
	}
	return out, rows.Err()
}

func (t *txn) CountChanges() (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM changes`).Scan(&n)
	return n, err
}

func (t *txn) LastSeq() (int64, error) {
	var last int64
	err := t.queryRow(`SELECT coalesce(max(seq), 0) FROM changes`).Scan(&last)
	return last, err
}

func (t *txn) ChangedBy(author []byte, seq int64) ([]change.ID, int64, error) {
	last, err := t.LastSeq()
	if err != nil {
		return nil, 0, err
	}
	if last <= seq {
		return nil, seq, nil
	}
	objs, err := t.ids(`SELECT DISTINCT object FROM changes WHERE seq > ? AND seq <= ? AND author = ?`, seq, last, author)
	return objs, last, err
}

func (t *txn) Meta(id change.ID) (store.ChangeMeta, error) {
	rows, err := t.query(`SELECT id, object, author, lamport, time_ms, flags, parents, length(raw), seq FROM changes WHERE id = ?`, id[:])
	if err != nil {
		return store.ChangeMeta{}, err
	}
	ms, _, err := scanMetas(rows, false)
	if err != nil {
		return store.ChangeMeta{}, err
	}
	if len(ms) == 0 {
		return store.ChangeMeta{}, fmt.Errorf("change %s: %w", id.Short(), store.ErrNotFound)
	}
	return ms[0], nil
}

func (t *txn) SetHeads(object change.ID, heads []change.ID) error {
	if _, err := t.exec(`DELETE FROM heads WHERE object = ?`, object[:]); err != nil {
		return err
	}
	for _, h := range heads {
		if _, err := t.exec(`INSERT INTO heads(object, change) VALUES (?, ?)`, object[:], h[:]); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) PutObject(o store.Object) error {
	var snap []byte
	if o.Snapshot != (change.ID{}) {
		snap = o.Snapshot[:]
	}
	var ftsRow sql.NullInt64
	err := t.queryRow(`INSERT INTO objects(id, title, type, archived, created_ms, updated_ms, snippet, changes, snap_id, snap_seq, text_stale) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET title = excluded.title, type = excluded.type, archived = excluded.archived,
		updated_ms = excluded.updated_ms, snippet = excluded.snippet, changes = excluded.changes,
		snap_id = excluded.snap_id, snap_seq = excluded.snap_seq, text_stale = excluded.text_stale
		RETURNING fts_rowid`,
		o.ID[:], o.Title, o.Type, boolInt(o.Archived), o.Created.UnixMilli(), o.Updated.UnixMilli(), o.Snippet, o.Changes, snap, o.SnapshotSeq, boolInt(o.TextStale)).Scan(&ftsRow)
	if err != nil {
		return fmt.Errorf("index object: %w", err)
	}
	if o.TextStale {
		return nil
	}
	if ftsRow.Valid {
		if _, err := t.exec(`DELETE FROM objects_fts WHERE rowid = ?`, ftsRow.Int64); err != nil {
			return fmt.Errorf("index object: %w", err)
		}
		if _, err := t.exec(`INSERT INTO objects_fts(rowid, id, title, body) VALUES (?, ?, ?, ?)`, ftsRow.Int64, o.ID[:], o.Title, o.Body); err != nil {
			return fmt.Errorf("index object: %w", err)
		}
		return nil
	}
	res, err := t.exec(`INSERT INTO objects_fts(id, title, body) VALUES (?, ?, ?)`, o.ID[:], o.Title, o.Body)
	if err != nil {
		return fmt.Errorf("index object: %w", err)
	}
	row, err := res.LastInsertId()
	if err == nil {
		_, err = t.exec(`UPDATE objects SET fts_rowid = ? WHERE id = ?`, row, o.ID[:])
	}
	if err != nil {
		return fmt.Errorf("index object: %w", err)
	}
	return nil
}

const objectCols = `id, title, type, archived, created_ms, updated_ms, snippet, changes, snap_id, snap_seq`

func scanObject(sc interface{ Scan(...any) error }, extra ...any) (store.Object, error) {
	var o store.Object
	var id, snap []byte
	var arch int
	var cms, ums int64
	if err := sc.Scan(append([]any{&id, &o.Title, &o.Type, &arch, &cms, &ums, &o.Snippet, &o.Changes, &snap, &o.SnapshotSeq}, extra...)...); err != nil {
		return o, err
	}
	var err error
	if snap != nil {
		if o.Snapshot, err = toID(snap); err != nil {
			return o, err
		}
	}
	o.ID, err = toID(id)
	o.Archived = arch != 0
	o.Created, o.Updated = time.UnixMilli(cms).UTC(), time.UnixMilli(ums).UTC()
	return o, err
}

func (t *txn) Object(id change.ID) (store.Object, error) {
	o, err := scanObject(t.queryRow(`SELECT `+objectCols+` FROM objects WHERE id = ?`, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("object %s: %w", id.Short(), store.ErrNotFound)
	}
	return o, err
}

func (t *txn) Objects() ([]store.Object, error) {
	rows, err := t.query(`SELECT ` + objectCols + ` FROM objects ORDER BY updated_ms DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Object
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// ftsQuery turns what a person typed into an FTS5 query that cannot be a
// syntax error: every word quoted, all required, the last one as a prefix.
func ftsQuery(q string) string {
	words := strings.Fields(q)
	for i, w := range words {
		words[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	if len(words) > 0 {
		words[len(words)-1] += "*"
	}
	return strings.Join(words, " ")
}

func (t *txn) Search(query string, limit int) ([]store.Hit, error) {
	fq := ftsQuery(query)
	if fq == "" {
		return nil, nil
	}
	rows, err := t.query(`SELECT o.id, o.title, o.type, o.archived, o.created_ms, o.updated_ms, o.snippet, o.changes, o.snap_id, o.snap_seq,
		snippet(objects_fts, 2, '[', ']', '…', 12)
		FROM objects_fts f JOIN objects o ON o.id = f.id WHERE objects_fts MATCH ? ORDER BY rank LIMIT ?`, fq, limit)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var out []store.Hit
	for rows.Next() {
		var h store.Hit
		o, err := scanObject(rows, &h.Match)
		if err != nil {
			return nil, err
		}
		h.Object = o
		out = append(out, h)
	}
	return out, rows.Err()
}

func (t *txn) StaleText() ([]change.ID, error) {
	return t.ids(`SELECT id FROM objects WHERE text_stale != 0 ORDER BY id`)
}

func (t *txn) ObjectsWithPrefix(prefix string) ([]change.ID, error) {
	return t.ids(`SELECT id FROM objects WHERE lower(hex(id)) LIKE ? ORDER BY id`, strings.ToLower(prefix)+"%")
}

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

func (t *txn) Park(m store.ChangeMeta, raw []byte) error {
	_, err := t.exec(`INSERT OR IGNORE INTO parked(id, object, author, lamport, time_ms, flags, parents, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID[:], m.Object[:], m.Author, int64(m.Lamport), m.Time.UnixMilli(), flags(m), joinIDs(m.Parents), raw)
	return err
}

func (t *txn) Parked(object change.ID) ([]store.ChangeMeta, [][]byte, error) {
	rows, err := t.query(`SELECT id, object, author, lamport, time_ms, flags, parents, length(raw), 0, raw FROM parked WHERE object = ?`, object[:])
	if err != nil {
		return nil, nil, err
	}
	return scanMetas(rows, true)
}

func (t *txn) IndexedText(id change.ID) (title, body string, ok bool, err error) {
	var stale int
	var row sql.NullInt64
	err = t.queryRow(`SELECT text_stale, fts_rowid FROM objects WHERE id = ?`, id[:]).Scan(&stale, &row)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (stale != 0 || !row.Valid) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	err = t.queryRow(`SELECT title, body FROM objects_fts WHERE rowid = ?`, row.Int64).Scan(&title, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	return title, body, err == nil, err
}

func (t *txn) ChangeObjects() ([]change.ID, error) {
	return t.ids(`SELECT DISTINCT object FROM changes`)
}

func (t *txn) ParkedObjects() ([]change.ID, error) {
	return t.ids(`SELECT DISTINCT object FROM parked`)
}

func (t *txn) Unpark(id change.ID) error {
	_, err := t.exec(`DELETE FROM parked WHERE id = ?`, id[:])
	return err
}

func (t *txn) MemberRecords() ([][]byte, error) {
	rows, err := t.query(`SELECT raw FROM members ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func (t *txn) PutMemberRecord(raw []byte) error {
	h := sha256.Sum256(raw)
	_, err := t.exec(`INSERT OR IGNORE INTO members(hash, raw) VALUES (?, ?)`, h[:], raw)
	return err
}

// The methods below are placeholders until store format 3 lands.

var errTODO = errors.New("not implemented yet")

// IntegrityCheck implements store.Store.
func (d *DB) IntegrityCheck(ctx context.Context) error { return nil }

func (t *txn) SetInert(id change.ID, inert bool) error              { return errTODO }
func (t *txn) DeleteChange(id change.ID) error                      { return errTODO }
func (t *txn) PutSnapshot(object change.ID, s store.Snapshot) error { return errTODO }
func (t *txn) Snapshot(object change.ID) (store.Snapshot, error) {
	return store.Snapshot{}, store.ErrNotFound
}
func (t *txn) DeleteSnapshot(object change.ID) error                       { return nil }
func (t *txn) PutHeld(peer string, object change.ID, heads [32]byte) error { return nil }
func (t *txn) Held(peer string) (map[change.ID][32]byte, error)            { return nil, nil }
func (t *txn) Quarantine(d store.Damaged) error                            { return errTODO }
func (t *txn) Damaged(object change.ID) ([]store.Damaged, error)           { return nil, nil }
func (t *txn) DamagedObjects() ([]change.ID, error)                        { return nil, nil }
func (t *txn) IsDamaged(id change.ID) (bool, error)                        { return false, nil }
func (t *txn) ClearDamaged(id change.ID) error                             { return nil }
