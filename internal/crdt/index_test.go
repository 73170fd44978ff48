package crdt

import (
	"strings"
	"testing"
)

// Deleting the first or last character of a run next to a deleted run it
// continues moves the boundary between two runs of consecutive counters;
// where one of them starts a leaf of the actor's index, the index must
// follow. One actor's text cut into hundreds of runs (several leaves),
// then such deletes at every run, received by a replica (remote deletes
// take this path) whose index is checked after each.
func TestIndexFollowsMovedBoundaries(t *testing.T) {
	for n := 390; n < 396; n++ {
		for _, c := range []struct{ shift, fromEnd int }{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
			shift, fromEnd := c.shift, c.fromEnd == 1
			d, r := NewDoc(), NewDoc()
			send := func(ch *Change) {
				t.Helper()
				if err := r.Apply(ch); err != nil {
					t.Fatal(err)
				}
			}
			tx := d.Begin("a")
			blk := tx.InsertBlock(ID{}, ID{}, TypeParagraph)
			tx.InsertText(blk, 0, strings.Repeat("x", n))
			send(tx.Commit())
			// Delete every third character: deleted runs of 1 between
			// visible runs of 2 (continuing one another: consecutive
			// counters typed in one go), about 2n/3 runs in all; shift
			// starts with a visible run, so that leaves of the index
			// (split in halves) start with visible runs too.
			for pos := 0; shift+pos*2 < len([]rune(d.Text(blk))); pos++ {
				tx := d.Begin("a")
				tx.DeleteText(blk, shift+pos*2, 1)
				send(tx.Commit())
			}
			if err := indexesHold(r); err != nil {
				t.Fatalf("n %d, cut: %v", n, err)
			}
			// Now delete one character of each visible run of two, next
			// to a deleted neighbour: its first (after the deleted run
			// before it) or its last (before the deleted run after it).
			vis := len([]rune(d.Text(blk)))
			for i := (vis-shift)/2 - 1; i >= 0; i-- {
				at := shift + 2*i
				if fromEnd {
					at++
				}
				tx := d.Begin("a")
				tx.DeleteText(blk, at, 1)
				send(tx.Commit())
				if err := indexesHold(r); err != nil {
					t.Fatalf("n %d, from the end %v, delete at %d: %v", n, fromEnd, at, err)
				}
			}
			if r.Text(blk) != d.Text(blk) {
				t.Fatalf("n %d: the replica reads %q", n, r.Text(blk))
			}
		}
	}
}

// The index after a boundary moved between two runs of consecutive
// counters, where the second starts a leaf: every counter is found in the
// run that holds it (leafFor reads the recorded first counters).
func TestRekeyedAtLeafStarts(t *testing.T) {
	for _, grow := range []bool{true, false} {
		var runs []*run
		for i := range 300 {
			runs = append(runs, &run{id: iid{uint64(2*i + 1), 0}, n: 2})
		}
		x := newRunIndex(runs)
		for li := 1; li < len(x.leaves); li++ {
			r := x.leaves[li][0]
			var p *run
			for i, y := range runs {
				if y == r {
					p = runs[i-1]
				}
			}
			old := r.id.ctr
			if grow { // p takes r's first counter
				p.n++
				r.id.ctr++
				r.n--
			} else { // r takes p's last counter
				p.n--
				r.id.ctr--
				r.n++
			}
			x.rekeyed(r, old)
		}
		for _, r := range runs {
			for c := r.id.ctr; c < r.id.ctr+uint64(r.n); c++ {
				if got := x.find(c); got != r {
					t.Fatalf("grow %v: counter %d found in %v, not in %v", grow, c, got, r)
				}
			}
		}
	}
}
