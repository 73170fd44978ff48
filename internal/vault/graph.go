package vault

import (
	"slices"

	"mycel/internal/change"
	"mycel/internal/store"
)

// The few walks of an object's change graph the engine does, once.

// parentsOf maps each change of metas to its parents.
func parentsOf(metas []store.ChangeMeta) map[change.ID][]change.ID {
	out := make(map[change.ID][]change.ID, len(metas))
	for _, m := range metas {
		out[m.ID] = m.Parents
	}
	return out
}

// ancestry is the set of changes from and every change they reach by
// parent links in parents.
func ancestry(parents map[change.ID][]change.ID, from []change.ID) map[change.ID]bool {
	in := map[change.ID]bool{}
	stack := slices.Clone(from)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !in[x] {
			in[x] = true
			stack = append(stack, parents[x]...)
		}
	}
	return in
}

// headsOf lists, in metas' order, the changes that in selects and that no
// other selected change names as a parent.
func headsOf(metas []store.ChangeMeta, in func(*store.ChangeMeta) bool) []change.ID {
	named := map[change.ID]bool{}
	for i := range metas {
		if in(&metas[i]) {
			for _, p := range metas[i].Parents {
				named[p] = true
			}
		}
	}
	var heads []change.ID
	for i := range metas {
		if in(&metas[i]) && !named[metas[i].ID] {
			heads = append(heads, metas[i].ID)
		}
	}
	return heads
}

// openStored reads a stored change and its payload; bytes that no longer
// hash to their id, or a payload that does not open, are a *damagedError.
func openStored(key [32]byte, id change.ID, raw []byte) (*change.Change, *change.Payload, error) {
	c, err := change.Decode(id, raw)
	if err != nil {
		return nil, nil, &damagedError{change: id, err: err}
	}
	p, err := c.Open(key)
	if err != nil {
		return nil, nil, &damagedError{change: id, err: err}
	}
	return c, p, nil
}
