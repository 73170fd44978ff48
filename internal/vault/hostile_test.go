package vault

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/keys"
	"mycel/internal/markdown"
	"mycel/internal/member"
	"mycel/internal/pb"
	"mycel/internal/store"
)

// resign re-signs raw with its author's key after edit changed its body:
// what a member (any device holds its own key) can send.
func resign(t *testing.T, raw []byte, author ed25519.PrivateKey, edit func(*pb.ChangeBody)) (change.ID, []byte) {
	t.Helper()
	var sc pb.SignedChange
	var body pb.ChangeBody
	if err := proto.Unmarshal(raw, &sc); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(sc.Body, &body); err != nil {
		t.Fatal(err)
	}
	edit(&body)
	b, _ := pb.MarshalCanonical(&body)
	sig := ed25519.Sign(author, append([]byte("mycel/change/v1\n"), b...))
	out, _ := pb.MarshalCanonical(&pb.SignedChange{Body: b, Signature: sig})
	return change.ID(sha256sum(out)), out
}

// One member change at a huge counter used to wrap every replica's counter
// to 0, after which no device could edit the page again ("lamport counter
// is 0", or a panic). Now it is refused, with the reason, and the page
// stays editable everywhere.
func TestHugeCountersAreRefused(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "Shared", Blocks: markdown.Parse("start\n")})
	send(t, a, b, id)
	o, _ := b.Get(ctx, id)
	draft := func(lamport uint64, text string) *change.Change {
		t.Helper()
		c, err := change.New(change.Draft{Object: id, Parents: o.Heads, Lamport: lamport, Time: b.Now(),
			Payload: &change.Payload{Ops: []crdt.Op{{Kind: crdt.OpSetDetail, Key: "title", Value: text}}}}, b.objectKey(id), b.device)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	base := draft(o.Doc.NextCounter(), "x")
	for _, tc := range []struct {
		name    string
		lamport uint64
		want    string
	}{
		{"2^64-1", math.MaxUint64, "over the limit"},
		{"past the limit", crdt.MaxCounter + 1, "over the limit"},
		{"a jump of 2^40", 1 << 40, "jumps more than 2^32"},
	} {
		cid, raw := resign(t, base.Raw, b.device, func(body *pb.ChangeBody) { body.Lamport = tc.lamport })
		_, err := a.Receive(ctx, cid, raw)
		if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: received with %v, want a refusal saying %q", tc.name, err, tc.want)
		}
	}
	// The page is still editable, on both devices.
	if _, err := a.AppendMarkdown(ctx, id, "more\n"); err != nil {
		t.Fatalf("append after the attack: %v", err)
	}
	if _, err := a.SetDetail(ctx, id, "title", "Still mine"); err != nil {
		t.Fatalf("set after the attack: %v", err)
	}
	send(t, a, b, id)
	if got := md(t, b, id); got != "start\n\nmore\n" {
		t.Fatalf("b shows %q", got)
	}
}

// A change whose parent is a change of another object is refused: its
// object's history would name a change outside it, and check would fail
// for good.
func TestParentInAnotherObjectIsRefused(t *testing.T) {
	a, b := pair(t)
	x, _ := a.Create(ctx, NewPage{Title: "X", Blocks: markdown.Parse("x\n")})
	y, _ := a.Create(ctx, NewPage{Title: "Y", Blocks: markdown.Parse("y\n")})
	send(t, a, b, x)
	send(t, a, b, y)
	ox, _ := b.Get(ctx, x)
	oy, _ := b.Get(ctx, y)
	c, err := change.New(change.Draft{Object: x, Parents: append(ox.Heads, oy.Heads...), Lamport: 1000, Time: b.Now(),
		Payload: &change.Payload{Ops: []crdt.Op{{Kind: crdt.OpSetDetail, Key: "title", Value: "mixed"}}}}, b.objectKey(x), b.device)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Receive(ctx, c.ID, c.Raw); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "another object") {
		t.Fatalf("cross-object parent: %v", err)
	}
	if r, err := a.Check(ctx, false); err != nil || len(r.Problems) > 0 {
		t.Fatalf("check after the attempt: %v %+v", err, r.Problems)
	}
}

