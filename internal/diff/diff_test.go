package diff

import (
	"testing"

	"pgregory.net/rapid"
)

func apply(a, b []byte, es []Edit) []byte {
	var out []byte
	for _, e := range es {
		switch e.Kind {
		case Equal:
			out = append(out, a[e.A:e.A+e.N]...)
		case Insert:
			out = append(out, b[e.B:e.B+e.N]...)
		}
	}
	return out
}

// lcs is the textbook O(nm) longest common subsequence length.
func lcs(a, b []byte) int {
	prev := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				cur[j] = prev[j-1] + 1
			} else {
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev = cur
	}
	return prev[len(b)]
}

func TestDiffIsCorrectAndShortest(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		alpha := rapid.SliceOfN(rapid.ByteRange('a', 'd'), 0, 30)
		a, b := alpha.Draw(t, "a"), alpha.Draw(t, "b")
		es := Diff(a, b)
		if got := apply(a, b, es); string(got) != string(b) {
			t.Fatalf("applying the script gives %q, want %q", got, b)
		}
		cost := 0
		for _, e := range es {
			if e.Kind != Equal {
				cost += e.N
			}
		}
		if want := len(a) + len(b) - 2*lcs(a, b); cost != want {
			t.Fatalf("script costs %d edits, shortest is %d", cost, want)
		}
	})
}

func TestDiffFallsBackPastMaxEdits(t *testing.T) {
	a := make([]int, MaxEdits+10)
	b := make([]int, MaxEdits+10)
	for i := range a {
		a[i], b[i] = 2*i, 2*i+1
	}
	es := Diff(a, b)
	if len(es) != 2 || es[0].Kind != Delete || es[1].Kind != Insert || es[0].N != len(a) || es[1].N != len(b) {
		t.Fatalf("want one delete and one insert, got %+v", es)
	}
}
