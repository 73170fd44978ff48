package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/reconcile"
	"mycel/internal/store"
	"mycel/internal/store/memstore"
)

// countingStore counts the changes a store gives out with their bytes
// (raws), and without (metas).
type countingStore struct {
	store.Store
	raws, metas int
	byObject    map[change.ID]int // changes read by ChangeRange, when not nil
}

type countingTx struct {
	store.Tx
	s *countingStore
}

func (s *countingStore) View(ctx context.Context, f func(store.Tx) error) error {
	return s.Store.View(ctx, func(tx store.Tx) error { return f(countingTx{tx, s}) })
}

func (t countingTx) RawChange(id change.ID) ([]byte, error) {
	t.s.raws++
	return t.Tx.RawChange(id)
}

func (t countingTx) ChangesAfter(obj change.ID, seq int64) ([]store.ChangeMeta, [][]byte, error) {
	ms, raws, err := t.Tx.ChangesAfter(obj, seq)
	t.s.raws += len(raws)
	return ms, raws, err
}

func (t countingTx) Changes(obj change.ID, seq int64) ([]store.ChangeMeta, error) {
	ms, err := t.Tx.Changes(obj, seq)
	t.s.metas += len(ms)
	return ms, err
}

func (t countingTx) ChangeRange(obj change.ID, seq int64, limit int, withRaw bool) ([]store.ChangeMeta, [][]byte, error) {
	ms, raws, err := t.Tx.ChangeRange(obj, seq, limit, withRaw)
	t.s.metas += len(ms) - len(raws)
	t.s.raws += len(raws)
	if t.s.byObject != nil {
		t.s.byObject[obj] += len(ms)
	}
	return ms, raws, err
}

// Sending an object of 200,000 changes to a peer that has none reads each
// change's bytes once and its graph once, however many windows it takes
// (a read per window to the end of the object made this quadratic), and
// the changes reach the peer in order.
func TestHugeObjectReadsEachChangeOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 changes, single-threaded: nothing for -short or the race detector")
	}
	const n = 200_000
	ctx := context.Background()
	src := &countingStore{Store: memstore.New()}
	id := func(i int) change.ID {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		return sha256.Sum256(b[:])
	}
	obj := id(0)
	raw := make([]byte, 300) // a typical change's size: 200,000 make 60 MB
	if err := src.Update(ctx, func(tx store.Tx) error {
		for i := range n {
			m := store.ChangeMeta{ID: id(i), Object: obj, Lamport: uint64(i + 1), Time: time.Unix(1, 0), Author: []byte("a")}
			if i > 0 {
				m.Parents = []change.ID{id(i - 1)}
			}
			if _, _, err := tx.PutChange(m, raw); err != nil {
				return err
			}
		}
		return tx.SetHeads(obj, []change.ID{id(n - 1)})
	}); err != nil {
		t.Fatal(err)
	}
	dst := memstore.New()
	salt := func() (s [reconcile.SaltSize]byte) { return s }
	a := objsync.New("a", newStoreView(src), objsync.DefaultConfig, salt)
	b := objsync.New("b", newStoreView(dst), objsync.DefaultConfig, salt)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Connected("b"))
	must(b.Connected("a"))
	var toA, toB []objsync.Message
	next := 0 // the next change b expects, in order
	take := func(m *objsync.Machine, out *[]objsync.Message, receive bool) {
		for m.HasReady() {
			rd := m.Ready()
			m.Advance()
			if receive && len(rd.Received) > 0 {
				must(dst.Update(ctx, func(tx store.Tx) error {
					for _, in := range rd.Received {
						if in.Change.ID != id(next) {
							t.Fatalf("change %d came where %d was due", next, next)
						}
						m := store.ChangeMeta{ID: in.Change.ID, Object: obj, Time: time.Unix(1, 0), Author: []byte("a")}
						if next > 0 {
							m.Parents = []change.ID{id(next - 1)}
						}
						if _, _, err := tx.PutChange(m, in.Change.Raw); err != nil {
							return err
						}
						next++
					}
					return tx.SetHeads(obj, []change.ID{id(next - 1)})
				}))
				outs := make([]objsync.Outcome, len(rd.Received))
				must(m.Applied("a", obj, outs))
			}
			for _, e := range rd.Messages {
				*out = append(*out, e.Msg)
			}
		}
	}
	for round := 0; ; round++ {
		if round > 100_000 {
			t.Fatal("no end")
		}
		take(a, &toB, false)
		take(b, &toA, true)
		if len(toA)+len(toB) == 0 {
			break
		}
		if len(toB) > 0 {
			msg := toB[0]
			toB = toB[1:]
			must(b.Step("a", msg))
			take(b, &toA, true)
		}
		if len(toA) > 0 {
			msg := toA[0]
			toA = toA[1:]
			must(a.Step("b", msg))
		}
	}
	if next != n {
		t.Fatalf("b holds %d of %d changes", next, n)
	}
	if src.raws != n || src.metas > n {
		t.Fatalf("sending %d changes read %d changes' bytes and %d rows of the graph; want each once", n, src.raws, src.metas)
	}
}