// A change dated in year 292278994 is shown and sorted as no later than
// when it arrived: it does not stay at the top of every list.
func TestFarFutureTimeDoesNotSortFirst(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "Old", Blocks: markdown.Parse("x\n")})
	send(t, a, b, id)
	o, _ := b.Get(ctx, id)
	c, err := change.New(change.Draft{Object: id, Parents: o.Heads, Lamport: o.Doc.NextCounter(), Time: time.UnixMilli(math.MaxInt64),
		Payload: &change.Payload{Ops: []crdt.Op{{Kind: crdt.OpSetDetail, Key: "title", Value: "Future"}}}}, b.objectKey(id), b.device)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	a.Now = func() time.Time { return before }
	if _, err := a.Receive(ctx, c.ID, c.Raw); err != nil {
		t.Fatal(err)
	}
	a.Now = func() time.Time { return before.Add(time.Second) }
	later, _ := a.Create(ctx, NewPage{Title: "Newer", Blocks: markdown.Parse("y\n")})
	list, err := a.List(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != later {
		t.Fatalf("the page written later is not first: %+v", list)
	}
	for _, r := range list {
		if r.Updated.After(a.Now()) || r.Updated.Year() > before.Year()+1 {
			t.Fatalf("%s shows as updated at %v", r.ID.Short(), r.Updated)
		}
	}
}

