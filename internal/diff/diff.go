// Package diff computes shortest edit scripts between two sequences (Myers'
// O(ND) algorithm, with common prefix and suffix trimmed first). The merge
// engine uses it to turn a new text into minimal character operations, the
// CLI to show line diffs between versions.
package diff

// Kind is the kind of an Edit.
type Kind uint8

// Edit kinds.
const (
	Equal Kind = iota
	Insert
	Delete
)

// Edit covers a[A:A+N] (Equal, Delete) and b[B:B+N] (Equal, Insert); an
// Insert goes before a[A], a Delete comes from before b[B].
type Edit struct {
	Kind Kind
	A, B int
	N    int
}

// Diff returns a shortest edit script turning a into b, as maximal runs in
// order: applying them left to right to a yields b.
func Diff[T comparable](a, b []T) []Edit {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var out []Edit
	add := func(e Edit) {
		if e.N == 0 {
			return
		}
		if k := len(out) - 1; k >= 0 && out[k].Kind == e.Kind {
			out[k].N += e.N
			return
		}
		out = append(out, e)
	}
	add(Edit{Equal, 0, 0, pre})
	for _, e := range myers(a[pre:len(a)-suf], b[pre:len(b)-suf]) {
		e.A += pre
		e.B += pre
		add(e)
	}
	add(Edit{Equal, len(a) - suf, len(b) - suf, suf})
	return out
}

// MaxEdits bounds the search: past this many differences (memory grows with
// their square), or once the search has done maxWork steps, the differing
// middle is reported as one delete and one insert, which is still a correct
// script, just not a shortest one.
const MaxEdits = 4096

// maxWork bounds the steps of one search (each step extends one diagonal
// by at least one element): a few tenths of a second.
const maxWork = 1 << 26

// myers returns unit edits (N = 1) from a forward greedy search with a
// trace of the diagonals reached at each step, walked back to recover the
// path.
func myers[T comparable](a, b []T) []Edit {
	n, m := len(a), len(b)
	if n == 0 && m == 0 {
		return nil
	}
	max := n + m
	off := max + 1
	v := make([]int, 2*max+3)
	// trace[d] holds v[off-d-1 .. off+d+1] as it was before step d.
	var trace [][]int
	var d int
outer:
	for d = 0; d <= max; d++ {
		if d > MaxEdits || d*(n+m) > maxWork {
			return []Edit{{Delete, 0, 0, n}, {Insert, n, 0, m}}
		}
		lo, hi := off-d-1, off+d+2
		if lo < 0 {
			lo = 0
		}
		if hi > len(v) {
			hi = len(v)
		}
		trace = append(trace, append([]int(nil), v[lo:hi]...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				break outer
			}
		}
	}
	// Walk back.
	var rev []Edit
	x, y := n, m
	for ; d > 0; d-- {
		lo := off - d - 1
		if lo < 0 {
			lo = 0
		}
		saved := trace[d]
		vp := func(i int) int { return saved[i-lo] }
		k := x - y
		var pk int
		if k == -d || (k != d && vp(off+k-1) < vp(off+k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := vp(off + pk)
		py := px - pk
		for x > px && y > py {
			x--
			y--
			rev = append(rev, Edit{Equal, x, y, 1})
		}
		if x == px {
			y--
			rev = append(rev, Edit{Insert, x, y, 1})
		} else {
			x--
			rev = append(rev, Edit{Delete, x, y, 1})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, Edit{Equal, x, y, 1})
	}
	out := make([]Edit, len(rev))
	for i := range rev {
		out[i] = rev[len(rev)-1-i]
	}
	return out
}
