package trace

import (
	"fmt"
	"math/rand/v2"

	"mycel/internal/crdt"
)

// Sequential replays a sequential trace as local edits of one actor in one
// paragraph block, one change per transaction, and returns the document and
// block. The caller compares Text(block) with EndContent.
func Sequential(t *Trace) (*crdt.Doc, crdt.ID) {
	d := crdt.NewDoc()
	tx := d.Begin("replayer")
	blk := tx.InsertBlock(crdt.ID{}, crdt.ID{}, crdt.TypeParagraph)
	tx.InsertText(blk, 0, t.StartContent)
	tx.Commit()
	for i := range t.Txns {
		tx := d.Begin("replayer")
		applyPatches(tx, blk, t.Txns[i].Patches)
		tx.Commit()
	}
	return d, blk
}

func applyPatches(tx *crdt.Tx, blk crdt.ID, ps []Patch) {
	for _, p := range ps {
		tx.DeleteText(blk, p.Pos, p.Del)
		tx.InsertText(blk, p.Pos, p.Ins)
	}
}

// History is a concurrent trace replayed into changes: Changes[i] is txn i
// (Changes[0] also creates the block), Deps[i] the txns it depends on.
type History struct {
	Changes []*crdt.Change
	Deps    [][]int
	Block   crdt.ID
	// Final is the text of the replica that made the last txn.
	Final string
}

// Concurrent replays a concurrent trace with one replica per branch: a txn
// runs on its first parent's replica (forked when that parent has more
// children to come) with the other parents' changes merged in, exactly as
// DESIGN.md describes. Each agent is an actor.
func Concurrent(t *Trace) (*History, error) {
	n := len(t.Txns)
	h := &History{Changes: make([]*crdt.Change, n), Deps: make([][]int, n)}
	type replica struct {
		doc  *crdt.Doc
		have []bool
	}
	replicas := make([]*replica, n) // replica that ran txn i, while children remain
	pending := make([]int, n)
	for i, tx := range t.Txns {
		pending[i] = tx.NumChildren
	}
	// A block every txn can address; made by a setup actor that sorts first.
	setup := crdt.NewDoc()
	stx := setup.Begin("\x00setup")
	h.Block = stx.InsertBlock(crdt.ID{}, crdt.ID{}, crdt.TypeCode)
	setupChange := stx.Commit()

	var last *replica
	for i, tx := range t.Txns {
		var r *replica
		if len(tx.Parents) == 0 {
			r = &replica{doc: setup.Clone(), have: make([]bool, n)}
		} else {
			p := tx.Parents[0]
			base := replicas[p]
			if base == nil {
				return nil, fmt.Errorf("txn %d: parent %d has no replica left", i, p)
			}
			pending[p]--
			if pending[p] > 0 {
				r = &replica{doc: base.doc.Clone(), have: append([]bool(nil), base.have...)}
			} else {
				r = base
				replicas[p] = nil
			}
			for _, q := range tx.Parents[1:] {
				if err := mergeClosure(r.doc, r.have, q, h); err != nil {
					return nil, fmt.Errorf("txn %d: merge parent %d: %w", i, q, err)
				}
				if pending[q]--; pending[q] == 0 {
					replicas[q] = nil
				}
			}
		}
		ltx := r.doc.Begin(fmt.Sprintf("agent-%04d", tx.Agent))
		applyPatches(ltx, h.Block, tx.Patches)
		ch := ltx.Commit()
		if ch == nil { // an empty txn still takes its place in the DAG
			ch = &crdt.Change{}
		}
		h.Changes[i] = ch
		h.Deps[i] = tx.Parents
		r.have[i] = true
		if tx.NumChildren > 0 {
			replicas[i] = r
		}
		last = r
	}
	if last != nil {
		h.Final = last.doc.Text(h.Block)
	}
	h.Changes = append([]*crdt.Change{setupChange}, h.Changes...)
	// Shift deps by one for the setup change, which every root txn depends on.
	for i := range h.Deps {
		deps := make([]int, 0, len(h.Deps[i])+1)
		if len(h.Deps[i]) == 0 {
			deps = append(deps, 0)
		}
		for _, p := range h.Deps[i] {
			deps = append(deps, p+1)
		}
		h.Deps[i] = deps
	}
	h.Deps = append([][]int{nil}, h.Deps...)
	return h, nil
}

// mergeClosure applies to doc every change in the causal closure of txn q
// that it lacks, in txn order (a topological order).
func mergeClosure(doc *crdt.Doc, have []bool, q int, h *History) error {
	need := map[int]bool{}
	stack := []int{q}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if have[x] || need[x] {
			continue
		}
		need[x] = true
		stack = append(stack, h.Deps[x]...)
	}
	for x := 0; x <= q; x++ {
		if need[x] {
			if ch := h.Changes[x]; len(ch.Ops) > 0 {
				if err := doc.Apply(ch); err != nil {
					return fmt.Errorf("apply txn %d: %w", x, err)
				}
			}
			have[x] = true
		}
	}
	return nil
}

// Deliver applies all changes of h to a fresh document in a random causal
// order drawn from rng, delivering each change dup+1 times (a replayed change
// is recognised and skipped, as the object layer does by change ID).
func Deliver(h *History, rng *rand.Rand, dup int) (*crdt.Doc, error) {
	n := len(h.Changes)
	children := make([][]int, n)
	missing := make([]int, n)
	for i, deps := range h.Deps {
		missing[i] = len(deps)
		for _, p := range deps {
			children[p] = append(children[p], i)
		}
	}
	var ready []int
	for i := range missing {
		if missing[i] == 0 {
			ready = append(ready, i)
		}
	}
	d := crdt.NewDoc()
	applied := make([]bool, n)
	for len(ready) > 0 {
		k := rng.IntN(len(ready))
		x := ready[k]
		ready[k] = ready[len(ready)-1]
		ready = ready[:len(ready)-1]
		for c := 0; c <= dup; c++ {
			if applied[x] {
				continue // duplicate delivery
			}
			if ch := h.Changes[x]; len(ch.Ops) > 0 {
				if err := d.Apply(ch); err != nil {
					return nil, fmt.Errorf("change %d: %w", x, err)
				}
			}
			applied[x] = true
		}
		for _, c := range children[x] {
			if missing[c]--; missing[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	return d, nil
}
