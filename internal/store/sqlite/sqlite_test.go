package sqlite

import (
	"os"
	"path/filepath"
	"testing"

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
