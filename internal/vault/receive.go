package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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

// Incoming is a change to receive.
type Incoming = admit.Incoming

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

// ReceiveBatch receives changes in one transaction (one fsync), through
// the pipeline every store shares (package admit): each is verified and
// stored, parked or refused on its own, so errs[i] says why change i was
// refused; err is a storage error, and then nothing is stored.
func (e *Engine) ReceiveBatch(ctx context.Context, in []Incoming) (outs []Outcome, errs []error, err error) {
	var b *batch
	err = e.db.Update(ctx, func(tx store.Tx) error {
		l, err := e.members(tx)
		if err != nil {
			return err
		}
		b = &batch{e: e, open: map[change.ID]*loaded{}}
		if b.damaged, err = tx.DamagedObjects(); err != nil {
			return err
		}
		if b.inertObjects, err = e.inertObjects(tx); err != nil {
			return err
		}
		outs, errs, err = admit.Receive(tx, e.vault.ID, l, b, in)
		return err
	})
	if err != nil {
		if b != nil {
			e.forgetText(b.texted) // not written: the next write indexes them
		}
		return nil, nil, err
	}
	e.notifyStored() // Finish wrote their text and snapshots
	e.keep(b.saved...)
	// Changes this store wrote that are now inert (they built on a change
	// that lost an overlap) are written again at once, unless this store's
	// own key is the one two copies use (then check --repair does it, after
	// giving it a key of its own).
	if len(b.forked) > 0 && e.mayWrite(ctx) == nil {
		for _, id := range b.forked {
			if _, err := e.reauthor(ctx, id); err != nil {
				return outs, errs, fmt.Errorf("write again what a fork made inert: %w", err)
			}
		}
	}
	return outs, errs, nil
}

// batch is a device's part of one ReceiveBatch (an admit.Applier). The
// objects it changes stay open from change to change; their index rows are
// written once, at the end, and they are cached once it commits.
type batch struct {
	e            *Engine
	open         map[change.ID]*loaded // nil entry: dropped, reopen from the store
	order        []change.ID           // the objects changed, in the order first opened
	saved        []*loaded             // to cache once the transaction commits
	damaged      []change.ID           // objects with quarantined changes
	inertObjects map[change.ID]bool    // objects with inert changes
	reopened     map[change.ID]bool    // opened again from the store after a change failed
	forked       []change.ID           // objects where changes of one key overlapped
	starts       map[change.ID]uint64  // first counters of changes read or checked here
	texted       []*loaded             // whose full text Finish indexed
}

// checkStart refuses a change that seals its counter when that counter
// lies more than admit.MaxLamportStep above its parents' first counters
// (sealed ones read from their payloads; the node, which cannot read
// them, checks the depth): one change could else take a counter near
// crdt.MaxCounter and leave no room for any later edit of its object.
// Every device reads the same parents, so every device decides alike.
func (b *batch) checkStart(tx store.Tx, key [32]byte, c *change.Change, p *change.Payload) error {
	if b.starts == nil {
		b.starts = map[change.ID]uint64{}
	}
	var top uint64
	for _, q := range c.Parents {
		s, ok := b.starts[q]
		if !ok {
			var err error
			if s, err = b.e.startsOf(tx, key, []change.ID{q}); err != nil {
				return fmt.Errorf("the first counter of parent %s: %w", q.Short(), err)
			}
			b.starts[q] = s
		}
		top = max(top, s)
	}
	if p.Start > top+admit.MaxLamportStep {
		return admit.Rejectf(c.ID, "its counter %d jumps more than 2^32 above its parents' (%d)", p.Start, top)
	}
	b.starts[c.ID] = p.Start
	return nil
}

func (b *batch) opened(l *loaded) {
	if _, again := b.open[l.id]; !again {
		b.order = append(b.order, l.id)
	}
	b.open[l.id] = l
}

