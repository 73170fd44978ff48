// Package admit holds what every store does with a change received from
// elsewhere before applying it, the same on a device and on a node: skip a
// duplicate, verify the envelope (id, signature, size), check the author is
// a device of the vault, check a root belongs to the vault, and park a
// change whose parents have not arrived. And, once a change is stored, it
// retries the parked changes that were waiting for it.
package admit

import (
	"errors"
	"fmt"
	"runtime"
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

// Verdict is what admission decided.
type Verdict int

// Verdicts.
const (
	Ready     Verdict = iota // verified, parents present: apply and store it
	Duplicate                // already stored
	Parked                   // verified and parked until its parents arrive
)

// Admission admits the changes received in one transaction. It remembers
// what the transaction stored and which objects have parked changes, so
// that a change arriving after its parents (the usual case) costs one
// store read, not one per parent.
type Admission struct {
	tx      store.Tx
	vault   keys.VaultID
	members *member.Log
	known   map[change.ID]bool // whether stored, for changes looked up or stored by this transaction
	parked  map[change.ID]bool // objects with parked changes
}

// Begin starts admitting changes into the store of vault, whose members
// are l, inside tx; in are the changes about to be checked, whose
// presence it looks up at once rather than one by one.
func Begin(tx store.Tx, vault keys.VaultID, l *member.Log, in []Incoming) (*Admission, error) {
	objs, err := tx.ParkedObjects()
	if err != nil {
		return nil, err
	}
	a := &Admission{tx: tx, vault: vault, members: l, known: map[change.ID]bool{}, parked: map[change.ID]bool{}}
	for _, o := range objs {
		a.parked[o] = true
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
		a.known[id] = stored[id]
	}
	return a, nil
}

// has reports whether a change is stored.
func (a *Admission) has(id change.ID) (bool, error) {
	if have, ok := a.known[id]; ok {
		return have, nil
	}
	return a.tx.HasChange(id)
}

// Check admits a change. A refusal wraps ErrRejected; other errors are
// the store's. The caller stores a Ready change and then calls Stored.
func (a *Admission) Check(in Incoming) (*change.Change, Verdict, error) {
	id, raw := in.ID, in.Raw
	// A change already here needs no second verification: what is stored
	// was verified and hashes to id.
	if have, err := a.has(id); err != nil || have {
		return nil, Duplicate, err
	}
	c := in.Verified.Change()
	if c == nil || c.ID != id {
		v, err := change.Verify(id, raw)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrRejected, err)
		}
		c = v.Change()
	}
	if !a.members.MayAuthor(c.Author, c.Time) {
		return nil, 0, Rejectf(id, "author %x is not a device of this vault", c.Author[:6])
	}
	if c.IsRoot() {
		if c.VaultID != a.vault {
			return nil, 0, Rejectf(id, "it creates an object in another vault")
		}
		return c, Ready, nil
	}
	for _, p := range append([]change.ID{c.Object}, c.Parents...) {
		have, err := a.has(p)
		if err != nil {
			return nil, 0, err
		}
		if !have {
			a.parked[c.Object] = true
			return c, Parked, a.tx.Park(store.MetaOf(c), raw)
		}
	}
	return c, Ready, nil
}

// Stored records that the transaction stored a change Check found Ready.
func (a *Admission) Stored(c *change.Change) { a.known[c.ID] = true }

// Unpark retries an object's parked changes with receive until none can
// proceed. A parked change that is refused now (its content does not apply
// on top of its parents) is dropped like any refused change.
func (a *Admission) Unpark(object change.ID, receive func(Incoming) (parked bool, err error)) error {
	if !a.parked[object] {
		return nil
	}
	for {
		metas, raws, err := a.tx.Parked(object)
		if err != nil {
			return err
		}
		if len(metas) == 0 {
			delete(a.parked, object)
			return nil
		}
		progress := false
		for i, m := range metas {
			parked, err := receive(Incoming{ID: m.ID, Raw: raws[i]})
			if err != nil && !errors.Is(err, ErrRejected) {
				return err
			}
			if err != nil || !parked {
				if err := a.tx.Unpark(m.ID); err != nil {
					return err
				}
				progress = true
			}
		}
		if !progress {
			return nil
		}
	}
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

// Verify parses and verifies the signatures of changes ahead of storing
// them, on every core: signature checks are most of the cost of receiving,
// and doing them outside the store's single writer lets them overlap with
// storing the previous batch. A change that fails is left unparsed, and
// Check refuses it, saying why.
func Verify(in []Incoming) {
	workers := min(runtime.GOMAXPROCS(0), len(in)/verifyChunk+1)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				lo := next
				next += verifyChunk
				mu.Unlock()
				if lo >= len(in) {
					return
				}
				for i := lo; i < min(lo+verifyChunk, len(in)); i++ {
					if v, err := change.Verify(in[i].ID, in[i].Raw); err == nil {
						in[i].Verified = v
					}
				}
			}
		})
	}
	wg.Wait()
}

// verifyChunk is how many changes a Verify worker takes at a time.
const verifyChunk = 16

// Outcome is what became of a received change.
type Outcome int

// Outcomes.
const (
	Stored  Outcome = iota // verified (and, on a device, applied) and stored
	Stale                  // already here
	Waiting                // verified, parked until its parents arrive
)

func (o Outcome) String() string { return [...]string{"stored", "duplicate", "parked"}[o] }

// Batch receives changes one by one (inside the caller's transaction):
// errs[i] says why change i was refused; err is the first error that is not
// a refusal (a storage error), and then the caller must roll back.
func Batch(in []Incoming, receive func(Incoming) (Outcome, error)) (outs []Outcome, errs []error, err error) {
	outs, errs = make([]Outcome, len(in)), make([]error, len(in))
	for i, c := range in {
		outs[i], errs[i] = receive(c)
		if errs[i] != nil && !errors.Is(errs[i], ErrRejected) {
			return nil, nil, errs[i]
		}
	}
	return outs, errs, nil
}
