package objsync

import (
	"runtime"
	"testing"

	"pgregory.net/rapid"
)

// lacking, which stops walking once it has classified every change of
// ours, marks exactly what the two whole closures say the peer lacks, on
// any graph and any two sets of heads (ids outside the graph included).
func TestLackingIsTheClosuresDifference(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var g Graph
		n := rapid.IntRange(0, 300).Draw(rt, "changes")
		id := func(i int) ID { return ID{byte(i), byte(i >> 8), 1} }
		for i := range n {
			var parents []ID
			if i > 0 {
				for range rapid.IntRange(0, 3).Draw(rt, "parents") {
					// Mostly recent parents (long chains), sometimes far ones.
					back := rapid.IntRange(1, min(i, 1+rapid.IntRange(0, 1).Draw(rt, "far")*i+4)).Draw(rt, "back")
					parents = append(parents, id(max(0, i-back)))
				}
			}
			if rapid.IntRange(0, 20).Draw(rt, "stranger parent") == 0 {
				parents = append(parents, ID{9, 9, 9}) // not in the graph
			}
			g.Add(id(i), parents, i+1)
		}
		heads := func(label string) []ID {
			var hs []ID
			for range rapid.IntRange(0, 4).Draw(rt, label) {
				if n == 0 || rapid.IntRange(0, 6).Draw(rt, label+" stranger") == 0 {
					hs = append(hs, ID{7, byte(len(hs)), 7}) // a head this side lacks
					continue
				}
				// Heads near the top most often, as peers' are.
				hs = append(hs, id(n-1-rapid.IntRange(0, min(n-1, rapid.IntRange(0, 1).Draw(rt, label+" deep")*n+3)).Draw(rt, label+" back")))
			}
			return hs
		}
		mine, theirs := heads("mine"), heads("theirs")
		want := g.closure(mine)
		wantN := want.minus(g.closure(theirs))
		got, gotN := g.lacking(mine, theirs)
		if gotN != wantN {
			rt.Fatalf("lacking counts %d, the closures %d", gotN, wantN)
		}
		for i := range n {
			if got.has(i) != want.has(i) {
				rt.Fatalf("change %d: lacking says %v, the closures %v", i, got.has(i), want.has(i))
			}
		}
	})
}

// A peer one change behind on a long chain costs a walk of a step or two.
func BenchmarkLackingOneBehind(b *testing.B) {
	var g Graph
	var prev []ID
	const n = 100_000
	for i := range n {
		id := ID{byte(i), byte(i >> 8), byte(i >> 16)}
		g.Add(id, prev, 100)
		prev = []ID{id}
	}
	mine, theirs := []ID{g.ID(n - 1)}, []ID{g.ID(n - 2)}
	b.Run("closures", func(b *testing.B) {
		for b.Loop() {
			l := g.closure(mine)
			l.minus(g.closure(theirs))
		}
	})
	b.Run("lacking", func(b *testing.B) {
		for b.Loop() {
			g.lacking(mine, theirs)
		}
	})
}

// A graph costs some 60 bytes a change (a map of ids alone took 90), and
// finds every change it holds, and none it does not.
func TestGraphIsCompact(t *testing.T) {
	const n = 200_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var g Graph
	var prev []ID
	for i := range n {
		id := ID{byte(i), byte(i >> 8), byte(i >> 16), 2}
		if !g.Add(id, prev, 300) {
			t.Fatalf("change %d not added", i)
		}
		prev = []ID{id}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes a change", per)
	if per > 80 {
		t.Errorf("the graph takes %.0f bytes a change, more than 80", per)
	}
	for i := range n {
		if p, ok := g.Position(ID{byte(i), byte(i >> 8), byte(i >> 16), 2}); !ok || p != i {
			t.Fatalf("change %d found at %d, %v", i, p, ok)
		}
	}
	if _, ok := g.Position(ID{1, 2, 3, 4}); ok {
		t.Fatal("found a change it does not hold")
	}
	if g.Add(g.ID(7), nil, 1) || g.Len() != n {
		t.Fatal("a change added twice")
	}
	runtime.KeepAlive(&g)
}

func BenchmarkGraphAdd(b *testing.B) {
	for b.Loop() {
		var g Graph
		var prev []ID
		for i := range 100_000 {
			id := ID{byte(i), byte(i >> 8), byte(i >> 16)}
			g.Add(id, prev, 100)
			prev = []ID{id}
		}
	}
}
