package crdt

import "fmt"

// exchange is the causal bookkeeping of replicas trading changes, which
// the property tests share: every change made, the changes its author had
// applied when making it (deps), and which changes each replica has.
type exchange struct {
	changes []*Change
	deps    [][]int
	have    [][]bool
}

// made records ch, just committed on replica dev.
func (x *exchange) made(dev int, ch *Change) {
	var deps []int
	for c, ok := range x.have[dev] {
		if ok {
			deps = append(deps, c)
		}
	}
	x.changes = append(x.changes, ch)
	x.deps = append(x.deps, deps)
	for i := range x.have {
		x.have[i] = append(x.have[i], i == dev)
	}
}

// ready reports whether replica dev lacks change c and has all it depends on.
func (x *exchange) ready(dev, c int) bool {
	if x.have[dev][c] {
		return false
	}
	for _, p := range x.deps[c] {
		if !x.have[dev][p] {
			return false
		}
	}
	return true
}

// readyFor lists the changes replica dev could apply now.
func (x *exchange) readyFor(dev int) []int {
	var out []int
	for c := range x.changes {
		if x.ready(dev, c) {
			out = append(out, c)
		}
	}
	return out
}

// indexesHold checks every text's run index against its runs: each run
// found at each of its counters, each leaf's first counter recorded.
func indexesHold(d *Doc) error {
	for _, b := range d.list {
		t := b.text
		for act, x := range t.index {
			if len(x.firsts) != len(x.leaves) {
				return fmt.Errorf("actor %d: %d leaves, %d firsts", act, len(x.leaves), len(x.firsts))
			}
			for i, leaf := range x.leaves {
				if len(leaf) == 0 || x.firsts[i] != leaf[0].id.ctr {
					return fmt.Errorf("actor %d: leaf %d starts at %v, recorded %d", act, i, leaf, x.firsts[i])
				}
			}
		}
		for _, c := range t.chunks {
			for _, r := range c.runs {
				for _, ctr := range []uint64{r.id.ctr, r.id.ctr + uint64(r.n) - 1} {
					if got := t.index[r.id.act].find(ctr); got != r {
						return fmt.Errorf("counter %d of a run is found in another run", ctr)
					}
				}
			}
		}
	}
	return nil
}
