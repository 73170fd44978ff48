package syncer

import (
	"errors"
	"testing"

	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/store"
)

// The objects kept off sync are left out of the set reconciliation
// compares, read again only when their list changes, and given back to
// be offered; while the list cannot be read, everything is withheld.
func TestSyncOffObjectsLeaveTheSet(t *testing.T) {
	src := chains(t, map[int]int{1: 2, 2: 3, 3: 1})
	obj := func(o int) change.ID { return chainID(o, 0) }
	rev, off := uint64(1), map[change.ID]bool{obj(2): true}
	var failList error
	lists := 0
	v := newStoreView(src)
	v.syncOff = &SyncOff{
		Rev: func(store.Tx) (uint64, error) { return rev, nil },
		List: func(store.Tx) (map[change.ID]bool, error) {
			lists++
			return off, failList
		},
	}
	if !v.Withheld(obj(1)) {
		t.Fatal("before the list was read, an object is not withheld")
	}
	inSet := func() map[objsync.ID]bool {
		t.Helper()
		out := map[objsync.ID]bool{}
		v.within(func() {
			set, err := v.ObjectSet()
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range set.Items() {
				out[it.ID] = true
			}
		})
		return out
	}
	if got := inSet(); len(got) != 2 || got[obj(2)] || !v.Withheld(obj(2)) || v.Withheld(obj(1)) {
		t.Fatalf("set %v with object 2 kept off", got)
	}
	inSet()
	if lists != 1 {
		t.Fatalf("the list was read %d times for one revision", lists)
	}
	rev, off = 2, map[change.ID]bool{}
	if got := inSet(); len(got) != 3 || len(v.released) != 1 || v.released[0] != obj(2) {
		t.Fatalf("given back: set %v, released %v", got, v.released)
	}
	rev, failList = 3, errors.New("disk I/O error")
	if got := inSet(); len(got) != 0 || !v.Withheld(obj(1)) {
		t.Fatalf("with the list unreadable, the set holds %v", got)
	}
	failList = nil
	if got := inSet(); len(got) != 3 {
		t.Fatalf("read again: set %v", got)
	}
}