// A removal signed by any member and dated 1970 used to void every change
// of the removed device on every replica that learned of it first (and
// check then failed for good). A removal now keeps the device out (it is
// no member: no connection is taken from it) and voids none of its
// history, whatever its time.
func TestBackdatedRemovalWipesNothing(t *testing.T) {
	a, phrase, err := Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Recover(ctx, filepath.Join(t.TempDir(), "b"), phrase, "phone")
	c, _ := Recover(ctx, filepath.Join(t.TempDir(), "c"), phrase, "new laptop")
	defer func() { a.Close(); b.Close(); c.Close() }()
	for _, x := range []*Engine{a, b, c} {
		for _, y := range []*Engine{a, b, c} {
			recs, _ := y.MemberRecords(ctx)
			x.AddMemberRecords(ctx, recs)
		}
	}
	id, _ := b.Create(ctx, NewPage{Title: "Phone notes", Blocks: markdown.Parse("written on the phone\n")})
	b.AppendMarkdown(ctx, id, "and more\n")
	send(t, b, a, id)
	v, _ := keys.VaultFromPhrase(phrase)
	removal, err := member.NewRecord(v, member.Remove, b.DeviceKey(), "", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Engine{a, c} {
		if err := x.AddMemberRecords(ctx, [][]byte{removal}); err != nil {
			t.Fatal(err)
		}
	}
	send(t, a, c, id) // c learned of the removal first
	for name, x := range map[string]*Engine{"a": a, "c": c} {
		if got := md(t, x, id); got != "written on the phone\n\nand more\n" {
			t.Errorf("%s shows %q", name, got)
		}
		if r, err := x.Check(ctx, false); err != nil || len(r.Problems) > 0 {
			t.Errorf("check on %s: %v %v", name, err, r.Problems)
		}
		if ok, _ := x.IsMember(ctx, b.DeviceKey()); ok {
			t.Errorf("%s still counts the removed device as a member", name)
		}
	}
}

// Two different changes signed by one device at the same counters: every
// replica keeps the same one whatever came first, and names the device.
func TestEquivocatorIsNamed(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "Shared", Blocks: markdown.Parse("start\n")})
	send(t, a, b, id)
	o, _ := b.Get(ctx, id)
	var cs []*change.Change
	for _, title := range []string{"one", "two"} {
		c, err := change.New(change.Draft{Object: id, Parents: o.Heads, Lamport: o.Doc.NextCounter(), Time: b.Now(),
			Payload: &change.Payload{Ops: []crdt.Op{{Kind: crdt.OpSetDetail, Key: "title", Value: title}}}}, b.objectKey(id), b.device)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	var states [][]byte
	for _, order := range [][]int{{0, 1}, {1, 0}} {
		x, err := Open(copyFolder(t, a)) // a replica that has not seen them
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		for _, i := range order {
			if _, err := x.Receive(ctx, cs[i].ID, cs[i].Raw); err != nil {
				t.Fatal(err)
			}
		}
		eq, err := x.Equivocators(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(eq) != 1 || !eq[0].Key.Equal(b.DeviceKey()) || eq[0].Name != "phone" || eq[0].Inert != 1 {
			t.Fatalf("order %v: equivocators %+v", order, eq)
		}
		got, _ := x.Get(ctx, id)
		states = append(states, got.Doc.MarshalState())
	}
	if !bytes.Equal(states[0], states[1]) {
		t.Fatal("the order of arrival decided which change holds")
	}
	if eq, _ := a.Equivocators(ctx, id); len(eq) != 0 {
		t.Fatalf("equivocators named where none equivocated: %+v", eq)
	}
}

// A member sends changes whose parents never come (40 of them grew a
// device by 280 MB). What waits for parents is bounded, per object and in
// all, and an honest change sent before its parent still gets in.
func TestParkedFloodIsBounded(t *testing.T) {
	a, b := pair(t)
	big := strings.Repeat("flood ", 1<<20/6)
	for i := range 120 {
		obj := change.ID{byte(i % 12), 0xee} // objects that never arrive
		c, err := change.New(change.Draft{Object: obj, Parents: []change.ID{{byte(i), 0xef}}, Lamport: 2, Time: b.Now(),
			Payload: &change.Payload{Ops: []crdt.Op{{Kind: crdt.OpSetDetail, Key: "title", Value: big}}}}, b.objectKey(obj), b.device)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Receive(ctx, c.ID, c.Raw); err != nil && !errors.Is(err, ErrRejected) {
			t.Fatal(err)
		}
	}
	parked := func(obj change.ID) (n int64) {
		a.db.View(ctx, func(tx store.Tx) (err error) { n, err = tx.ParkedBytes(obj); return })
		return n
	}
	if n := parked(change.ID{}); n > admit.MaxParked {
		t.Fatalf("%d MiB parked in all", n>>20)
	}
	if n := parked(change.ID{0, 0xee}); n > admit.MaxParkedPerObject {
		t.Fatalf("%d MiB parked for one object", n>>20)
	}
	// Honest: a change arrives before its parent, then the parent.
	id, _ := b.Create(ctx, NewPage{Title: "Late", Blocks: markdown.Parse("one\n")})
	b.AppendMarkdown(ctx, id, "two\n")
	ids, raws, _ := b.Changes(ctx, id)
	for i := len(ids) - 1; i >= 0; i-- {
		if _, err := a.Receive(ctx, ids[i], raws[i]); err != nil {
			t.Fatalf("honest change %d: %v", i, err)
		}
	}
	if got := md(t, a, id); got != "one\n\ntwo\n" {
		t.Fatalf("a shows %q", got)
	}
}

// A peer (a node, say) hands a device a log of thousands of valid records
// (any device can sign them): past member.MaxRecords they are refused, so
// a connection can't cost seconds of signature checks; records already
// known are not checked again.
func TestMembershipLogIsBounded(t *testing.T) {
	a, phrase, err := Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	v, _ := keys.VaultFromPhrase(phrase)
	var recs [][]byte
	for i := range member.MaxRecords + 1 {
		dev := make(ed25519.PublicKey, ed25519.PublicKeySize)
		dev[0], dev[1], dev[2] = byte(i), byte(i>>8), 0xd
		r, _ := member.NewRecord(v, member.Rename, dev, "n", time.Unix(1700000000, 0))
		recs = append(recs, r)
	}
	if err := a.AddMemberRecords(ctx, recs); err == nil || !strings.Contains(err.Error(), "most a vault may have") {
		t.Fatalf("a log past the bound: %v", err)
	}
	if err := a.AddMemberRecords(ctx, recs[:100]); err != nil {
		t.Fatal(err)
	}
	known, _ := a.MemberRecords(ctx)
	start := time.Now()
	for range 20 {
		if err := a.AddMemberRecords(ctx, known); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("20 Hellos of %d known records: %v", len(known), time.Since(start))
}

// A member pushes an object's counters up, each change the most admission
// allows above its parents; an honest edit of the version a person saw
// before (EditOptions.Base) starts above the newest counters, so it would
// jump too far above that version's: it used to be stored where it was
// made and refused by every other device. Now it names the newest heads
// too and passes everywhere, and its own check is good.
func TestEditOfAnOldVersionPassesAfterCountersWerePushed(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "Shared", Blocks: markdown.Parse("start\n")})
	send(t, a, b, id)
	oa, _ := a.Get(ctx, id)
	base := oa.Heads // the version the person saw on a
	o, _ := b.Get(ctx, id)
	parents, top := o.Heads, uint64(0)
	for _, h := range o.Heads {
		_, raws, _ := b.Changes(ctx, id)
		for _, raw := range raws {
			if c, _ := change.Parse(raw); c.ID == h {
				top = c.Lamport
			}
		}
	}
	for range 2 {
		top += admit.MaxLamportStep
		c, err := change.New(change.Draft{Object: id, Parents: parents, Lamport: top, Time: b.Now(),
			Payload: &change.Payload{Ops: []crdt.Op{{Kind: crdt.OpSetDetail, Key: "title", Value: "pushed"}}}}, b.objectKey(id), b.device)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []*Engine{a, b} {
			if _, err := x.Receive(ctx, c.ID, c.Raw); err != nil {
				t.Fatalf("the push: %v", err)
			}
		}
		parents = []change.ID{c.ID}
	}
	if _, err := a.WriteMarkdown(ctx, id, "start\n\ntyped on a\n", EditOptions{Base: base}); err != nil {
		t.Fatal(err)
	}
	send(t, a, b, id) // b refuses none of a's changes
	if got := md(t, b, id); got != "start\n\ntyped on a\n" {
		t.Fatalf("b shows %q", got)
	}
	if r, err := a.Check(ctx, false); err != nil || len(r.Problems) > 0 {
		t.Fatalf("a's check: %v %v", err, r.Problems)
	}
	// A head built low on top of the pushed counters: an edit of the heads
	// starts far above it, and names the change with the top counter too.
	o, _ = b.Get(ctx, id)
	low, _ := change.New(change.Draft{Object: id, Parents: o.Heads, Lamport: 5, Time: b.Now(),
		Payload: &change.Payload{Ops: []crdt.Op{{Kind: crdt.OpSetDetail, Key: "title", Value: "low"}}}}, b.objectKey(id), b.device)
	for _, x := range []*Engine{a, b} {
		if _, err := x.Receive(ctx, low.ID, low.Raw); err != nil {
			t.Fatalf("the low head: %v", err)
		}
	}
	if _, err := a.AppendMarkdown(ctx, id, "and more\n"); err != nil {
		t.Fatal(err)
	}
	send(t, a, b, id)
	if got := md(t, b, id); got != "start\n\ntyped on a\n\nand more\n" {
		t.Fatalf("b shows %q", got)
	}
}