// A change removed from the store and stored again (a damaged one moved
// aside, then brought back by sync) comes back with a new arrival number:
// the view reads the graph again rather than keep positions that no
// longer match the arrival numbers, and the change after it is still
// read (it was not: that object then never synced again).
func TestGraphAfterAChangeIsStoredAgain(t *testing.T) {
	ctx := context.Background()
	db := memstore.New()
	id := func(i byte) change.ID { return sha256.Sum256([]byte{i}) }
	obj := id(0)
	put := func(i byte) {
		t.Helper()
		m := store.ChangeMeta{ID: id(i), Object: obj, Time: time.Unix(1, 0), Author: []byte("a")}
		if i > 0 {
			m.Parents = []change.ID{id(i - 1)}
		}
		if err := db.Update(ctx, func(tx store.Tx) error {
			_, _, err := tx.PutChange(m, []byte{i, i, i})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	v := newStoreView(db)
	put(0)
	put(1)
	if _, err := v.Graph(obj); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.DeleteChange(id(1)) }); err != nil {
		t.Fatal(err)
	}
	put(1)
	put(2)
	g, err := v.Graph(obj)
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 3 {
		t.Fatalf("graph of %d changes, want 3", g.Len())
	}
	raws, err := v.Raws(obj, []objsync.ID{id(2)})
	if err != nil || raws[0] == nil {
		t.Fatalf("the change after the one stored again: %v, %v", raws, err)
	}
}

// The graphs kept are those used last: an object in flight, asked for at
// every acknowledgement, is read once however many others are read beside
// it, and what is kept stays within the budget.
func TestGraphsKeptAreTheRecentlyUsed(t *testing.T) {
	id := chainID
	sizes := map[int]int{0: 300, 1: 10} // 0 big, 1 small: both in use
	for o := 2; o < 202; o++ {
		sizes[o] = 10 // each read once
	}
	src := chains(t, sizes)
	v := newStoreView(src)
	v.keepSet, v.budget, v.recent = true, 100<<10, 4
	graph := func(o int) {
		g, err := v.Graph(id(o, 0))
		if err != nil || g.Len() != sizes[o] {
			t.Fatalf("graph of %d: %d changes, %v", o, g.Len(), err)
		}
	}
	for o := 2; o < 202; o++ {
		v.within(func() {
			graph(o)
			graph(0)
			graph(1)
		})
		if v.bytes > v.budget {
			t.Fatalf("%d bytes of graphs kept, more than %d", v.bytes, v.budget)
		}
	}
	for _, o := range []int{0, 1} {
		if got := src.byObject[id(o, 0)]; got != sizes[o] {
			t.Errorf("object %d: %d changes read for its %d", o, got, sizes[o])
		}
	}
}

// A graph bigger than the whole budget, used at every step with another
// object's graph read beside it (a huge object sent window by window while
// small ones are acknowledged), is read once: the graphs used last stay.
func TestHugeGraphStaysBesideOthers(t *testing.T) {
	id := chainID
	sizes := map[int]int{0: 1500}
	for o := 1; o <= 50; o++ {
		sizes[o] = 20
	}
	src := chains(t, sizes)
	v := newStoreView(src)
	v.keepSet, v.budget, v.recent = true, 20<<10, 4 // the big graph alone takes ~100 KiB
	for o := 1; o <= 50; o++ {
		v.within(func() {
			for _, x := range []int{0, o} {
				if g, err := v.Graph(id(x, 0)); err != nil || g.Len() != sizes[x] {
					t.Fatalf("graph of %d: %d changes, %v", x, g.Len(), err)
				}
			}
		})
	}
	if got := src.byObject[id(0, 0)]; got != sizes[0] {
		t.Errorf("the big graph: %d changes read for its %d", got, sizes[0])
	}
}

// chainID is change i of object o in chains' stores (object o's id is
// its change 0's).
func chainID(o, i int) change.ID {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], uint64(o))
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	return sha256.Sum256(b[:])
}

