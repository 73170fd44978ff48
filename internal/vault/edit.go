package vault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/store"
)

// EditOptions say what an edit is built on and how history shows it.
type EditOptions struct {
	// Base is the heads of the state the edit was made on: the version
	// the person saw (and an exported file carries). The change is built
	// on that state, with those heads as parents, so it merges with what
	// arrived since like any concurrent change and never undoes it. Nil:
	// the object's current heads.
	Base []change.ID
	// NewVersion starts a new version in history at this edit. Every
	// command does, so every command can be undone; an editor typing away
	// would start one after a pause.
	NewVersion bool
}

// Result is what an edit did.
type Result struct {
	ID      change.ID
	Changed bool
	// Heads are the object's heads after the edit.
	Heads []change.ID
	// Merged: the edit was built on earlier heads than the object had,
	// and merged with the changes that came in since.
	Merged bool
	// Version is the heads of the version this edit wrote, whose state
	// is its base with the edit made (Heads may hold more: what came in
	// meanwhile): its own last change, or its base when it changed
	// nothing. An import building its next version on Version changes
	// what the import itself wrote, never what others did since.
	Version []change.ID
}

// errStale: another writer stored a change of the object while an edit was
// being computed; the edit is computed again on the new state.
var errStale = errors.New("the object changed while the edit was computed")

// maxChangePayload bounds the operations in one change: a larger edit
// (pasting a book) is stored as several changes in a row, each well under
// change.MaxSize and sent in a batch of its own.
const maxChangePayload = 1 << 20

// Edit runs f on the object's state at opts.Base as one local change and
// stores it. The change is computed before the store's write transaction
// (other commands and the running device go on meanwhile; ctx stops it,
// leaving the store as it was), which holds the store only to store it.
// If another writer stored a change of the object meanwhile, f runs again
// on the new state, so f must have no other effect.
func (e *Engine) Edit(ctx context.Context, id change.ID, opts EditOptions, f func(*crdt.Tx) error) (Result, error) {
	for attempt := 0; ; attempt++ {
		r, err := e.editOnce(ctx, id, opts, f)
		if !errors.Is(err, errStale) {
			return r, err
		}
		// Another writer got in first: go again on its state, after a
		// growing, jittered pause once this keeps happening (two writers
		// in a tight loop would otherwise take turns losing).
		if attempt >= 2 {
			pause := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt-2, 6)))
			select {
			case <-ctx.Done():
				return r, ctx.Err()
			case <-time.After(pause):
			}
		}
	}
}

// open takes an object out of the cache (or loads it) for a write,
// quarantining any damaged change it meets on the way.
func (e *Engine) open(ctx context.Context, id change.ID) (*loaded, error) {
	for attempt := 0; ; attempt++ {
		var l *loaded
		err := e.db.View(ctx, func(tx store.Tx) (err error) {
			l, err = e.take(tx, id)
			return err
		})
		var de *damagedError
		if !errors.As(err, &de) || attempt > 8 {
			if errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("no object %s in this vault", id.Short())
			}
			return l, err
		}
		if err := e.quarantine(ctx, de); err != nil {
			return nil, err
		}
	}
}

func (e *Engine) editOnce(ctx context.Context, id change.ID, opts EditOptions, f func(*crdt.Tx) error) (Result, error) {
	r := Result{ID: id}
	if err := e.mayWrite(ctx); err != nil {
		return r, err
	}
	cur, err := e.open(ctx, id)
	if err != nil {
		return r, err
	}
	heads := slices.Clone(cur.heads)
	work, parents := cur.doc, heads
	if opts.Base != nil && !sameIDs(opts.Base, heads) {
		if work, err = e.stateAt(ctx, id, opts.Base); err != nil {
			return r, err
		}
		parents, r.Merged = slices.Clone(opts.Base), true
	}
	t := work.BeginAt(string(e.DeviceKey()), cur.doc.NextCounter())
	if err := run(ctx, func() error { return f(t) }); err != nil {
		return r, err
	}
	ch := t.Commit()
	if ch == nil {
		if !r.Merged {
			e.keep(cur)
		}
		r.Heads, r.Version = heads, slices.Clone(parents)
		return r, nil
	}
	if r.Merged {
		if err := cur.doc.Apply(ch); err != nil {
			return r, fmt.Errorf("merge the edit with what came since: %w", err)
		}
	}
	// An edit starts above every counter of its object, which a member can
	// have pushed more than admit.MaxLamportStep above those of its
	// parents (the version the person saw, or heads built low on top of
	// high counters): every other device would refuse it. Then it also
	// names as parents the newest heads and the change with the greatest
	// counter (its operations are still those of the version it was made
	// on; its counters, above all, already rank it after them), so that it
	// passes wherever it goes.
	fits, top, depth, err := e.startFits(ctx, id, parents, ch.Start)
	if err != nil {
		return r, err
	}
	if !fits {
		parents = union(union(parents, heads), []change.ID{top})
		if depth, err = e.depthOf(ctx, parents); err != nil {
			return r, err
		}
	}
	cs, err := e.seal(ctx, id, cur.key, parents, depth, ch, opts.NewVersion)
	if err != nil {
		return r, err
	}
	err = e.db.Update(ctx, func(tx store.Tx) error {
		now, err := tx.Heads(id)
		if err != nil {
			return err
		}
		if !sameIDs(now, heads) {
			return errStale
		}
		if err := e.checkWriter(tx); err != nil {
			return err
		}
		for _, c := range cs {
			if err := e.putLocal(tx, cur, c); err != nil {
				return err
			}
		}
		return e.save(tx, cur)
	})
	if err != nil {
		return r, err
	}
	r.Changed, r.Heads = true, slices.Clone(cur.heads)
	r.Version = []change.ID{cs[len(cs)-1].ID}
	e.afterWrite(ctx, cur) // before it is shared again: it renders the doc
	e.keep(cur)
	return r, nil
}

