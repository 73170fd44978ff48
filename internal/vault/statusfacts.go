package vault

import (
	"context"

	"mycel/internal/change"
	"mycel/internal/store"
)

// StatusFacts is what a vault's status needs of every object beside what
// sync knows, read in one transaction by set (not a query per object):
// the objects with parked or damaged changes and how many, those whose
// changes reference file chunks, and those with inert changes (another
// device equivocated).
type StatusFacts struct {
	Parked, Damaged map[change.ID]int
	Chunked, Inert  map[change.ID]bool
}

// StatusFacts reads the facts of every object.
func (e *Engine) StatusFacts(ctx context.Context) (StatusFacts, error) {
	f := StatusFacts{Parked: map[change.ID]int{}, Damaged: map[change.ID]int{}, Chunked: map[change.ID]bool{}}
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		ps, err := tx.ParkedObjects()
		if err != nil {
			return err
		}
		for _, id := range ps {
			ms, _, err := tx.Parked(id)
			if err != nil {
				return err
			}
			f.Parked[id] = len(ms)
		}
		ds, err := tx.DamagedObjects()
		if err != nil {
			return err
		}
		for _, id := range ds {
			dm, err := tx.Damaged(id)
			if err != nil {
				return err
			}
			f.Damaged[id] = len(dm)
		}
		// The objects with files, by their chunks: a query a chunk (the
		// store lists no objects by chunk reference).
		var after [32]byte
		for {
			cs, err := tx.ChunkRefs(after, 1000)
			if err != nil {
				return err
			}
			for _, c := range cs {
				objs, err := tx.ChunkObjects(c)
				if err != nil {
					return err
				}
				for _, o := range objs {
					f.Chunked[o] = true
				}
			}
			if len(cs) < 1000 {
				break
			}
			after = cs[len(cs)-1]
		}
		f.Inert, err = e.inertObjects(tx)
		return err
	})
	return f, err
}

// ObjectInfo is one object's row in the index (as List gives it), deleted
// or not; store.ErrNotFound when there is none.
func (e *Engine) ObjectInfo(ctx context.Context, id change.ID) (store.Object, error) {
	var o store.Object
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		o, err = tx.Object(id)
		return err
	})
	return o, err
}
