package vault

import (
	"testing"
	"time"

	"mycel/internal/change"
)

// TestTextIndexedStaysSmall: when each object's text was last indexed is
// kept only while it matters (its wait), not for every object this engine
// ever indexed: a first sync indexes every object of the vault once.
func TestTextIndexedStaysSmall(t *testing.T) {
	e := &Engine{}
	now := time.Unix(1_000_000, 0)
	batch := func(first, n int) []*loaded {
		ls := make([]*loaded, n)
		for i := range ls {
			ls[i] = &loaded{id: change.ID{byte(first + i), byte((first + i) >> 8), byte((first + i) >> 16), 1}}
		}
		return ls
	}
	for round := range 50 {
		ls := batch(round*1000, 1000)
		if due := e.textDue(now, ls); len(due) != len(ls) {
			t.Fatalf("round %d: %d of %d new objects due", round, len(due), len(ls))
		}
		// Indexed again within its wait: not due.
		if due := e.textDue(now.Add(time.Second), ls[:10]); len(due) != 0 {
			t.Fatalf("round %d: %d objects due again within their wait", round, len(due))
		}
		now = now.Add(textIndexEvery)
	}
	if n := len(e.textIndexed); n > 4*textSweepMin {
		t.Fatalf("%d objects' indexing times kept after 50,000 were indexed, one batch a wait", n)
	}
	// A huge object's longer wait is kept through the sweeps.
	huge := batch(1<<20, 1)
	e.textDue(now, huge)
	e.textIndexed[huge[0].id] = textIndexing{at: now, took: time.Minute}
	for round := range 5 {
		e.textDue(now, batch(2<<20+round*3000, 3000))
		now = now.Add(textIndexEvery)
	}
	if due := e.textDue(now, huge); len(due) != 0 {
		t.Fatal("a huge object was due again before ten times what its indexing took")
	}
}