// run calls f, returning early (with ctx's error) if ctx ends first: a
// long computation (Replace of a huge page) is abandoned, its result
// dropped, and nothing was stored.
func run(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("internal error: %v", p)
			}
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// seal makes the signed, sealed changes of a local edit: one, or a chain
// of several for a very large one.
//
// Each shows the node its depth, not its first counter, which it seals in
// its payload (change.Draft.Depth): the steps between counters are the
// characters each edit typed.
// depth is the greatest Lamport of the parents, stored (see depthOf).
func (e *Engine) seal(ctx context.Context, id change.ID, key [32]byte, parents []change.ID, depth uint64, ch *crdt.Change, newVersion bool) ([]*change.Change, error) {
	now := e.Now()
	var out []*change.Change
	for i, p := range ch.Split(maxChangePayload) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		depth++
		c, err := change.New(change.Draft{Object: id, Parents: parents, Lamport: p.Start, Depth: depth, Time: now, NewVersion: newVersion && i == 0,
			Payload: &change.Payload{Ops: p.Ops}, Chunks: e.chunkRefs(p.Ops)}, key, e.device)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		parents = []change.ID{c.ID}
	}
	return out, nil
}

// startFits reports whether a change starting at counter start may have
// these parents (admit.MaxLamportStep, against their first counters), and
// which change of the object has the greatest first counter; and the
// depth of a change built on them (see depthOf), read in the same
// transaction.
func (e *Engine) startFits(ctx context.Context, id change.ID, parents []change.ID, start uint64) (fits bool, top change.ID, depth uint64, err error) {
	key := e.objectKey(id)
	err = e.db.View(ctx, func(tx store.Tx) error {
		if depth, err = parentDepth(tx, parents); err != nil {
			return err
		}
		most, err := e.startsOf(tx, key, parents)
		if err != nil {
			return err
		}
		if fits = start <= most+admit.MaxLamportStep; fits {
			return nil
		}
		metas, err := tx.Changes(id, 0)
		if err != nil {
			return err
		}
		var best uint64
		for _, m := range metas {
			if m.Inert {
				continue
			}
			if s, err := e.startsOf(tx, key, []change.ID{m.ID}); err == nil && (top == change.ID{} || s > best) {
				top, best = m.ID, s
			}
		}
		return nil
	})
	return fits, top, depth, err
}

// startsOf is the greatest first operation counter of stored changes:
// their Lamport, or for a change that seals its counter, the one in its
// payload.
func (e *Engine) startsOf(tx store.Tx, key [32]byte, ids []change.ID) (uint64, error) {
	var most uint64
	for _, id := range ids {
		raw, err := tx.RawChange(id)
		if err != nil {
			return 0, err
		}
		c, err := change.Decode(id, raw)
		if err != nil {
			return 0, err
		}
		s := c.Lamport
		if c.SealedCounter {
			p, err := c.Open(key)
			if err != nil {
				return 0, err
			}
			s = p.Start
		}
		most = max(most, s)
	}
	return most, nil
}

