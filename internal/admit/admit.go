// Package admit is the one pipeline every store takes a change received
// from elsewhere through, on a device and on a node alike: skip a
// duplicate, verify the envelope (id, signature, size), check the author is
// a device of the vault and a root belongs to the vault, park a change
// whose parents have not arrived, store what passes (with the heads of its
// object), and retry what was parked once its parents are stored. A device
// and a node differ only in how they apply a change (an Applier): a device
// decrypts it and merges it into the object's state, a node cannot.
package admit

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"mycel/internal/change"
	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/store"
)

// ErrRejected is wrapped by every refusal of a received change.
var ErrRejected = errors.New("change rejected")

// Rejectf makes a refusal naming the change and why.
func Rejectf(id change.ID, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrRejected, id.Short(), fmt.Sprintf(format, args...))
}

// Incoming is a received change.
type Incoming struct {
	ID  change.ID
	Raw []byte
	// Verified, when it holds a change, is the check of ID and Raw done
	// ahead of the batch's transaction (see Verify), so that admission does
	// not do it again.
	Verified change.Verified
}

// Outcome is what became of a received change.
type Outcome int

// Outcomes.
const (
	Stored  Outcome = iota // verified (and, on a device, applied) and stored
	Stale                  // already here
	Waiting                // verified, parked until its parents arrive
)

func (o Outcome) String() string { return [...]string{"stored", "duplicate", "parked"}[o] }

// Applier is what a store does with a verified change whose parents are
// stored, before the pipeline stores it.
type Applier interface {
	// Apply makes the change part of its object; it reports whether the
	// change is inert (stored and synced, but not part of the state). An
	// error wrapping ErrRejected refuses the change (nothing of it is
	// kept); any other error aborts the batch. local says the change is
	// this store's own, set aside (parked) while a change it is built on
	// was damaged, and now back.
	Apply(tx store.Tx, c *change.Change, local bool) (inert bool, err error)
	// Stored tells that the change is stored with arrival number seq.
	Stored(tx store.Tx, c *change.Change, seq int64) error
	// Finish ends the batch: heads holds the new heads of every object
	// the batch changed (already written).
	Finish(tx store.Tx, heads map[change.ID][]change.ID) error
}

// Admitter is an Applier that refuses some changes whole, before they are
// parked or stored (a node refuses those of an object a device had it
// remove): an error wrapping ErrRejected refuses the change.
type Admitter interface {
	Admit(c *change.Change) error
}

// Receive takes changes into the store of vault (members l) in the
// caller's transaction: errs[i] says why change i was refused; err is the
// first error that is not a refusal (a storage error), and then the
// caller must roll back.
func Receive(tx store.Tx, vault keys.VaultID, l *member.Log, app Applier, in []Incoming) (outs []Outcome, errs []error, err error) {
	p, err := begin(tx, vault, l, app, in)
	if err != nil {
		return nil, nil, err
	}
	outs, errs = make([]Outcome, len(in)), make([]error, len(in))
	for i, c := range in {
		outs[i], errs[i] = p.receive(c)
		if errs[i] != nil && !errors.Is(errs[i], ErrRejected) {
			return nil, nil, errs[i]
		}
	}
	if err := p.finish(); err != nil {
		return nil, nil, err
	}
	return outs, errs, nil
}

// pipeline is one Receive. It remembers what the transaction stored and
// which objects have parked changes, so that a change arriving after its
// parents (the usual case) costs one store read, not one per parent; and
// it keeps the heads of the objects it changes, written once at the end.
type pipeline struct {
	tx      store.Tx
	vault   keys.VaultID
	members *member.Log
	app     Applier
	known   map[change.ID]bool // whether stored, for changes looked up or stored here
	parked  map[change.ID]bool // objects with parked changes
	waits   map[change.ID]*waitlist
	heads   map[change.ID][]change.ID
	metas   map[change.ID]parentMeta // of changes stored here or read as parents
}

