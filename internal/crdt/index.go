package crdt

import "sort"

// runIndex finds an actor's runs by counter. It is a two-level sorted
// structure (leaves of at most leafMax runs) so that splitting an old run,
// which inserts in the middle, moves at most a leaf, not every run.
type runIndex struct {
	leaves [][]*run
}

const leafMax = 128

func (x *runIndex) leafFor(ctr uint64) int {
	// Last leaf whose first run starts at or before ctr.
	i := sort.Search(len(x.leaves), func(i int) bool { return x.leaves[i][0].id.ctr > ctr }) - 1
	if i < 0 {
		return 0
	}
	return i
}

func (x *runIndex) add(r *run) {
	if len(x.leaves) == 0 {
		x.leaves = append(x.leaves, make([]*run, 0, 8))
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
	if len(leaf) > leafMax {
		half := len(leaf) / 2
		right := append(make([]*run, 0, leafMax+1), leaf[half:]...)
		x.leaves[li] = leaf[:half:half]
		x.leaves = append(x.leaves, nil)
		copy(x.leaves[li+2:], x.leaves[li+1:])
		x.leaves[li+1] = right
	}
}

// find returns the run holding counter ctr, if any.
func (x *runIndex) find(ctr uint64) *run {
	if len(x.leaves) == 0 {
		return nil
	}
	leaf := x.leaves[x.leafFor(ctr)]
	j := sort.Search(len(leaf), func(i int) bool { return leaf[i].id.ctr > ctr }) - 1
	if j < 0 {
		return nil
	}
	if r := leaf[j]; ctr < r.id.ctr+uint64(r.n) {
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
		x.leaves = append(x.leaves[:li], x.leaves[li+1:]...) // leafFor reads every leaf's first run
		return
	}
	x.leaves[li] = leaf
}