// chains is a counting store in memory holding, for each object o of
// sizes, a chain of sizes[o] changes (ids by chainID).
func chains(t *testing.T, sizes map[int]int) *countingStore {
	t.Helper()
	src := &countingStore{Store: memstore.New(), byObject: map[change.ID]int{}}
	id := chainID
	if err := src.Update(context.Background(), func(tx store.Tx) error {
		for o, n := range sizes {
			for i := range n {
				m := store.ChangeMeta{ID: id(o, i), Object: id(o, 0), Lamport: uint64(i + 1), Time: time.Unix(1, 0), Author: []byte("a")}
				if i > 0 {
					m.Parents = []change.ID{id(o, i-1)}
				}
				if _, _, err := tx.PutChange(m, make([]byte, 10)); err != nil {
					return err
				}
			}
			if err := tx.SetHeads(id(o, 0), []change.ID{id(o, n-1)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return src
}

// Graphs kept while small and read again as their changes arrive (a
// device's, in a first sync) count what they take now: the budget holds
// as they grow, not only when a new graph is kept.
func TestGrowingGraphsStayWithinTheBudget(t *testing.T) {
	const objects, grown = 200, 40
	sizes := map[int]int{}
	for o := range objects {
		sizes[o] = 1
	}
	src := chains(t, sizes)
	v := newStoreView(src)
	v.budget, v.recent = 64<<10, 4
	for o := range objects {
		if _, err := v.Graph(chainID(o, 0)); err != nil {
			t.Fatal(err)
		}
	}
	// Each object's changes arrive, and its graph is read again.
	for o := range objects {
		if err := src.Update(context.Background(), func(tx store.Tx) error {
			for i := 1; i < grown; i++ {
				m := store.ChangeMeta{ID: chainID(o, i), Object: chainID(o, 0), Lamport: uint64(i + 1), Time: time.Unix(1, 0),
					Author: []byte("a"), Parents: []change.ID{chainID(o, i-1)}}
				if _, _, err := tx.PutChange(m, make([]byte, 10)); err != nil {
					return err
				}
			}
			return tx.SetHeads(chainID(o, 0), []change.ID{chainID(o, grown-1)})
		}); err != nil {
			t.Fatal(err)
		}
		g, err := v.Graph(chainID(o, 0))
		if err != nil || g.Len() != grown {
			t.Fatalf("graph of %d: %d changes, %v", o, g.Len(), err)
		}
		if v.bytes > v.budget {
			t.Fatalf("after %d objects grew: %d bytes of graphs kept, more than %d", o+1, v.bytes, v.budget)
		}
	}
}