// parentMeta is what a change's admission needs of each of its parents.
type parentMeta struct {
	object  change.ID
	lamport uint64
}

// MaxLamportStep bounds how far a change's first counter may lie above its
// parents' (see checkParents). An honest edit starts above every counter
// of its object, which a member can push further above some heads than
// that: the engine then names as parents the change that holds them
// (vault.editOnce), so that its edit passes everywhere. An honest change starts one above every
// counter its author has seen, which is above its parents by the
// characters typed concurrently since: far below 2^32. Without the bound
// one change could take a counter near crdt.MaxCounter and leave no room
// for any later edit of its object.
const MaxLamportStep = 1 << 32

func begin(tx store.Tx, vault keys.VaultID, l *member.Log, app Applier, in []Incoming) (*pipeline, error) {
	objs, err := tx.ParkedObjects()
	if err != nil {
		return nil, err
	}
	p := &pipeline{tx: tx, vault: vault, members: l, app: app, known: map[change.ID]bool{}, parked: map[change.ID]bool{},
		waits: map[change.ID]*waitlist{}, heads: map[change.ID][]change.ID{}, metas: map[change.ID]parentMeta{}}
	for _, o := range objs {
		p.parked[o] = true
	}
	ids := make([]change.ID, len(in))
	for i, c := range in {
		ids[i] = c.ID
	}
	stored, err := tx.StoredOf(ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		p.known[id] = stored[id]
	}
	return p, nil
}

func (p *pipeline) has(id change.ID) (bool, error) {
	if have, ok := p.known[id]; ok {
		return have, nil
	}
	have, err := p.tx.HasChange(id)
	if err == nil {
		p.known[id] = have
	}
	return have, err
}

// verdict is what checking a change decided.
type verdict int

const (
	ready     verdict = iota // verified, parents present: apply and store it
	duplicate                // already stored
	park                     // verified, a parent is missing
)

// check verifies a change and finds whether its parents are here.
func (p *pipeline) check(in Incoming) (*change.Change, verdict, error) {
	id, raw := in.ID, in.Raw
	// A change already here needs no second verification: what is stored
	// was verified and hashes to id.
	if have, err := p.has(id); err != nil || have {
		return nil, duplicate, err
	}
	c := in.Verified.Change()
	if c == nil || c.ID != id {
		v, err := change.Verify(id, raw)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrRejected, err)
		}
		c = v.Change()
	}
	if !p.members.MayAuthor(c.Author) {
		return nil, 0, Rejectf(id, "author %x is not a device of this vault", c.Author[:6])
	}
	if c.IsRoot() {
		if c.VaultID != p.vault {
			return nil, 0, Rejectf(id, "it creates an object in another vault")
		}
		return c, ready, nil
	}
	for _, q := range append([]change.ID{c.Object}, c.Parents...) {
		have, err := p.has(q)
		if err != nil {
			return nil, 0, err
		}
		if !have {
			return c, park, nil
		}
	}
	if err := p.checkParents(c); err != nil {
		return nil, 0, err
	}
	return c, ready, nil
}

// checkParents refuses a change whose parents lie in another object (its
// object's history would then not be closed under parents, which no check
// could ever repair) or whose first counter jumps too far above theirs.
func (p *pipeline) checkParents(c *change.Change) error {
	var top uint64
	for _, q := range c.Parents {
		m, ok := p.metas[q]
		if !ok {
			sm, err := p.tx.Meta(q)
			if err != nil {
				return err
			}
			m = parentMeta{object: sm.Object, lamport: sm.Lamport}
			p.metas[q] = m
		}
		if m.object != c.Object {
			return Rejectf(c.ID, "its parent %s is a change of another object", q.Short())
		}
		top = max(top, m.lamport)
	}
	switch {
	case c.SealedCounter && c.Lamport != top+1:
		// Its counter is sealed (a device bounds it against its parents'
		// when it opens it: vault checkStart); the depth anyone can check.
		return Rejectf(c.ID, "its depth %d is not one above its parents' (%d)", c.Lamport, top)
	case !c.SealedCounter && c.Lamport > top+MaxLamportStep:
		return Rejectf(c.ID, "its counter %d jumps more than 2^32 above its parents' (%d)", c.Lamport, top)
	}
	return nil
}