// object returns the open state of an object, opening it if needed (a
// damaged change met on the way is quarantined in this transaction).
func (b *batch) object(tx store.Tx, id change.ID) (*loaded, error) {
	if l := b.open[id]; l != nil {
		return l, nil
	}
	if _, dropped := b.open[id]; dropped {
		if b.reopened == nil {
			b.reopened = map[change.ID]bool{}
		}
		b.reopened[id] = true
	}
	for attempt := 0; ; attempt++ {
		l, err := b.e.take(tx, id)
		var de *damagedError
		if errors.As(err, &de) && attempt < 8 {
			if err := b.e.quarantineIn(tx, de.object, de.change, de.err.Error()); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		b.opened(l)
		return l, nil
	}
}

// Apply implements admit.Applier: decrypt the change and merge it into its
// object's state.
func (b *batch) Apply(tx store.Tx, c *change.Change, local bool) (bool, error) {
	e := b.e
	if bytes.Equal(c.Author, e.DeviceKey()) && !local {
		// A change by this device's key that this store does not have and
		// did not lose: another copy of this data folder wrote it.
		if ours, err := e.setAside(tx, c); err != nil {
			return false, err
		} else if !ours {
			if err := e.noteClone(tx, c); err != nil {
				return false, err
			}
		}
	}
	if c.IsRoot() {
		// A new, empty object; Finish writes its index row.
		b.opened(&loaded{id: c.ID, key: e.objectKey(c.ID), doc: crdt.NewDoc(), heads: []change.ID{c.ID},
			row: store.Object{ID: c.ID, Type: "page", Created: shownTime(c, b.e.Now()), Updated: shownTime(c, b.e.Now())}})
		return false, nil
	}
	obj, err := b.object(tx, c.Object)
	if err != nil {
		return false, err
	}
	p, err := c.Open(obj.key)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrRejected, err)
	}
	if !c.Snapshot && c.SealedCounter {
		if err := b.checkStart(tx, obj.key, c, p); err != nil {
			return false, err
		}
	}
	if c.Snapshot {
		// A snapshot change (written by older versions) adds nothing to
		// the state; it must still decode.
		if _, err := crdt.UnmarshalState(p.State); err != nil {
			return false, admit.Rejectf(c.ID, "snapshot: %v", err)
		}
		return false, nil
	}
	if b.inertObjects[c.Object] {
		// Whether the change refers to what an inert change made takes the
		// object's history (see fork.go): replay it.
		// A change arriving now can make inert a change of this store's
		// that was not (one it built on lost to it): written again after
		// the batch, like after the first overlap.
		inert, err := e.resolveOverlap(tx, obj, c)
		if err != nil {
			b.open[c.Object] = nil
		}
		if !slices.Contains(b.forked, c.Object) {
			b.forked = append(b.forked, c.Object)
		}
		return inert, err
	}
	err = obj.doc.Apply(p.CRDT(c))
	if crdt.IsOverlap(err) {
		inert, err := e.resolveOverlap(tx, obj, c)
		b.inertObjects[c.Object] = true
		if !slices.Contains(b.forked, c.Object) {
			b.forked = append(b.forked, c.Object)
		}
		if err != nil {
			b.open[c.Object] = nil
		}
		return inert, err
	}
	if err != nil {
		// It may have half applied: the object's state must not be used
		// again, by the rest of the batch or through the cache. The
		// changes stored before it are kept; Finish reopens the object
		// from the store.
		b.open[c.Object] = nil
		return false, admit.Rejectf(c.ID, "%v", err)
	}
	obj.sinceSnap++
	obj.bytesSince += len(c.Raw)
	return false, nil
}

// setAside reports whether this store had c and set it aside as damaged.
// (What was built on it, parked, comes back through Apply with local set.)
func (e *Engine) setAside(tx store.Tx, c *change.Change) (bool, error) {
	return tx.IsDamaged(c.ID)
}

// Stored implements admit.Applier.
func (b *batch) Stored(tx store.Tx, c *change.Change, seq int64) error {
	if l := b.open[c.Object]; l != nil {
		l.seq = max(l.seq, seq)
		if !c.IsRoot() {
			counted(l, c, b.e.Now()) // its heads are the pipeline's (see Finish)
		} else {
			l.row.Changes = 1
		}
	}
	for _, d := range b.damaged {
		if d == c.Object {
			// Sync brought back a change this device had found damaged.
			return tx.ClearDamaged(c.ID)
		}
	}
	return nil
}

// Finish implements admit.Applier: write the index rows of the objects
// the batch changed (the pipeline wrote their heads), with the full text
// of those whose text is due and the local snapshots the policy asks for,
// in the batch's own transaction. (A local edit leaves text and snapshot
// to short transactions of their own, afterWrite, to keep its write
// short; a batch would pay a second commit, an fsync and every object
// row written twice, for nothing: its acknowledgement waits for all of it
// either way.)
func (b *batch) Finish(tx store.Tx, heads map[change.ID][]change.ID) error {
	ls := make([]*loaded, 0, len(b.order))
	for _, id := range b.order {
		l := b.open[id]
		if l == nil || b.reopened[id] {
			// Its count in memory missed what was stored while it was
			// closed: count what the store holds.
			if l == nil {
				var err error
				if l, err = b.e.load(tx, id); err != nil {
					return err
				}
			}
			n, err := countChanges(tx, id)
			if err != nil {
				return err
			}
			l.row.Changes = n
		}
		if h, ok := heads[id]; ok {
			l.heads = h
		}
		ls = append(ls, l)
	}
	now := time.Now()
	due := b.e.textDue(now, ls)
	b.texted = due
	var texts []store.Object
	defer func() { b.e.textTook(now, due, texts) }()
	for _, l := range ls {
		if b.e.snapshotDue(l) {
			// A snapshot that does not seal is left out, as afterWrite
			// leaves it: it only saves replaying.
			if sealed, err := sealSnapshot(l.key, l.id, l.doc); err == nil {
				if err := b.e.putSnapshot(tx, l, sealed); err != nil {
					return err
				}
			}
		}
		if len(texts) < len(due) && due[len(texts)] == l {
			row, err := b.e.indexWithText(tx, l)
			if err != nil {
				return err
			}
			texts = append(texts, row)
		} else if err := b.e.index(tx, l); err != nil {
			return err
		}
		b.saved = append(b.saved, l)
	}
	return nil
}

func countChanges(tx store.Tx, id change.ID) (int, error) {
	ms, err := tx.Changes(id, 0)
	return len(ms), err
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
