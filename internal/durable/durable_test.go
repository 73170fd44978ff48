package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A new file is the owner's alone whatever the umask, holds the bytes, and
// is never written over.
func TestWriteNew(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteNew(p, []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if err := WriteNew(p, []byte("other")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("a second write over the file: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "sealed" {
		t.Fatalf("the file holds %q", b)
	}
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("sync of a folder not there: %v", err)
	}
}
