package crdt

import "sort"

// runIndex finds an actor's runs by counter. It is a two-level sorted
// structure (leaves of at most leafMax runs) so that splitting an old run,
// which inserts in the middle, moves at most a leaf, not every run. firsts
// holds each leaf's first counter, so finding the leaf reads one array
// instead of following two pointers per probe.
type runIndex struct {
	leaves [][]*run
	firsts []uint64
}

const leafMax = 128

// newRunIndex indexes runs sorted by counter.
func newRunIndex(runs []*run) *runIndex {
	n := len(runs)/(leafMax/2) + 1
	x := &runIndex{leaves: make([][]*run, 0, n), firsts: make([]uint64, 0, n)}
	for i := 0; i < len(runs); i += leafMax / 2 {
		x.leaves = append(x.leaves, append(make([]*run, 0, leafMax+1), runs[i:min(i+leafMax/2, len(runs))]...))
		x.firsts = append(x.firsts, runs[i].id.ctr)
	}
	return x
}

func (x *runIndex) leafFor(ctr uint64) int {
	// Last leaf whose first run starts at or before ctr.
	lo, hi := 0, len(x.firsts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if x.firsts[m] > ctr {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return max(lo-1, 0)
}

func (x *runIndex) add(r *run) {
	if len(x.leaves) == 0 {
		x.leaves = append(x.leaves, make([]*run, 0, 8))
		x.firsts = append(x.firsts, r.id.ctr)
	}
	li := len(x.leaves) - 1
	leaf := x.leaves[li]
	if len(leaf) > 0 && leaf[len(leaf)-1].id.ctr > r.id.ctr {
		li = x.leafFor(r.id.ctr)
		leaf = x.leaves[li]
	}
	j := len(leaf)
	if j > 0 && leaf[j-1].id.ctr > r.id.ctr {
		j = sort.Search(len(leaf), func(i int) bool { return leaf[i].id.ctr > r.id.ctr })
	}
	leaf = append(leaf, nil)
	copy(leaf[j+1:], leaf[j:])
	leaf[j] = r
	x.leaves[li] = leaf
	if j == 0 {
		x.firsts[li] = r.id.ctr
	}
	if len(leaf) > leafMax {
		half := len(leaf) / 2
		right := append(make([]*run, 0, leafMax+1), leaf[half:]...)
		x.leaves[li] = leaf[:half:half]
		x.leaves = append(x.leaves, nil)
		copy(x.leaves[li+2:], x.leaves[li+1:])
		x.leaves[li+1] = right
		x.firsts = append(x.firsts, 0)
		copy(x.firsts[li+2:], x.firsts[li+1:])
		x.firsts[li+1] = right[0].id.ctr
	}
}

// find returns the run holding counter ctr, if any.
func (x *runIndex) find(ctr uint64) *run {
	if len(x.leaves) == 0 {
		return nil
	}
	leaf := x.leaves[x.leafFor(ctr)]
	lo, hi := 0, len(leaf)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if leaf[m].id.ctr > ctr {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == 0 {
		return nil
	}
	if r := leaf[lo-1]; ctr < r.id.ctr+uint64(r.n) {
		return r
	}
	return nil
}

// remove takes r out of the index.
func (x *runIndex) remove(r *run) {
	li := x.leafFor(r.id.ctr)
	leaf := x.leaves[li]
	j := sort.Search(len(leaf), func(i int) bool { return leaf[i].id.ctr >= r.id.ctr })
	if j == len(leaf) || leaf[j] != r {
		panic("crdt: removing a run the index does not hold")
	}
	copy(leaf[j:], leaf[j+1:])
	leaf[len(leaf)-1] = nil
	leaf = leaf[:len(leaf)-1]
	if len(leaf) == 0 {
		x.leaves = append(x.leaves[:li], x.leaves[li+1:]...)
		x.firsts = append(x.firsts[:li], x.firsts[li+1:]...)
		return
	}
	x.leaves[li] = leaf
	if j == 0 {
		x.firsts[li] = leaf[0].id.ctr
	}
}

// rekeyed notes that r, which started at counter old, now starts at its
// present first counter (a deletion moved its boundary with a neighbour
// of consecutive counters: its place in the order is the same).
func (x *runIndex) rekeyed(r *run, old uint64) {
	li := x.leafFor(old)
	if x.leaves[li][0] == r {
		x.firsts[li] = r.id.ctr
	}
}
