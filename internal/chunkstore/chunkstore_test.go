package chunkstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mycel/internal/files"
)

func sealed(t *testing.T, text string) (files.Address, []byte) {
	t.Helper()
	ref, b := files.NewKeys([32]byte{1}).Seal(nil, []byte(text))
	return ref.Address, b
}

func TestPutGet(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := sealed(t, "hello")
	if added, err := s.Put(a, b); err != nil || !added {
		t.Fatalf("put: %v %v", added, err)
	}
	if added, err := s.Put(a, b); err != nil || added {
		t.Fatalf("put again: %v %v", added, err)
	}
	got, err := s.Get(a)
	if err != nil || string(got) != string(b) || !s.Has(a) {
		t.Fatalf("get: %v", err)
	}
	if fi, err := os.Stat(s.path(a)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("chunk file mode: %v %v", fi.Mode(), err)
	}
	// Wrong bytes under an address are refused and not stored.
	other, _ := sealed(t, "other")
	if _, err := s.Put(other, b); !errors.Is(err, files.ErrDamaged) || s.Has(other) {
		t.Fatalf("wrong bytes: %v", err)
	}
	if _, err := s.Get(other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get absent: %v", err)
	}
	n, size, err := s.Usage()
	if err != nil || n != 1 || size != int64(len(b)) {
		t.Fatalf("usage %d %d %v", n, size, err)
	}
	c, cb := sealed(t, "third")
	s.Put(c, cb)
	if n, size, _ := s.Usage(); n != 2 || size != int64(len(b)+len(cb)) {
		t.Fatalf("usage after a put: %d %d", n, size)
	}
	if err := s.Remove(c); err != nil || s.Has(c) {
		t.Fatalf("remove: %v", err)
	}
	if n, _, _ := s.Usage(); n != 1 {
		t.Fatalf("usage after remove: %d", n)
	}
}

// What a crash left half-written is removed at open, and never read as a
// chunk; a chunk whose bytes rotted is found by Check.
func TestCrashLeftoversAndDamage(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	a, b := sealed(t, "hello")
	s.Put(a, b)
	os.WriteFile(filepath.Join(dir, "tmp", "half"), b[:3], 0o600)
	os.WriteFile(filepath.Join(dir, "tmp", "under-way"), b[:3], 0o600) // another process's write
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(dir, "tmp", "half"), old, old)
	s, _ = Open(dir)
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 1 || ents[0].Name() != "under-way" {
		t.Fatalf("in tmp after open: %v (want the write under way only)", ents)
	}
	var bad []files.Address
	s.Check(func(a files.Address, err error) { bad = append(bad, a) })
	if len(bad) != 0 {
		t.Fatalf("healthy chunks reported: %v", bad)
	}
	// A chunk that cannot be read is no damage (removing it could lose the
	// only copy): the check fails instead.
	if os.Getuid() != 0 {
		os.Chmod(s.path(a), 0)
		if err := s.Check(func(a files.Address, err error) { bad = append(bad, a) }); err == nil || len(bad) != 0 {
			t.Fatalf("an unreadable chunk: %v, reported %v", err, bad)
		}
		os.Chmod(s.path(a), 0o600)
	}
	b[0] ^= 1
	os.WriteFile(s.path(a), b, 0o600)
	s.Check(func(a files.Address, err error) { bad = append(bad, a) })
	if len(bad) != 1 || bad[0] != a {
		t.Fatalf("damage not found: %v", bad)
	}
	// The good bytes put again replace the damage.
	b[0] ^= 1
	if _, err := s.Put(a, b); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(a); string(got) != string(b) {
		t.Fatal("a damaged chunk put again stays damaged")
	}
}
