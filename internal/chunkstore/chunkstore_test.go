package chunkstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// Has reads no bytes, but a file cut short to nothing (a crash, a full
// disk) is no chunk. Read checks the bytes: rot is moved aside, kept,
// after which the chunk is not stored here (Has false, Read not found);
// the good bytes put again store it and drop the copy moved aside.
func TestRotIsFoundAndMovedAside(t *testing.T) {
	s, _ := Open(t.TempDir())
	a, b := sealed(t, "hello")
	s.Put(a, b)
	if got, err := s.Read(a); err != nil || string(got) != string(b) {
		t.Fatalf("read of a good chunk: %v", err)
	}
	os.WriteFile(s.path(a), nil, 0o600)
	if s.Has(a) {
		t.Fatal("Has claims an empty file as a chunk")
	}
	rot := append([]byte(nil), b...)
	rot[3] ^= 1
	os.WriteFile(s.path(a), rot, 0o600)
	if !s.Has(a) {
		t.Fatal("Has reads bytes: it must stay cheap")
	}
	if _, err := s.Read(a); !errors.Is(err, ErrNotFound) || !errors.Is(err, files.ErrDamaged) {
		t.Fatalf("read of a rotted chunk: %v", err)
	}
	if s.Has(a) {
		t.Fatal("a chunk found rotted is still claimed")
	}
	if kept, err := os.ReadFile(filepath.Join(s.Dir(), DamagedFolder, a.String())); err != nil || string(kept) != string(rot) {
		t.Fatalf("the rotted bytes were not kept aside: %v", err)
	}
	if n, _, _ := s.Usage(); n != 0 {
		t.Fatalf("a chunk moved aside still counts: %d", n)
	}
	if added, err := s.Put(a, b); err != nil || !added || !s.Has(a) {
		t.Fatalf("put again: %v %v", added, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), DamagedFolder, a.String())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the copy moved aside outlives a good one: %v", err)
	}
}

// The count is exact whatever runs at once: the same chunk put by many
// goroutines counts once, a first count (a walk) racing Puts counts each
// chunk once, and removals racing each other subtract once.
func TestUsageExactUnderConcurrency(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	var chunks []files.Address
	var blobs [][]byte
	for i := range 16 {
		a, b := sealed(t, strings.Repeat("x", 1000+i))
		chunks, blobs = append(chunks, a), append(blobs, b)
	}
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range chunks {
				j := (i + g) % len(chunks)
				if _, err := s.Put(chunks[j], blobs[j]); err != nil {
					t.Error(err)
				}
				if g%8 == 0 {
					s.Usage()
				}
			}
		}()
	}
	wg.Wait()
	want := func() (int64, int64) {
		fresh, _ := Open(dir)
		n, b, _ := fresh.Usage()
		return n, b
	}
	wn, wb := want()
	if n, b, _ := s.Usage(); n != wn || b != wb || n != 16 {
		t.Fatalf("usage %d chunks %d bytes; the folder holds %d, %d", n, b, wn, wb)
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, a := range chunks[:8] {
				s.Remove(a)
			}
		}()
	}
	wg.Wait()
	wn, wb = want()
	if n, b, _ := s.Usage(); n != wn || b != wb || n != 8 {
		t.Fatalf("after removals: usage %d chunks %d bytes; the folder holds %d, %d", n, b, wn, wb)
	}
}

// PutWithin holds a limit exactly under concurrent writes: chunks sent
// by many writers at once count once (the limit is their sum, and every
// Put passes), and distinct chunks that would pass it together are
// admitted only as far as it allows.
func TestPutWithinExactUnderConcurrency(t *testing.T) {
	s, _ := Open(t.TempDir())
	var chunks []files.Address
	var blobs [][]byte
	var sum int64
	for i := range 4 {
		a, b := sealed(t, strings.Repeat("y", 1000+i))
		chunks, blobs, sum = append(chunks, a), append(blobs, b), sum+int64(len(b))
	}
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range chunks {
				j := (i + g) % len(chunks)
				if _, err := s.PutWithin(chunks[j], blobs[j], sum); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if _, b, _ := s.Usage(); b != sum {
		t.Fatalf("usage %d bytes after puts of %d distinct bytes", b, sum)
	}

	// 16 new chunks of one size, room for 5 of them.
	var fresh []files.Address
	var fblobs [][]byte
	for i := range 16 {
		a, b := sealed(t, strings.Repeat("z", 2000)+string(rune('a'+i)))
		fresh, fblobs = append(fresh, a), append(fblobs, b)
	}
	limit := sum + 5*int64(len(fblobs[0])) + int64(len(fblobs[0]))/2
	var mu sync.Mutex
	stored, refused := 0, 0
	for i := range fresh {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.PutWithin(fresh[i], fblobs[i], limit)
			var over *OverLimit
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				stored++
			case errors.As(err, &over) && over.Limit == limit && over.Used <= limit:
				refused++
			default:
				t.Errorf("put %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if _, b, _ := s.Usage(); stored != 5 || refused != 11 || b > limit {
		t.Fatalf("%d stored, %d refused, %d of %d bytes used; want 5 stored", stored, refused, b, limit)
	}
	// A chunk held already passes a limit reached.
	if _, err := s.PutWithin(chunks[0], blobs[0], 1); err != nil {
		t.Fatalf("a chunk held already, put again: %v", err)
	}
}

// List walks the folder in bounded steps, in address order; RemoveOlder
// removes by the store's clock, and a chunk put again since is young.
func TestListAndRemoveOlder(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, _ := OpenWith(t.TempDir(), Options{Now: func() time.Time { return now }})
	var all []files.Address
	blobs := map[files.Address][]byte{}
	for i := range 10 {
		a, b := sealed(t, strings.Repeat("y", i+1))
		s.Put(a, b)
		all, blobs[a] = append(all, a), b
	}
	slices.SortFunc(all, func(x, y files.Address) int { return bytes.Compare(x[:], y[:]) })
	var got []files.Address
	var after files.Address
	for steps := 0; ; steps++ {
		es, more, err := s.List(after, 3)
		if err != nil || steps > 5 {
			t.Fatalf("list: %v after %d steps", err, steps)
		}
		for _, e := range es {
			if !e.Modified.Equal(now) || e.Size != int64(len(blobs[e.Address])) {
				t.Fatalf("entry %+v", e)
			}
			got = append(got, e.Address)
			after = e.Address
		}
		if !more {
			break
		}
	}
	if !slices.Equal(got, all) {
		t.Fatalf("listed %d chunks, not the %d stored in order", len(got), len(all))
	}
	cutoff := now.Add(time.Hour)
	now = now.Add(2 * time.Hour)
	s.Put(all[0], blobs[all[0]]) // put again: young
	if removed, _, err := s.RemoveOlder(all[0], cutoff); err != nil || removed {
		t.Fatalf("a chunk put again was removed: %v", err)
	}
	if removed, size, err := s.RemoveOlder(all[1], cutoff); err != nil || !removed || size != int64(len(blobs[all[1]])) || s.Has(all[1]) {
		t.Fatalf("an old chunk: %v %d %v", removed, size, err)
	}
	if n, _, _ := s.Usage(); n != 9 {
		t.Fatalf("usage after RemoveOlder: %d", n)
	}
}
