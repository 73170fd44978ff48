package diff

import "sort"

// Lines returns an edit script turning a into b, for sequences of lines or
// blocks, where Diff's search can cost the product of their lengths: the
// common prefix and suffix are trimmed; elements that occur exactly once in
// each are matched along the longest increasing run of their positions
// (patience diff), and each gap between two matches is diffed the same way,
// down to gaps small enough (or without unique elements) for Diff. On
// sequences whose elements are all distinct (ids) the result is a longest
// common subsequence, in O(n log n).
func Lines[T comparable](a, b []T) []Edit {
	var out []Edit
	add := func(k Kind, x, y, n int) {
		if n == 0 {
			return
		}
		if i := len(out) - 1; i >= 0 && out[i].Kind == k {
			out[i].N += n
			return
		}
		out = append(out, Edit{k, x, y, n})
	}
	var span func(a0, a1, b0, b1 int)
	span = func(a0, a1, b0, b1 int) {
		for a0 < a1 && b0 < b1 && a[a0] == b[b0] {
			add(Equal, a0, b0, 1)
			a0, b0 = a0+1, b0+1
		}
		suf := 0
		for a1-suf > a0 && b1-suf > b0 && a[a1-1-suf] == b[b1-1-suf] {
			suf++
		}
		a1, b1 = a1-suf, b1-suf
		defer add(Equal, a1, b1, suf)
		if a0 == a1 || b0 == b1 {
			add(Delete, a0, b0, a1-a0)
			add(Insert, a1, b0, b1-b0)
			return
		}
		anchors := uniqueMatches(a, b, a0, a1, b0, b1)
		if len(anchors) == 0 || (a1-a0)+(b1-b0) <= 64 {
			for _, e := range Diff(a[a0:a1], b[b0:b1]) {
				add(e.Kind, e.A+a0, e.B+b0, e.N)
			}
			return
		}
		x, y := a0, b0
		for _, m := range anchors {
			span(x, m[0], y, m[1])
			add(Equal, m[0], m[1], 1)
			x, y = m[0]+1, m[1]+1
		}
		span(x, a1, y, b1)
	}
	span(0, len(a), 0, len(b))
	return out
}

// uniqueMatches pairs the elements that occur exactly once in a[a0:a1]
// and once in b[b0:b1], and keeps the longest run of pairs increasing in
// both, in order.
func uniqueMatches[T comparable](a, b []T, a0, a1, b0, b1 int) [][2]int {
	type seen struct{ na, nb, ia, ib int }
	count := make(map[T]*seen, a1-a0)
	for i := a0; i < a1; i++ {
		s := count[a[i]]
		if s == nil {
			s = &seen{}
			count[a[i]] = s
		}
		s.na++
		s.ia = i
	}
	for j := b0; j < b1; j++ {
		if s := count[b[j]]; s != nil {
			s.nb++
			s.ib = j
		}
	}
	var pairs [][2]int // in a's order
	for i := a0; i < a1; i++ {
		if s := count[a[i]]; s.na == 1 && s.nb == 1 {
			pairs = append(pairs, [2]int{i, s.ib})
		}
	}
	return longestIncreasing(pairs)
}

// longestIncreasing returns the longest subsequence of pairs whose second
// elements increase (patience sorting).
func longestIncreasing(pairs [][2]int) [][2]int {
	var tails []int // index in pairs of the smallest tail of each length
	prev := make([]int, len(pairs))
	for i, p := range pairs {
		k := sort.Search(len(tails), func(k int) bool { return pairs[tails[k]][1] >= p[1] })
		if k > 0 {
			prev[i] = tails[k-1]
		} else {
			prev[i] = -1
		}
		if k == len(tails) {
			tails = append(tails, i)
		} else {
			tails[k] = i
		}
	}
	if len(tails) == 0 {
		return nil
	}
	out := make([][2]int, len(tails))
	for i, k := len(tails)-1, tails[len(tails)-1]; i >= 0; i, k = i-1, prev[k] {
		out[i] = pairs[k]
	}
	return out
}
