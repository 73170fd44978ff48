package device

import (
	"context"
	"testing"

	"mycel/internal/activity"
	"mycel/internal/change"
	"mycel/internal/syncer"
)

// What comes in a second is a line per peer, kind and object, up to the
// bound; past it, one line per peer and kind sums the rest, and nothing
// grows without bound.
func TestActivityIsSummedAndBounded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := vaultWithAnObject(t, ctx)
	d, err := Start(ctx, e, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a := d.activity
	obj := func(i int) change.ID { return change.ID{byte(i), byte(i >> 8), byte(i >> 16), 1} }
	for i := range maxActivityPending + 1000 {
		a.note(syncer.Activity{Kind: syncer.Received, Peer: "node", Object: obj(i), Changes: 2})
		a.note(syncer.Activity{Kind: syncer.Received, Peer: "node", Object: obj(i), Changes: 1})
	}
	for range 3 * maxActivityPending {
		a.note(syncer.Activity{Kind: syncer.Connected, Peer: "node"})
	}
	a.mu.Lock()
	n := len(a.pending)
	a.mu.Unlock()
	if n > 2*maxActivityPending {
		t.Fatalf("%d lines gathered, over the bound", n)
	}
	a.flush(ctx)
	es, _, err := activity.Read(e.Dir(), activity.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	changes, objects := 0, 0
	for _, en := range es {
		if en.Kind != activity.Received {
			continue
		}
		changes += en.Changes
		if en.Object != "" {
			objects++
		} else {
			objects += en.Objects
		}
	}
	if want := 3 * (maxActivityPending + 1000); changes != want || objects != maxActivityPending+1000 {
		t.Fatalf("logged %d changes of %d objects; want %d of %d", changes, objects, want, maxActivityPending+1000)
	}
}
