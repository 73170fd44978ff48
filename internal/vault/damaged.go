package vault

import (
	"context"
	"errors"
	"slices"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
)

// A stored change whose bytes no longer hash to its id (a flipped bit on
// disk) cannot be read, and its object cannot be opened past it. The
// engine moves it aside (quarantine) and parks every change built on it,
// as if they had arrived before it; the object's heads go back to what is
// still whole. Its heads then differ from every peer's, so the next
// reconciliation asks for what is missing, and the change comes back from
// a device or the backup node that has it; the parked ones follow it in.
// Until then the object shows as damaged (never Synced).

func (e *Engine) quarantine(ctx context.Context, de *damagedError) error {
	return e.db.Update(ctx, func(tx store.Tx) error { return e.quarantineIn(tx, de.object, de.change, de.err.Error()) })
}

func (e *Engine) quarantineIn(tx store.Tx, obj, bad change.ID, reason string) error {
	e.forget(obj)
	raw, err := tx.RawChange(bad)
	if errors.Is(err, store.ErrNotFound) {
		return nil // moved aside already (by another process)
	}
	if err != nil {
		return err
	}
	metas, raws, err := tx.ChangesAfter(obj, 0)
	if err != nil {
		return err
	}
	if err := tx.Quarantine(store.Damaged{ID: bad, Object: obj, Raw: raw, Reason: reason, Time: time.Now().UTC()}); err != nil {
		return err
	}
	// Arrival order is causal: one pass finds what is built on it.
	gone := map[change.ID]bool{bad: true}
	for i, m := range metas {
		if m.ID == bad || !slices.ContainsFunc(m.Parents, func(p change.ID) bool { return gone[p] }) {
			continue
		}
		gone[m.ID] = true
		if err := tx.Park(m, raws[i]); err != nil {
			return err
		}
		if err := tx.DeleteChange(m.ID); err != nil {
			return err
		}
	}
	heads := headsOf(metas, func(m *store.ChangeMeta) bool { return !gone[m.ID] })
	if err := tx.SetHeads(obj, heads); err != nil {
		return err
	}
	// The snapshot may hold what is gone: replay from the changes.
	if err := tx.DeleteSnapshot(obj); err != nil {
		return err
	}
	// The index row says what is left (a further damaged change is
	// found, and moved aside, by whoever opens the object next).
	l, err := e.load(tx, obj)
	var de *damagedError
	if errors.As(err, &de) {
		return nil
	}
	if err != nil {
		return err
	}
	l.row.Changes = len(metas) - len(gone)
	return e.index(tx, l)
}
