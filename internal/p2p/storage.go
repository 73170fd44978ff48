package p2p

import (
	"context"

	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/reconcile"
	"mycel/internal/store"
)

// storeView shows a store.Store to the sync machine. A read that fails
// reads as absent: the machine then asks again later, and the error is
// the store's to report.
//
// The machine walks histories asking whether a change is here and what its
// parents are, again and again; a stored change never changes, so the view
// remembers the answers (only "present": an absent change may arrive).
type storeView struct {
	db      store.Store
	parents map[objsync.ID][]objsync.ID // stored changes seen so far
}

var _ objsync.Storage = (*storeView)(nil)

// maxRemembered bounds the parents the view keeps (about 100 MB at most).
const maxRemembered = 1 << 20

func newStoreView(db store.Store) *storeView {
	return &storeView{db: db, parents: map[objsync.ID][]objsync.ID{}}
}

func (s *storeView) view(f func(store.Tx) error) { _ = s.db.View(context.Background(), f) }

func (s *storeView) Objects() []reconcile.Item {
	var out []reconcile.Item
	s.view(func(tx store.Tx) error {
		all, err := tx.AllHeads()
		for obj, hs := range all {
			out = append(out, reconcile.Item{ID: obj, Value: objsync.HeadsHash(ids(hs))})
		}
		return err
	})
	return out
}

func (s *storeView) Heads(obj objsync.ID) []objsync.ID {
	var out []objsync.ID
	s.view(func(tx store.Tx) error {
		hs, err := tx.Heads(change.ID(obj))
		out = ids(hs)
		return err
	})
	return out
}

func (s *storeView) Has(id objsync.ID) bool {
	_, ok := s.lookup(id)
	return ok
}

func (s *storeView) Parents(id objsync.ID) []objsync.ID {
	ps, _ := s.lookup(id)
	return ps
}

// lookup returns a stored change's parents, from memory when it can.
// (Only the sync loop goroutine calls it.)
func (s *storeView) lookup(id objsync.ID) ([]objsync.ID, bool) {
	if ps, ok := s.parents[id]; ok {
		return ps, true
	}
	var ps []objsync.ID
	found := false
	s.view(func(tx store.Tx) error {
		m, err := tx.Meta(change.ID(id))
		if err != nil {
			return err
		}
		ps, found = ids(m.Parents), true
		return nil
	})
	if found {
		if len(s.parents) >= maxRemembered {
			clear(s.parents)
		}
		s.parents[id] = ps
	}
	return ps, found
}

func (s *storeView) Raw(id objsync.ID) []byte {
	var raw []byte
	s.view(func(tx store.Tx) (err error) {
		raw, err = tx.RawChange(change.ID(id))
		return err
	})
	return raw
}

func ids(cs []change.ID) []objsync.ID {
	out := make([]objsync.ID, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out
}