func (p *pipeline) receive(in Incoming) (Outcome, error) {
	c, v, err := p.check(in)
	switch {
	case err != nil:
		return 0, err
	case v == duplicate:
		return Stale, nil
	}
	if a, ok := p.app.(Admitter); ok {
		if err := a.Admit(c); err != nil {
			return 0, err
		}
	}
	switch {
	case v == park:
		p.parked[c.Object] = true
		if w := p.waits[c.Object]; w != nil {
			if err := p.wait(w, store.MetaOf(c), c.Raw, change.ID{}); err != nil {
				return 0, err
			}
		}
		if err := p.makeRoom(c); err != nil {
			return 0, err
		}
		return Waiting, p.tx.Park(store.MetaOf(c), c.Raw)
	}
	if err := p.store(c, false); err != nil {
		return 0, err
	}
	return Stored, p.unpark(c)
}

// Bounds on changes kept waiting for their parents. Peers send changes
// after their parents, so honest changes seldom wait, and one that is
// dropped is sent again by the peer that has it; but every parked change
// is stored before its parents can show it belongs anywhere, so without a
// bound a member could fill the disk with changes whose parents never
// come.
const (
	MaxParkedPerObject = 16 << 20 // bytes: twice the largest change
	MaxParked          = 64 << 20 // bytes, in all
)

// makeRoom refuses c when its object's parked changes would grow past
// their bound, and drops the oldest parked changes (never this store's
// own) while all of them would.
func (p *pipeline) makeRoom(c *change.Change) error {
	n, err := p.tx.ParkedBytes(c.Object)
	if err != nil {
		return err
	}
	if n+int64(len(c.Raw)) > MaxParkedPerObject {
		return Rejectf(c.ID, "%d MiB of changes of its object already wait for parents that have not arrived (at most %d MiB may); send it again after its parents",
			n>>20, MaxParkedPerObject>>20)
	}
	for {
		total, err := p.tx.ParkedBytes(change.ID{})
		if err != nil || total+int64(len(c.Raw)) <= MaxParked {
			return err
		}
		if _, ok, err := p.tx.DropOldestParked(); err != nil {
			return err
		} else if !ok {
			return Rejectf(c.ID, "%d MiB of changes already wait for their parents (at most %d MiB may)", total>>20, MaxParked>>20)
		}
	}
}

// store applies and stores a ready change and updates its object's heads.
func (p *pipeline) store(c *change.Change, local bool) error {
	inert, err := p.app.Apply(p.tx, c, local)
	if err != nil {
		return err
	}
	m := store.MetaOf(c)
	m.Inert, m.Local = inert, local
	seq, _, err := p.tx.PutChange(m, c.Raw)
	if err != nil {
		return err
	}
	p.known[c.ID] = true
	p.metas[c.ID] = parentMeta{object: c.Object, lamport: c.Lamport}
	heads, ok := p.heads[c.Object]
	if !ok && !c.IsRoot() {
		if heads, err = p.tx.Heads(c.Object); err != nil {
			return err
		}
	}
	heads = slices.DeleteFunc(slices.Clone(heads), func(h change.ID) bool { return slices.Contains(c.Parents, h) })
	p.heads[c.Object] = append(heads, c.ID)
	return p.app.Stored(p.tx, c, seq)
}

// waitlist is what an object's parked changes wait for, read once per
// pipeline: waiting[i] counts the parents (and object) of parked change i
// not stored yet, children maps a missing change to the parked ones that
// wait for it.
type waitlist struct {
	metas    []store.ChangeMeta
	raws     [][]byte
	waiting  []int
	children map[change.ID][]int
}

