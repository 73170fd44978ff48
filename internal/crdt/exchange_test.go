package crdt

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
