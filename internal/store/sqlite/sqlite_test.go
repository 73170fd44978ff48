package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/storetest"
)

func open(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Impl{
		New: func(t *testing.T) store.Store {
			path := filepath.Join(t.TempDir(), "mycel.db")
			db := open(t, path)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("store file mode %v, want 0600", fi.Mode().Perm())
			}
			return db
		},
		OpenCopy: func(t *testing.T, path string) store.Store { return open(t, path) },
	})
}

// The contract holds too for a device's store, which writes through one
// connection and reads through others (Options.CacheMiB).
func TestContractOneWriter(t *testing.T) {
	storetest.Run(t, storetest.Impl{
		New: func(t *testing.T) store.Store {
			db, err := OpenWith(filepath.Join(t.TempDir(), "mycel.db"), Options{CacheMiB: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
		OpenCopy: func(t *testing.T, path string) store.Store { return open(t, path) },
	})
}

// With one writing connection, a statement that fails to prepare fails
// its write only, and a write that waits on another write (nested in it)
// fails after busyWait, as SQLite's busy handler made it, not hangs.
func TestOneWriterFailsOnlyWhatFails(t *testing.T) {
	db, err := OpenWith(filepath.Join(t.TempDir(), "mycel.db"), Options{CacheMiB: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.Update(ctx, func(tx store.Tx) error {
		_, err := tx.(*txn).exec(`INSERT INTO no_such_table VALUES (1)`)
		return err
	}); err == nil {
		t.Fatal("a write into a table that does not exist worked")
	}
	for range 2 {
		if err := db.Update(ctx, func(tx store.Tx) error {
			_, err := tx.CountChanges()
			return err
		}); err != nil {
			t.Fatalf("a later write fails with the bad one's error: %v", err)
		}
	}
	was := busyWait
	busyWait = 200 * time.Millisecond
	defer func() { busyWait = was }()
	start := time.Now()
	err = db.Update(ctx, func(tx store.Tx) error {
		return db.Update(ctx, func(store.Tx) error { return nil })
	})
	if err == nil || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("a write nested in a write: %v, want the store busy", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a write nested in a write failed after %v", took)
	}
}

func TestOpenRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	os.WriteFile(path, []byte("this is not a database, it is a text file of some length........"), 0o600)
	if _, err := Open(path); err == nil {
		t.Fatal("opened a file that is not a database")
	}
}

func TestOpenRefusesNewerFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	db := open(t, path)
	db.db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion+1))
	db.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "upgrade mycel") {
		t.Fatalf("opening a newer store: %v", err)
	}
}

// A panic in a transaction ends it: the next Update does not wait out
// busy_timeout (10 s) for a write lock nobody will release, and no
// connection stays taken.
func TestPanicReleasesTheStore(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "mycel.db"))
	defer db.Close()
	for _, run := range []func(context.Context, func(store.Tx) error) error{db.Update, db.View} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("the panic did not go on up")
				}
			}()
			run(context.Background(), func(tx store.Tx) error {
				if err := tx.SetSetting("k", []byte("v")); err != nil {
					t.Fatal(err)
				}
				panic("boom")
			})
		}()
		if n := db.db.Stats().InUse; n != 0 {
			t.Fatalf("%d connections still in use after a panic", n)
		}
		// Well under busy_timeout: a kept lock fails this, not a slow disk.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := db.Update(ctx, func(tx store.Tx) error { return tx.SetSetting("k", []byte("after")) })
		cancel()
		if err != nil {
			t.Fatalf("update after a panic: %v", err)
		}
	}
}

// Open no longer runs quick_check; IntegrityCheck does, and finds a
// damaged b-tree that Open does not read.
func TestIntegrityCheckFindsDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	db := open(t, path)
	err := db.Update(context.Background(), func(tx store.Tx) error {
		for i := range 500 {
			c := change.ID{byte(i), byte(i >> 8)}
			if _, _, err := tx.PutChange(store.ChangeMeta{ID: c, Object: c}, make([]byte, 200)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.IntegrityCheck(context.Background()); err != nil {
		t.Fatalf("integrity check of a sound store: %v", err)
	}
	var root, pageSize int64
	db.db.QueryRow(`SELECT rootpage FROM sqlite_master WHERE name = 'changes'`).Scan(&root)
	db.db.QueryRow(`PRAGMA page_size`).Scan(&pageSize)
	db.Close()
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("the WAL is still there after closing: the damage would not reach the table")
	}

	// The root page of the changes table, which has many rows, becomes
	// something else than a b-tree page.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0x42, 0x42, 0x42, 0x42}, (root-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	f.Close()

	db = open(t, path) // opens: Open does not walk the tables
	defer db.Close()
	if err := db.IntegrityCheck(context.Background()); err == nil {
		t.Fatal("integrity check missed a damaged page")
	}
}

// OpenWith's cache is every connection's, not only the first one's.
func TestOpenWithCache(t *testing.T) {
	db, err := OpenWith(filepath.Join(t.TempDir(), "mycel.db"), Options{CacheMiB: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	cache := func(pool *sql.DB) int {
		t.Helper()
		var kib int
		if err := pool.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&kib); err != nil {
			t.Fatal(err)
		}
		return kib
	}
	// The writer has the cache; the readers SQLite's default, however
	// many there are.
	if kib := cache(db.db); kib != -32<<10 {
		t.Fatalf("the writer's cache_size %d, want %d", kib, -32<<10)
	}
	var conns []*sql.Conn
	for range 3 {
		c, err := db.rd.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for _, c := range conns {
		var kib int
		if err := c.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&kib); err != nil || kib != -2000 {
			t.Fatalf("a reader's cache_size %d (%v), want SQLite's default -2000", kib, err)
		}
	}
	// A read while a write is under way, and writes one after another.
	id := change.ID{1}
	if err := db.Update(ctx, func(tx store.Tx) error {
		if _, _, err := tx.PutChange(store.ChangeMeta{ID: id, Object: id, Lamport: 1, Time: time.Unix(1, 0), Author: []byte("a")}, []byte("x")); err != nil {
			return err
		}
		return db.View(ctx, func(r store.Tx) error {
			n, err := r.CountChanges()
			if err == nil && n != 0 {
				err = fmt.Errorf("a read sees %d changes of a write not committed", n)
			}
			return err
		})
	}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			errs <- db.Update(ctx, func(tx store.Tx) error {
				c := change.ID{2, byte(i)}
				_, _, err := tx.PutChange(store.ChangeMeta{ID: c, Object: c, Lamport: 1, Time: time.Unix(1, 0), Author: []byte("a")}, []byte("y"))
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.View(ctx, func(r store.Tx) error {
		n, err := r.CountChanges()
		if err == nil && n != 9 {
			err = fmt.Errorf("%d changes stored, want 9", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