// The node sees each change's depth, not its first counter: consecutive
// edits of 1 and 500 characters step the cleartext Lamport by 1 each (it
// stepped by the characters typed). A change whose depth is not one above
// its parents' is refused.
func TestLamportStepsRevealNothing(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "Diary", Blocks: markdown.Parse("x\n")})
	for _, text := range []string{"y", strings.Repeat("z", 500), "w"} {
		if _, err := a.AppendMarkdown(ctx, id, text+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	ids, raws, _ := a.Changes(ctx, id)
	var steps []uint64
	for i := 1; i < len(raws); i++ {
		prev, _ := change.Parse(raws[i-1])
		c, _ := change.Parse(raws[i])
		steps = append(steps, c.Lamport-prev.Lamport)
		if !c.SealedCounter {
			t.Fatalf("change %d shows its counter", i)
		}
	}
	if !slices.Equal(steps, []uint64{1, 1, 1, 1}) {
		t.Fatalf("the node sees Lamport steps %v", steps)
	}
	send(t, a, b, id)
	if got := md(t, b, id); got != "x\n\ny\n\n"+strings.Repeat("z", 500)+"\n\nw\n" {
		t.Fatalf("b shows %q", got)
	}
	_ = ids
	// A member lies about the depth.
	last, _ := change.Parse(raws[len(raws)-1])
	o, _ := b.Get(ctx, id)
	c, err := change.New(change.Draft{Object: id, Parents: o.Heads, Lamport: o.Doc.NextCounter(), Depth: last.Lamport + 5, Time: b.Now(),
		Payload: &change.Payload{Ops: []crdt.Op{{Kind: crdt.OpSetDetail, Key: "title", Value: "lie"}}}}, b.objectKey(id), b.device)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Receive(ctx, c.ID, c.Raw); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "not one above its parents") {
		t.Fatalf("a wrong depth: %v", err)
	}
}

