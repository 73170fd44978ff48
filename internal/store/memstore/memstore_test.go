package memstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
	"mycel/internal/store/storetest"
)

var ctx = context.Background()

func TestContract(t *testing.T) {
	storetest.Run(t, storetest.Impl{
		New: func(*testing.T) store.Store { return New() },
		OpenCopy: func(t *testing.T, path string) store.Store {
			s, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

// The tree against a map: random puts and deletes, each generation's
// tree kept and checked to be still what it was.
func TestTree(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var cur tree[int]
	want := map[string]int{}
	type version struct {
		t    tree[int]
		want map[string]int
	}
	var versions []version
	check := func(tr tree[int], want map[string]int) {
		t.Helper()
		var keys []string
		for k := range want {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var got []string
		tr.ascend("", func(k string, v int) bool {
			if want[k] != v {
				t.Fatalf("%q = %d, want %d", k, v, want[k])
			}
			got = append(got, k)
			return true
		})
		if !slices.Equal(got, keys) || tr.len() != len(keys) {
			t.Fatalf("keys %v (len %d), want %v", got, tr.len(), keys)
		}
		checkHeap(t, tr.root)
	}
	for gen := uint64(1); gen <= 60; gen++ {
		for range 50 {
			k := strconv.Itoa(r.IntN(300))
			if r.IntN(3) == 0 {
				cur.del(gen, k)
				delete(want, k)
			} else {
				v := r.Int()
				cur.put(gen, k, v)
				want[k] = v
			}
		}
		check(cur, want)
		versions = append(versions, version{cur, maps(want)})
	}
	for _, v := range versions { // no later write changed an earlier tree
		check(v.t, v.want)
	}
	// Seeks.
	k, _, ok := cur.first("15")
	var next string
	for key := range want {
		if key >= "15" && (next == "" || key < next) {
			next = key
		}
	}
	if !ok || k != next {
		t.Fatalf("first at or after 15 = %q, want %q", k, next)
	}
	if after("ab\xff\xff") != "ac" || after("\xff") != "" || after("a") != "b" {
		t.Fatal("after")
	}
}

func maps(m map[string]int) map[string]int {
	c := map[string]int{}
	for k, v := range m {
		c[k] = v
	}
	return c
}

func checkHeap(t *testing.T, n *node[int]) {
	t.Helper()
	if n == nil {
		return
	}
	for _, c := range []*node[int]{n.left, n.right} {
		if c != nil && c.prio > n.prio {
			t.Fatalf("heap order broken at %q", n.key)
		}
		checkHeap(t, c)
	}
	if n.left != nil && n.left.key >= n.key || n.right != nil && n.right.key <= n.key {
		t.Fatalf("key order broken at %q", n.key)
	}
}

// A View copies nothing, whatever the store's size; an Update writes a
// path, not the store.
func TestCostIndependentOfSize(t *testing.T) {
	s := New()
	objs := 200
	for batch := range 50 { // 10,000 changes
		err := s.Update(ctx, func(tx store.Tx) error {
			for i := range 200 {
				n := batch*200 + i
				o := change.ID{byte(n % objs), 0xaa}
				c := change.ID{byte(n), byte(n >> 8), byte(n >> 16), 0xcc}
				if _, _, err := tx.PutChange(store.ChangeMeta{ID: c, Object: o, Author: []byte("me"), Parents: []change.ID{o}}, make([]byte, 100)); err != nil {
					return err
				}
				if err := tx.SetHeads(o, []change.ID{c}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	probe := change.ID{7, 0, 0, 0xcc}
	viewAllocs := testing.AllocsPerRun(100, func() {
		s.View(ctx, func(tx store.Tx) error {
			ok, err := tx.HasChange(probe)
			if !ok || err != nil {
				t.Fatalf("has change: %v, %v", ok, err)
			}
			return nil
		})
	})
	n := 0
	updateAllocs := testing.AllocsPerRun(100, func() {
		n++
		s.Update(ctx, func(tx store.Tx) error {
			c := change.ID{byte(n), byte(n >> 8), 0xdd}
			_, _, err := tx.PutChange(store.ChangeMeta{ID: c, Object: c}, nil)
			return err
		})
	})
	// A copy of 10,000 records would be at least as many allocations.
	if viewAllocs > 10 || updateAllocs > 300 {
		t.Fatalf("%v allocations per view, %v per update of one change in a store of 10,000", viewAllocs, updateAllocs)
	}
	err := s.View(ctx, func(tx store.Tx) error {
		if n, err := tx.CountChanges(); n != 10_000+100+1 || err != nil { // AllocsPerRun runs once more
			return fmt.Errorf("count = %d, %v", n, err)
		}
		ms, err := tx.Changes(change.ID{3, 0xaa}, 0)
		if err != nil || len(ms) != 50 {
			return fmt.Errorf("changes of one object = %d, %v", len(ms), err)
		}
		objs, err := tx.ChangeObjects()
		if err != nil || len(objs) != 200+101 {
			return fmt.Errorf("objects with changes = %d, %v", len(objs), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Views running while Updates commit each see one committed state: the
// count a writer records with its change always equals the count of
// changes.
func TestViewsSeeCommittedStates(t *testing.T) {
	s := New()
	const writes = 300
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	done := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				err := s.View(ctx, func(tx store.Tx) error {
					v, _ := tx.Setting("n")
					n, _ := strconv.Atoi(string(v))
					count, _ := tx.CountChanges()
					last, _ := tx.LastSeq()
					if count != n || last != int64(n) {
						return fmt.Errorf("a view saw %d changes, last %d, with the count %d", count, last, n)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range writes {
		err := s.Update(ctx, func(tx store.Tx) error {
			c := change.ID{byte(i), byte(i >> 8), 1}
			if _, _, err := tx.PutChange(store.ChangeMeta{ID: c, Object: c}, nil); err != nil {
				return err
			}
			return tx.SetSetting("n", []byte(strconv.Itoa(i+1)))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A View cannot write, and a transaction cannot be used once it ended.
func TestMisuse(t *testing.T) {
	s := New()
	var kept store.Tx
	s.View(ctx, func(tx store.Tx) error {
		if err := tx.SetSetting("k", []byte("v")); !errors.Is(err, errReadOnly) {
			t.Fatalf("a write in a view: %v", err)
		}
		if _, _, err := tx.PutChange(store.ChangeMeta{}, nil); !errors.Is(err, errReadOnly) {
			t.Fatalf("a put in a view: %v", err)
		}
		return nil
	})
	s.Update(ctx, func(tx store.Tx) error { kept = tx; return nil })
	if err := kept.SetSetting("k", []byte("v")); !errors.Is(err, errTxDone) {
		t.Fatalf("a write after the update: %v", err)
	}
	if _, err := kept.HasChange(change.ID{}); !errors.Is(err, errTxDone) {
		t.Fatalf("a read after the update: %v", err)
	}
}

func TestLoadRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text")
	os.WriteFile(text, []byte("not a store"), 0o600)
	db, err := sqlite.Open(filepath.Join(dir, "mycel.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, p := range []string{text, filepath.Join(dir, "mycel.db"), filepath.Join(dir, "missing")} {
		if _, err := Load(p); err == nil {
			t.Fatalf("loaded %s", filepath.Base(p))
		}
	}
}

// A store read back goes on giving arrival numbers after the last given,
// even when the changes that had them are gone.
func TestLoadKeepsNumbering(t *testing.T) {
	s := New()
	var last int64
	s.Update(ctx, func(tx store.Tx) error {
		for i := range 5 {
			c := change.ID{byte(i + 1)}
			last, _, _ = tx.PutChange(store.ChangeMeta{ID: c, Object: c}, nil)
		}
		return tx.DeleteChange(change.ID{5})
	})
	path := filepath.Join(t.TempDir(), "copy")
	if err := s.CopyTo(ctx, path, store.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Update(ctx, func(tx store.Tx) error {
		seq, ok, err := tx.PutChange(store.ChangeMeta{ID: change.ID{9}, Object: change.ID{9}}, nil)
		if err != nil || !ok || seq <= last {
			t.Fatalf("put after loading: seq %d (last given %d), %v, %v", seq, last, ok, err)
		}
		return nil
	})
}
