package vault

import (
	"context"
	"fmt"
	"slices"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/member"
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
		b = &batch{tx: tx, members: l, open: map[change.ID]*loaded{}}
		outs, errs, err = admit.Batch(in, func(id change.ID, raw []byte) (Outcome, error) { return e.receive(b, id, raw) })
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	e.keep(b.touched...)
	return outs, errs, nil
}

func reject(id change.ID, format string, args ...any) error {
	return admit.Rejectf(id, format, args...)
}

// batch is one ReceiveBatch transaction: the objects it has open, from
// change to change, and those to cache once it commits.
type batch struct {
	tx      store.Tx
	members *member.Log
	open    map[change.ID]*loaded
	touched []*loaded
}

func (e *Engine) receive(b *batch, id change.ID, raw []byte) (_ Outcome, retErr error) {
	tx := b.tx
	c, verdict, err := admit.Check(tx, e.vault.ID, b.members, id, raw)
	switch {
	case err != nil:
		return 0, err
	case verdict == admit.Duplicate:
		return Duplicate, nil
	case verdict == admit.Parked:
		return Parked, nil
	}
	if c.IsRoot() {
		if err := e.putRoot(tx, c); err != nil {
			return 0, err
		}
		return Stored, e.unpark(b, c.Object)
	}
	obj := b.open[c.Object]
	if obj == nil {
		if obj, err = e.take(tx, c.Object); err != nil {
			return 0, err
		}
	}
	// Within a batch the object stays open from change to change. A change
	// that fails may have half applied: its state must not be used again,
	// neither by the rest of the batch nor through the cache.
	delete(b.open, c.Object)
	defer func() {
		if retErr != nil {
			b.touched = slices.DeleteFunc(b.touched, func(x *loaded) bool { return x == obj })
		}
	}()
	p, err := c.Open(e.objectKey(c.Object))
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
	if err := e.index(tx, obj); err != nil {
		return 0, err
	}
	// Cached again once the whole transaction commits; only now, so a
	// change that failed to apply never leaves its half-applied state there.
	b.touched = append(b.touched, obj)
	b.open[c.Object] = obj
	return Stored, e.unpark(b, c.Object)
}

// unpark retries the parked changes of an object until none can proceed.
func (e *Engine) unpark(b *batch, object change.ID) error {
	return admit.Unpark(b.tx, object, func(id change.ID, raw []byte) (bool, error) {
		out, err := e.receive(b, id, raw)
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
