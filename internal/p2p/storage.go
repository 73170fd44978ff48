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
type storeView struct{ db store.Store }

var _ objsync.Storage = storeView{}

func (s storeView) view(f func(store.Tx) error) { _ = s.db.View(context.Background(), f) }

func (s storeView) Objects() []reconcile.Item {
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

func (s storeView) Heads(obj objsync.ID) []objsync.ID {
	var out []objsync.ID
	s.view(func(tx store.Tx) error {
		hs, err := tx.Heads(change.ID(obj))
		out = ids(hs)
		return err
	})
	return out
}

func (s storeView) Has(id objsync.ID) bool {
	var ok bool
	s.view(func(tx store.Tx) (err error) {
		ok, err = tx.HasChange(change.ID(id))
		return err
	})
	return ok
}

func (s storeView) Parents(id objsync.ID) []objsync.ID {
	var out []objsync.ID
	s.view(func(tx store.Tx) error {
		m, err := tx.Meta(change.ID(id))
		out = ids(m.Parents)
		return err
	})
	return out
}

func (s storeView) Raw(id objsync.ID) []byte {
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