// A change that seals its counter is bounded against its parents' first
// counters (a device reads sealed ones from their payloads), not by its
// depth: a member's clear change at counter 2^22 followed by a sealed child
// at crdt.MaxCounter used to be taken, after which no edit of the page was
// taken by any other device. Now the child is refused, and an honest edit
// after a sealed push of counters still passes everywhere.
func TestSealedCountersAreBoundedByTheirParents(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "Shared", Blocks: markdown.Parse("start\n")})
	send(t, a, b, id)
	base := func() []change.ID { o, _ := a.Get(ctx, id); return o.Heads }()
	o, _ := b.Get(ctx, id)
	key := b.objectKey(id)
	c1, _ := change.New(change.Draft{Object: id, Parents: o.Heads, Lamport: 1 << 22, Time: b.Now(),
		Payload: &change.Payload{Ops: []crdt.Op{{Kind: crdt.OpSetDetail, Key: "title", Value: "x"}}}}, key, b.device)
	c2, _ := change.New(change.Draft{Object: id, Parents: []change.ID{c1.ID}, Lamport: crdt.MaxCounter, Depth: c1.Lamport + 1, Time: b.Now(),
		Payload: &change.Payload{Ops: []crdt.Op{{Kind: crdt.OpSetDetail, Key: "title", Value: "bricked"}}}}, key, b.device)
	if _, err := a.Receive(ctx, c1.ID, c1.Raw); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Receive(ctx, c2.ID, c2.Raw); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "jumps more than 2^32") {
		t.Fatalf("a sealed counter far above its parents': %v", err)
	}
	// A sealed push: each change the most it may jump above its parent.
	parents, start, depth := []change.ID{c1.ID}, c1.Lamport, c1.Lamport
	b.Receive(ctx, c1.ID, c1.Raw)
	for range 2 {
		start, depth = start+admit.MaxLamportStep, depth+1
		c, err := change.New(change.Draft{Object: id, Parents: parents, Lamport: start, Depth: depth, Time: b.Now(),
			Payload: &change.Payload{Ops: []crdt.Op{{Kind: crdt.OpSetDetail, Key: "title", Value: "pushed"}}}}, key, b.device)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []*Engine{a, b} {
			if _, err := x.Receive(ctx, c.ID, c.Raw); err != nil {
				t.Fatalf("the push: %v", err)
			}
		}
		parents = []change.ID{c.ID}
	}
	if _, err := a.WriteMarkdown(ctx, id, "start\n\ntyped on a\n", EditOptions{Base: base}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AppendMarkdown(ctx, id, "and more\n"); err != nil {
		t.Fatal(err)
	}
	send(t, a, b, id)
	if got := md(t, b, id); got != "start\n\ntyped on a\n\nand more\n" {
		t.Fatalf("b shows %q", got)
	}
	if r, err := a.Check(ctx, false); err != nil || len(r.Problems) > 0 {
		t.Fatalf("a's check: %v %v", err, r.Problems)
	}
}
