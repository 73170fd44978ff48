package objsync

import (
	"hash/maphash"
	"math/bits"
)

// Graph is an object's stored changes in a causal order (parents first),
// each with its parents as positions in the graph and its size in bytes.
//
// It is what the machine walks to work out what a peer lacks, so it is
// built to be small and walked without allocating: some 57 bytes a change
// (its id, size, parents and a slot of the index), so an object of a
// million changes takes about 50 MB, and a walk marks positions in bit
// sets rather than ids in maps. A store's view builds it once per object
// and appends the changes stored since (Add); the machine only reads it.
type Graph struct {
	ids     []ID
	sizes   []int32
	parents []int32 // the parents of change i are parents[ends[i-1]:ends[i]]
	ends    []int32
	// slots index ids by hash, open addressing with linear probing: each
	// holds a position + 1 (0: empty); at most half are full. A map of
	// ids would take some 90 bytes a change, most of the graph.
	slots []int32
}

// seed keys the index's hash: change ids are hashes of their bytes, but a
// graph of ids made up (in a test) or ground to collide must not make
// lookups slow.
var seed = maphash.MakeSeed()

// find is the slot of id: where it is, or the empty slot it would go in.
func (g *Graph) find(id *ID) (slot int, pos int32, found bool) {
	mask := len(g.slots) - 1
	for h := int(maphash.Comparable(seed, *id)) & mask; ; h = (h + 1) & mask {
		p := g.slots[h]
		if p == 0 {
			return h, 0, false
		}
		if g.ids[p-1] == *id {
			return h, p - 1, true
		}
	}
}

// grow doubles the index (or makes its first) and puts every id back.
func (g *Graph) grow() {
	g.slots = make([]int32, max(4, 2*len(g.slots)))
	for i := range g.ids {
		h, _, _ := g.find(&g.ids[i])
		g.slots[h] = int32(i + 1)
	}
}

// Add appends a change, stored after every change already in the graph.
// A parent not in the graph (not stored in this object) is left out: it
// has no known ancestors, which is what a walk makes of an id it lacks.
// Adding a change already there does nothing, and reports false.
func (g *Graph) Add(id ID, parents []ID, size int) bool {
	if 2*(len(g.ids)+1) > len(g.slots) {
		g.grow()
	}
	slot, _, found := g.find(&id)
	if found {
		return false
	}
	for i := range parents {
		if _, p, ok := g.find(&parents[i]); ok {
			g.parents = append(g.parents, p)
		}
	}
	g.slots[slot] = int32(len(g.ids) + 1)
	g.ids = append(g.ids, id)
	g.sizes = append(g.sizes, int32(min(size, 1<<31-1)))
	g.ends = append(g.ends, int32(len(g.parents)))
	return true
}

// Bytes is about what the graph takes in memory.
func (g *Graph) Bytes() int {
	if g == nil {
		return 0
	}
	return 120 + cap(g.ids)*len(ID{}) + 4*(cap(g.sizes)+cap(g.parents)+cap(g.ends)+cap(g.slots))
}

// Len is the number of changes in the graph.
func (g *Graph) Len() int {
	if g == nil {
		return 0
	}
	return len(g.ids)
}

// ID is the change at position i.
func (g *Graph) ID(i int) ID { return g.ids[i] }

// Size is the size in bytes of the change at position i.
func (g *Graph) Size(i int) int { return int(g.sizes[i]) }

// Position is where the change id is in the graph.
func (g *Graph) Position(id ID) (int, bool) {
	if g == nil || len(g.slots) == 0 {
		return 0, false
	}
	_, p, ok := g.find(&id)
	return int(p), ok
}

// closure marks the changes heads name and all their ancestors (what
// lacking computes without walking it all; the tests compare the two).
func (g *Graph) closure(heads []ID) bitset {
	in := newBitset(g.Len())
	var stack []int32
	for _, h := range heads {
		if i, ok := g.Position(h); ok {
			stack = append(stack, int32(i))
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if in.has(int(i)) {
			continue
		}
		in.set(int(i))
		lo := int32(0)
		if i > 0 {
			lo = g.ends[i-1]
		}
		for _, p := range g.parents[lo:g.ends[i]] {
			if !in.has(int(p)) {
				stack = append(stack, p)
			}
		}
	}
	return in
}

// lacking marks the changes in the closure of mine that are not in the
// closure of theirs, and counts them.
//
// Parents come before their children in the graph, so a walk down the
// positions from the highest head meets every child of a change before
// the change: by then it is known whether the change is an ancestor of
// theirs. The walk stops once no change of ours is left unclassified,
// so its cost is what lies above the lowest change of ours the peer
// lacks, not the graph: a peer one change behind on a page of a million
// changes costs two steps, not two million.
func (g *Graph) lacking(mine, theirs []ID) (bitset, int) {
	want, known := newBitset(g.Len()), newBitset(g.Len())
	top, open := -1, 0 // open: changes in want, not in known, not yet walked
	for _, h := range theirs {
		if i, ok := g.Position(h); ok {
			known.set(i)
			top = max(top, i)
		}
	}
	for _, h := range mine {
		if i, ok := g.Position(h); ok && !want.has(i) {
			want.set(i)
			if !known.has(i) {
				open++
			}
			top = max(top, i)
		}
	}
	n := 0
	for i := top; i >= 0 && open > 0; i-- {
		if w := i / 64; want[w]|known[w] == 0 {
			i = w * 64 // skip the empty word (the loop steps below it)
			continue
		}
		k, ours := known.has(i), want.has(i)
		if !k && !ours {
			continue
		}
		if ours && !k {
			open--
			n++
		}
		lo := int32(0)
		if i > 0 {
			lo = g.ends[i-1]
		}
		for _, p := range g.parents[lo:g.ends[i]] {
			switch {
			case k && !known.has(int(p)):
				known.set(int(p))
				if want.has(int(p)) {
					open--
				}
			case !k && !want.has(int(p)):
				want.set(int(p))
				if !known.has(int(p)) {
					open++
				}
			}
		}
	}
	want.minus(known)
	return want, n
}

// bitset is a set of graph positions.
type bitset []uint64

func newBitset(n int) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }

// minus removes from b what is in c and counts what is left.
func (b bitset) minus(c bitset) int {
	n := 0
	for w := range b {
		b[w] &^= c[w]
		n += bits.OnesCount64(b[w])
	}
	return n
}

// each calls f with each position in b, in order, until f returns false.
func (b bitset) each(f func(int) bool) {
	for w, x := range b {
		for x != 0 {
			i := bits.TrailingZeros64(x)
			if !f(w*64 + i) {
				return
			}
			x &^= 1 << i
		}
	}
}
