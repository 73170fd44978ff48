package vault

import (
	"context"
	"fmt"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/object"
	"mycel/internal/store"
)

func decodeState(b []byte) (*crdt.Doc, error) { return crdt.UnmarshalState(b) }

// History lists an object's versions, oldest first.
func (e *Engine) History(ctx context.Context, id change.ID) ([]object.Version, error) {
	var vs []object.Version
	err := e.db.View(ctx, func(tx store.Tx) error {
		metas, err := tx.Changes(id, 0)
		if err != nil {
			return err
		}
		if len(metas) == 0 {
			return fmt.Errorf("no object %s in this vault", id.Short())
		}
		vs = object.Versions(object.Order(metas))
		return nil
	})
	return vs, err
}

// At returns the object as it was at version n (1-based).
func (e *Engine) At(ctx context.Context, id change.ID, n int) (*crdt.Doc, error) {
	var doc *crdt.Doc
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		doc, err = e.at(tx, id, n)
		return err
	})
	return doc, err
}

func (e *Engine) at(tx store.Tx, id change.ID, n int) (*crdt.Doc, error) {
	metas, err := tx.Changes(id, 0)
	if err != nil {
		return nil, err
	}
	ordered := object.Order(metas)
	vs := object.Versions(ordered)
	if n < 1 || n > len(vs) {
		return nil, fmt.Errorf("object %s has versions 1 to %d, not %d (see `mycel history %s`)", id.Short(), len(vs), n, id.Short()[:8])
	}
	doc := crdt.NewDoc()
	key := e.objectKey(id)
	for _, m := range ordered[:vs[n-1].Upto] {
		if m.ID == m.Object || m.Snapshot {
			continue
		}
		raw, err := tx.RawChange(m.ID)
		if err != nil {
			return nil, err
		}
		if err := e.applyStored(doc, key, m.ID, raw); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// Restore makes the object look as it did at version n, by new changes on
// top of the current state: history is never rewritten, and a restore is
// undone by restoring the version before it. Archiving is left as it is.
func (e *Engine) Restore(ctx context.Context, id change.ID, n int) (bool, error) {
	var changed bool
	var l *loaded
	err := e.db.Update(ctx, func(tx store.Tx) error {
		old, err := e.at(tx, id, n)
		if err != nil {
			return err
		}
		l, changed, err = e.editIn(tx, id, true, func(t *crdt.Tx) error {
			t.ReplaceDetails(old.Details(), "archived")
			t.Replace(old.Blocks())
			return nil
		})
		return err
	})
	if err == nil {
		e.keep(l)
	}
	return changed, err
}