// add puts a parked change on the list.
func (p *pipeline) wait(w *waitlist, m store.ChangeMeta, raw []byte, stored change.ID) error {
	i := len(w.metas)
	w.metas, w.raws, w.waiting = append(w.metas, m), append(w.raws, raw), append(w.waiting, 0)
	for _, q := range append([]change.ID{m.Object}, m.Parents...) {
		have, err := p.has(q)
		if err != nil {
			return err
		}
		if !have || q == stored { // stored now, but it waited for it
			w.waiting[i]++
			w.children[q] = append(w.children[q], i)
		}
	}
	return nil
}

// unpark stores the parked changes of c's object that c's arrival makes
// ready, and those that theirs does, and so on, with a queue rather than
// recursion. The object's parked changes are read once per pipeline, and
// each is looked at once per arrival of one of its parents: linear.
func (p *pipeline) unpark(c *change.Change) error {
	if !p.parked[c.Object] {
		return nil
	}
	w := p.waits[c.Object]
	if w == nil {
		metas, raws, err := p.tx.Parked(c.Object)
		if err != nil {
			return err
		}
		w = &waitlist{children: map[change.ID][]int{}}
		for i := range metas {
			if err := p.wait(w, metas[i], raws[i], c.ID); err != nil {
				return err
			}
		}
		p.waits[c.Object] = w
	}
	queue := []change.ID{c.ID}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		kids := w.children[id]
		delete(w.children, id)
		for _, i := range kids {
			if w.waiting[i]--; w.waiting[i] != 0 {
				continue
			}
			m := w.metas[i]
			if err := p.tx.Unpark(m.ID); err != nil {
				return err
			}
			next, v, err := p.check(Incoming{ID: m.ID, Raw: w.raws[i]})
			if errors.Is(err, ErrRejected) {
				continue // refused now: dropped like any refused change
			}
			if err != nil {
				return err
			}
			if v != ready {
				continue
			}
			switch err := p.store(next, m.Local); {
			case errors.Is(err, ErrRejected):
				continue
			case err != nil:
				return err
			}
			queue = append(queue, next.ID)
		}
	}
	return nil
}

func (p *pipeline) finish() error {
	for obj, heads := range p.heads {
		if err := p.tx.SetHeads(obj, heads); err != nil {
			return err
		}
	}
	return p.app.Finish(p.tx, p.heads)
}

// Verify parses and verifies the signatures of changes ahead of storing
// them, on every core: signature checks are most of the cost of receiving,
// and doing them outside the store's single writer lets them overlap with
// storing the previous batch. Each worker takes verifyChunk changes at a
// time and checks them together (change.VerifyBatch: the same verdicts
// as one by one, faster when an author has several). A change that fails
// is left unverified, and Receive refuses it, saying why.
func Verify(in []Incoming) {
	workers := min(runtime.GOMAXPROCS(0), len(in)/verifyChunk+1)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			ids := make([]change.ID, 0, verifyChunk)
			raws := make([][]byte, 0, verifyChunk)
			for {
				mu.Lock()
				lo := next
				next += verifyChunk
				mu.Unlock()
				if lo >= len(in) {
					return
				}
				chunk := in[lo:min(lo+verifyChunk, len(in))]
				ids, raws = ids[:0], raws[:0]
				for _, c := range chunk {
					ids, raws = append(ids, c.ID), append(raws, c.Raw)
				}
				vs, _ := change.VerifyBatch(ids, raws)
				for i, v := range vs {
					if v.Change() != nil {
						chunk[i].Verified = v
					}
				}
			}
		})
	}
	wg.Wait()
}

// verifyChunk is how many changes a Verify worker takes at a time: enough
// for an author's table to pay (change.VerifyBatch), few enough that a
// sync message of a few hundred changes still spreads over the cores.
const verifyChunk = 64
