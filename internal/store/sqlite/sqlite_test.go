package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/storetest"
)

func TestContract(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.Run(t, db)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	os.WriteFile(path, []byte("this is not a database, it is a text file of some length........"), 0o600)
	if _, err := Open(path); err == nil {
		t.Fatal("opened a file that is not a database")
	}
}

// A store of format 1 (search rows found by object id) opens as the current
// format: its search rows are dropped and its objects marked for
// reindexing, after which search finds them again.
func TestOpenUpgradesFormat1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id := change.ID{1}
	o := store.Object{ID: id, Title: "Old", Type: "page", Created: time.Now(), Updated: time.Now(), Body: "ancient words"}
	if err := db.Update(context.Background(), func(tx store.Tx) error { return tx.PutObject(o) }); err != nil {
		t.Fatal(err)
	}
	// Make it a format-1 store again.
	if _, err := db.db.Exec(`ALTER TABLE objects DROP COLUMN fts_rowid; PRAGMA user_version = 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	if db, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	db.db.QueryRow(`PRAGMA user_version`).Scan(&v)
	if v != SchemaVersion {
		t.Fatalf("format %d after opening, want %d", v, SchemaVersion)
	}
	err = db.Update(context.Background(), func(tx store.Tx) error {
		stale, err := tx.StaleText()
		if err != nil || len(stale) != 1 || stale[0] != id {
			return fmt.Errorf("stale text %v, %v; want the object", stale, err)
		}
		if hits, _ := tx.Search("ancient", 10); len(hits) != 0 {
			return fmt.Errorf("search found %d rows of the old format", len(hits))
		}
		if err := tx.PutObject(o); err != nil {
			return err
		}
		if err := tx.PutObject(o); err != nil { // a second time: replaces its row
			return err
		}
		if hits, _ := tx.Search("ancient", 10); len(hits) != 1 || hits[0].ID != id {
			return fmt.Errorf("search after reindexing: %v", hits)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesNewerFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion+1))
	db.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "upgrade mycel") {
		t.Fatalf("opening a newer store: %v", err)
	}
}
