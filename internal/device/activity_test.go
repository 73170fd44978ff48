package device

import (
	"context"
	"strings"
	"testing"

	"mycel/internal/activity"
	"mycel/internal/change"
	"mycel/internal/pb"
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

// A node's answer that it did not carry out a removal request goes to the
// activity log ('mycel log --errors'), its reason bounded (no terminal
// escapes).
func TestRequestNotCarriedOutIsLogged(t *testing.T) {
	d, _ := bareDevice(t)
	var err error
	if d.activity, err = newActivityLog(d); err != nil {
		t.Fatal(err)
	}
	obj := change.ID{7}
	d.recordRemoval("12D3KooWNode", &pb.RemoveReply{Object: obj[:], Error: "this backup node keeps at most 10000 pages\x1b[2J"})
	var got []activityKey
	for k := range d.activity.pending {
		got = append(got, k)
	}
	if len(got) != 1 || got[0].kind != activity.NotCarriedOut || got[0].object != obj ||
		!strings.Contains(got[0].reason, "to remove the page from it: this backup node keeps at most") || strings.Contains(got[0].reason, "\x1b") {
		t.Fatalf("pending %+v", got)
	}
	e0 := activity.Entry{Kind: got[0].kind, Object: obj.String(), Reason: got[0].reason, Name: "backup node"}
	if !e0.IsError() {
		t.Fatal("not an error")
	}
	if text := activity.Describe(e0, "Letters"); !strings.Contains(text, "backup node did not carry out the request for") {
		t.Fatalf("text %q", text)
	}
}
