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

// Check admits a change into the store of vault, whose members are l. A
// refusal wraps ErrRejected; other errors are the store's.
func Check(tx store.Tx, vault keys.VaultID, l *member.Log, id change.ID, raw []byte) (*change.Change, Verdict, error) {
	// A change already here needs no second verification: what is stored
	// was verified and hashes to id.
	if have, err := tx.HasChange(id); err != nil || have {
		return nil, Duplicate, err
	}
	c, err := change.ParseWithID(id, raw)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrRejected, err)
	}
	if !l.MayAuthor(c.Author, c.Time) {
		return nil, 0, Rejectf(id, "author %x is not a device of this vault", c.Author[:6])
	}
	if c.IsRoot() {
		if c.VaultID != vault {
			return nil, 0, Rejectf(id, "it creates an object in another vault")
		}
		return c, Ready, nil
	}
	for _, p := range append([]change.ID{c.Object}, c.Parents...) {
		have, err := tx.HasChange(p)
		if err != nil {
			return nil, 0, err
		}
		if !have {
			return c, Parked, tx.Park(store.MetaOf(c), raw)
		}
	}
	return c, Ready, nil
}

// Unpark retries an object's parked changes with receive until none can
// proceed. A parked change that is refused now (its content does not apply
// on top of its parents) is dropped like any refused change.
func Unpark(tx store.Tx, object change.ID, receive func(id change.ID, raw []byte) (parked bool, err error)) error {
	for {
		metas, raws, err := tx.Parked(object)
		if err != nil {
			return err
		}
		progress := false
		for i, m := range metas {
			parked, err := receive(m.ID, raws[i])
			if err != nil && !errors.Is(err, ErrRejected) {
				return err
			}
			if err != nil || !parked {
				if err := tx.Unpark(m.ID); err != nil {
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

// Batch receives changes one by one (inside the caller's transaction):
// errs[i] says why change i was refused; err is the first error that is not
// a refusal (a storage error), and then the caller must roll back.
func Batch(in []Incoming, receive func(id change.ID, raw []byte) (Outcome, error)) (outs []Outcome, errs []error, err error) {
	outs, errs = make([]Outcome, len(in)), make([]error, len(in))
	for i, c := range in {
		outs[i], errs[i] = receive(c.ID, c.Raw)
		if errs[i] != nil && !errors.Is(errs[i], ErrRejected) {
			return nil, nil, errs[i]
		}
	}
	return outs, errs, nil
}