// union is a's ids and those of b not in a.
func union(a, b []change.ID) []change.ID {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// depthOf is the greatest Lamport of stored changes: what a change built on
// them shows one above (change.Draft.Depth).
func (e *Engine) depthOf(ctx context.Context, parents []change.ID) (depth uint64, err error) {
	err = e.db.View(ctx, func(tx store.Tx) error {
		depth, err = parentDepth(tx, parents)
		return err
	})
	return depth, err
}

func parentDepth(tx store.Tx, parents []change.ID) (uint64, error) {
	var depth uint64
	for _, p := range parents {
		m, err := tx.Meta(p)
		if err != nil {
			return 0, fmt.Errorf("the change %s this edit is built on: %w", p.Short(), err)
		}
		depth = max(depth, m.Lamport)
	}
	return depth, nil
}

// putLocal stores a change this device made, whose effect is in l.doc.
func (e *Engine) putLocal(tx store.Tx, l *loaded, c *change.Change) error {
	m := store.MetaOf(c)
	m.Local = true
	seq, _, err := tx.PutChange(m, c.Raw)
	if err != nil {
		return err
	}
	l.seq = max(l.seq, seq)
	e.replaceHeads(l, c)
	l.sinceSnap++
	l.bytesSince += len(c.Raw)
	return nil
}

// replaceHeads makes c replace its parents among l's heads.
func (e *Engine) replaceHeads(l *loaded, c *change.Change) {
	heads := []change.ID{c.ID}
	for _, h := range l.heads {
		if !slices.Contains(c.Parents, h) {
			heads = append(heads, h)
		}
	}
	l.heads = heads
	counted(l, c, e.Now())
}

// counted adds a stored change to l's index row. A change counts as no
// later than now (when it arrived): its time is its author's claim, and a
// clock set far ahead must not keep a page at the top of every list.
func counted(l *loaded, c *change.Change, now time.Time) {
	l.row.Changes++
	if t := shownTime(c, now); t.After(l.row.Updated) {
		l.row.Updated = t
	}
}

// shownTime is a change's time as lists show and sort it: its own, unless
// that is after now.
func shownTime(c *change.Change, now time.Time) time.Time {
	if c.Time.After(now) {
		return now.UTC()
	}
	return c.Time
}

// save writes what putLocal (or a receive) left in memory: the object's
// heads and its index row.
func (e *Engine) save(tx store.Tx, l *loaded) error {
	if err := tx.SetHeads(l.id, l.heads); err != nil {
		return err
	}
	return e.index(tx, l)
}

// afterWrite does what a write leaves for later, each in a short
// transaction of its own: a snapshot when the policy wants one, and the
// full text for search. Neither is needed for correctness (a snapshot only
// saves replaying; stale text is caught up by the next search), so their
// failure is not the write's.
func (e *Engine) afterWrite(ctx context.Context, ls ...*loaded) {
	e.notifyStored()
	for _, l := range ls {
		if l == nil || !e.snapshotDue(l) {
			continue
		}
		sealed, err := sealSnapshot(l.key, l.id, l.doc)
		if err != nil {
			continue
		}
		e.db.Update(ctx, func(tx store.Tx) error { return e.putSnapshot(tx, l, sealed) })
	}
	e.indexText(ctx, ls...)
}

// stateAt is the object's state at heads base: the replay of their causal
// past (from the local snapshot when the snapshot lies within it).
func (e *Engine) stateAt(ctx context.Context, id change.ID, base []change.ID) (*crdt.Doc, error) {
	var doc *crdt.Doc
	err := e.db.View(ctx, func(tx store.Tx) error {
		metas, err := tx.Changes(id, 0)
		if err != nil {
			return err
		}
		byID := make(map[change.ID]*store.ChangeMeta, len(metas))
		for i := range metas {
			byID[metas[i].ID] = &metas[i]
		}
		for _, b := range base {
			if byID[b] == nil {
				return fmt.Errorf("the version this edit was made on (change %s) is not on this device: sync first, or save without it to replace the current version", b.Short())
			}
		}
		past := ancestry(parentsOf(metas), base)
		key := e.objectKey(id)
		from := int64(0)
		doc = crdt.NewDoc()
		if snap, err := tx.Snapshot(id); err == nil {
			within := true
			for _, m := range metas {
				if m.Seq <= snap.Seq && !past[m.ID] {
					within = false
					break
				}
			}
			if within {
				if d, err := openSnapshot(key, id, snap.Sealed); err == nil {
					doc, from = d, snap.Seq
				}
			}
		}
		ms, raws, err := tx.ChangesAfter(id, from)
		if err != nil {
			return err
		}
		for i, m := range ms {
			if !past[m.ID] || m.ID == m.Object || m.Snapshot || m.Inert {
				continue
			}
			if err := e.applyStored(doc, key, m.ID, raws[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return doc, err
}
