package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/store"
)

// Outcome says what became of a received change.
type Outcome = admit.Outcome

// Outcomes of Receive.
const (
	Stored    = admit.Stored  // verified, applied and stored
	Duplicate = admit.Stale   // already here
	Parked    = admit.Waiting // verified, waiting for its parents
)

// ErrRejected is wrapped by every refusal of a received change.
var ErrRejected = admit.ErrRejected

// Receive verifies a change from another device or a node and stores it:
// the bytes must hash to id, carry a valid signature by a device of this
// vault (per the membership log), decrypt with the object key and apply to
// the object's state. A change whose parents are missing is parked until
// they come. A rejected change is not stored, and the error says why.
func (e *Engine) Receive(ctx context.Context, id change.ID, raw []byte) (Outcome, error) {
	outs, errs, err := e.ReceiveBatch(ctx, []Incoming{{ID: id, Raw: raw}})
	if err != nil {
		return 0, err
	}
	return outs[0], errs[0]
}

// Incoming is a change to receive.
type Incoming = admit.Incoming

// ReceiveBatch receives changes in one transaction (one fsync): each is
// verified and stored, parked or refused on its own, so errs[i] says why
// change i was refused; err is a storage error, and then nothing is stored.
func (e *Engine) ReceiveBatch(ctx context.Context, in []Incoming) (outs []Outcome, errs []error, err error) {
	var b *batch
	err = e.db.Update(ctx, func(tx store.Tx) error {
		l, err := e.members(tx)
		if err != nil {
			return err
		}
		a, err := admit.Begin(tx, e.vault.ID, l, in)
		if err != nil {
			return err
		}
		b = &batch{tx: tx, admit: a, open: map[change.ID]*loaded{}}
		if outs, errs, err = admit.Batch(in, func(c Incoming) (Outcome, error) { return e.receive(b, c) }); err != nil {
			return err
		}
		return e.saveBatch(b)
	})
	if err != nil {
		return nil, nil, err
	}
	e.keep(b.saved...)
	return outs, errs, nil
}

func reject(id change.ID, format string, args ...any) error {
	return admit.Rejectf(id, format, args...)
}

// batch is one ReceiveBatch transaction. The objects it changes stay open
// from change to change; their heads and index rows are written once, at
// the end (saveBatch), and they are cached once it commits.
type batch struct {
	tx    store.Tx
	admit *admit.Admission
	open  map[change.ID]*loaded
	order []change.ID // the objects changed, in the order first opened
	saved []*loaded   // to cache once the transaction commits
}

// opened puts an object in the batch.
func (b *batch) opened(l *loaded) {
	if _, again := b.open[l.id]; !again && !slices.Contains(b.order, l.id) {
		b.order = append(b.order, l.id)
	}
	b.open[l.id] = l
}

// saveBatch writes the heads and index rows of the objects the batch
// changed. An object whose state was dropped after a change failed to
// apply is opened again from the store, where its changes are.
func (e *Engine) saveBatch(b *batch) error {
	for _, id := range b.order {
		l := b.open[id]
		if l == nil {
			var err error
			if l, err = e.load(b.tx, id); err != nil {
				return err
			}
		}
		if err := e.save(b.tx, l); err != nil {
			return err
		}
		b.saved = append(b.saved, l)
	}
	return nil
}

func (e *Engine) receive(b *batch, in Incoming) (_ Outcome, retErr error) {
	tx, id := b.tx, in.ID
	c, verdict, err := b.admit.Check(in)
	switch {
	case err != nil:
		return 0, err
	case verdict == admit.Duplicate:
		return Duplicate, nil
	case verdict == admit.Parked:
		return Parked, nil
	}
	if c.IsRoot() {
		// A new, empty object; saveBatch writes its heads and index row.
		if _, _, err := tx.PutChange(store.MetaOf(c), c.Raw); err != nil {
			return 0, err
		}
		b.admit.Stored(c)
		b.opened(&loaded{id: c.ID, key: e.objectKey(c.ID), doc: crdt.NewDoc(), heads: []change.ID{c.ID},
			row: store.Object{ID: c.ID, Type: "page", Created: c.Time, Updated: c.Time, Changes: 1}})
		return Stored, e.unpark(b, c.Object)
	}
	obj := b.open[c.Object]
	if obj == nil {
		if obj, err = e.take(tx, c.Object); err != nil {
			return 0, err
		}
		b.opened(obj)
	}
	// A change that fails may have half applied: the object's state must
	// not be used again, neither by the rest of the batch nor through the
	// cache. The changes stored before it are kept: their heads and counts
	// are written now, so that the object can be opened again from the
	// store (saveBatch then indexes its content).
	defer func() {
		if retErr != nil && errors.Is(retErr, ErrRejected) {
			delete(b.open, c.Object)
			obj.row.TextStale = true
			if err := tx.SetHeads(obj.id, obj.heads); err != nil {
				retErr = err
			} else if err := tx.PutObject(obj.row); err != nil {
				retErr = err
			}
		}
	}()
	p, err := c.Open(obj.key)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrRejected, err)
	}
	if c.Snapshot {
		// A snapshot adds nothing to the state; it must still decode.
		if _, err := decodeState(p.State); err != nil {
			return 0, reject(id, "snapshot: %v", err)
		}
	} else if err := obj.doc.Apply(p.CRDT(c)); err != nil {
		return 0, reject(id, "%v", err)
	}
	if err := e.putChange(tx, obj, c); err != nil {
		return 0, err
	}
	b.admit.Stored(c)
	return Stored, e.unpark(b, c.Object)
}

// unpark retries the parked changes of an object until none can proceed.
func (e *Engine) unpark(b *batch, object change.ID) error {
	return b.admit.Unpark(object, func(in Incoming) (bool, error) {
		out, err := e.receive(b, in)
		return out == Parked, err
	})
}

// Changes returns the ids and bytes of every stored change of an object, in
// arrival order (a causal order), for export or another device.
func (e *Engine) Changes(ctx context.Context, id change.ID) ([]change.ID, [][]byte, error) {
	var ids []change.ID
	var raws [][]byte
	err := e.db.View(ctx, func(tx store.Tx) error {
		ms, rs, err := tx.ChangesAfter(id, 0)
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		raws = rs
		return err
	})
	return ids, raws, err
}
