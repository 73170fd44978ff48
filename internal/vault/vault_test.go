package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/keys"
	"mycel/internal/markdown"
	"mycel/internal/store"
)

var ctx = context.Background()

// pair makes two devices of one vault that know each other.
func pair(t *testing.T) (*Engine, *Engine) {
	t.Helper()
	a, phrase, err := Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Recover(ctx, filepath.Join(t.TempDir(), "b"), phrase, "phone")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	if a.VaultID() != b.VaultID() {
		t.Fatal("recovered device has another vault id")
	}
	ra, _ := a.MemberRecords(ctx)
	rb, _ := b.MemberRecords(ctx)
	if err := a.AddMemberRecords(ctx, rb); err != nil {
		t.Fatal(err)
	}
	if err := b.AddMemberRecords(ctx, ra); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// send gives to dst every change of object id that src has.
func send(t *testing.T, src, dst *Engine, id change.ID) {
	t.Helper()
	ids, raws, err := src.Changes(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		if _, err := dst.Receive(ctx, ids[i], raws[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func md(t *testing.T, e *Engine, id change.ID) string {
	t.Helper()
	o, err := e.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return markdown.Render(o.Doc.Blocks())
}

func TestRecoverAndDevices(t *testing.T) {
	a, b := pair(t)
	for _, e := range []*Engine{a, b} {
		ds, err := e.Devices(ctx)
		if err != nil || len(ds) != 2 {
			t.Fatalf("devices = %+v, %v", ds, err)
		}
		names := ds[0].Name + "," + ds[1].Name
		if !strings.Contains(names, "laptop") || !strings.Contains(names, "phone") {
			t.Fatalf("names = %s", names)
		}
	}
	fi, err := os.Stat(filepath.Join(a.Dir(), SecretsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file mode %v, %v", fi.Mode().Perm(), err)
	}
	if _, err := Recover(ctx, t.TempDir(), "legal winner thank year wave sausage worth useful legal winner thank year", ""); !errors.Is(err, keys.ErrPhrase) {
		t.Fatalf("bad phrase: %v", err)
	}
	if _, _, err := Init(ctx, a.Dir(), ""); err == nil {
		t.Fatal("init over an existing vault succeeded")
	}
}

func TestConcurrentEditsMerge(t *testing.T) {
	a, b := pair(t)
	id, err := a.Create(ctx, NewPage{Details: map[string]string{"title": "Notes"}, Blocks: markdown.Parse("The cat sat.\n")})
	if err != nil {
		t.Fatal(err)
	}
	send(t, a, b, id)
	if got := md(t, b, id); got != "The cat sat.\n" {
		t.Fatalf("b sees %q", got)
	}
	// Offline, both edit the same paragraph.
	write := func(e *Engine, text string) {
		if _, err := e.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse(text)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "The black cat sat.\n")
	write(b, "The cat sat on the mat.\n")
	send(t, a, b, id)
	send(t, b, a, id)
	ga, gb := md(t, a, id), md(t, b, id)
	if ga != gb || ga != "The black cat sat on the mat.\n" {
		t.Fatalf("merged: a=%q b=%q", ga, gb)
	}
}

func TestForgedChangesAreRejected(t *testing.T) {
	a, b := pair(t)
	id, err := a.Create(ctx, NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("secret\n")})
	if err != nil {
		t.Fatal(err)
	}
	ids, raws, _ := a.Changes(ctx, id)
	// Root first, so the forgeries are judged on their content.
	if _, err := b.Receive(ctx, ids[0], raws[0]); err != nil {
		t.Fatal(err)
	}
	last := len(raws) - 1
	for _, pos := range []int{len(raws[last]) - 80, len(raws[last]) - 1, 40} { // payload, signature, header
		bad := append([]byte(nil), raws[last]...)
		bad[pos] ^= 1
		badID := change.ID(sha256sum(bad))
		if _, err := b.Receive(ctx, badID, bad); !errors.Is(err, ErrRejected) {
			t.Fatalf("byte %d flipped: %v", pos, err)
		}
	}
	// A change by a device outside the vault: valid signature, wrong author.
	c, _ := keys.VaultFromPhrase("legal winner thank year wave sausage worth useful legal winner thank yellow")
	stranger, _, _ := Init(ctx, t.TempDir(), "stranger")
	defer stranger.Close()
	_ = c
	sid, err := stranger.Create(ctx, NewPage{Details: map[string]string{"title": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	sids, sraws, _ := stranger.Changes(ctx, sid)
	_, err = b.Receive(ctx, sids[0], sraws[0])
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "not a device of this vault") {
		t.Fatalf("stranger's change: %v", err)
	}
	// Nothing of the forgeries was stored.
	gotIDs, _, _ := b.Changes(ctx, id)
	if len(gotIDs) != 1 {
		t.Fatalf("b holds %d changes of the object, want only the root", len(gotIDs))
	}
	if _, err := b.Get(ctx, sid); err == nil {
		t.Fatal("stranger's object was stored")
	}
	// The real change still goes in.
	send(t, a, b, id)
	if got := md(t, b, id); got != "secret\n" {
		t.Fatalf("b sees %q", got)
	}
}

func TestOutOfOrderChangesWait(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("one\n")})
	a.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse("one\n\ntwo\n")); return nil })
	ids, raws, _ := a.Changes(ctx, id)
	for i := len(ids) - 1; i >= 0; i-- { // newest first
		out, err := b.Receive(ctx, ids[i], raws[i])
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]Outcome{true: Stored, false: Parked}[i == 0]; out != want {
			t.Fatalf("change %d: %v, want %v", i, out, want)
		}
	}
	if got := md(t, b, id); got != "one\n\ntwo\n" {
		t.Fatalf("b sees %q", got)
	}
	if o, _ := b.Get(ctx, id); o.Parked != 0 {
		t.Fatalf("%d changes still parked", o.Parked)
	}
}

func TestSnapshotsHistoryRestore(t *testing.T) {
	a, b := pair(t)
	now := time.Unix(1700000000, 0)
	a.Now = func() time.Time { now = now.Add(time.Second); return now }
	id, _ := a.Create(ctx, NewPage{Details: map[string]string{"title": "Draft"}, Blocks: markdown.Parse("v1\n")})
	for i := 2; i <= 80; i++ {
		if i == 40 {
			now = now.Add(time.Hour) // a pause: a new version
		}
		text := "v" + strings.Repeat("x", i) + "\n"
		if _, err := a.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse(text)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.db.View(ctx, func(tx store.Tx) error { _, err := tx.Snapshot(id); return err }); err != nil {
		t.Fatalf("80 edits wrote no snapshot: %v", err)
	}
	want := md(t, a, id)
	send(t, a, b, id)
	if got := md(t, b, id); got != want {
		t.Fatalf("b (replaying, snapshots skipped) sees %q, want %q", got, want)
	}
	vs, err := a.History(ctx, id)
	if err != nil || len(vs) != 2 {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
	v1, _ := a.At(ctx, id, Point{Version: 1})
	if got := markdown.Render(v1.Blocks()); got != "v"+strings.Repeat("x", 39)+"\n" {
		t.Fatalf("version 1 = %q", got)
	}
	if _, err := a.Restore(ctx, id, Point{Version: 1}); err != nil {
		t.Fatal(err)
	}
	if got := md(t, a, id); got != markdown.Render(v1.Blocks()) {
		t.Fatalf("after restore: %q", got)
	}
	vs2, _ := a.History(ctx, id)
	if len(vs2) != 3 {
		t.Fatalf("restore should add a version on top: %d versions", len(vs2))
	}
	// Undo the restore by restoring the version before it.
	a.Restore(ctx, id, Point{Version: 2})
	if got := md(t, a, id); got != want {
		t.Fatalf("undoing the restore gives %q, want %q", got, want)
	}
	// A reopened engine reads the same state from snapshot + tail.
	dir := a.Dir()
	a.Close()
	a2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if got := md(t, a2, id); got != want {
		t.Fatalf("reopened: %q", got)
	}
	hits, _ := search(a2, "draft", 5)
	if len(hits) != 1 {
		t.Fatalf("search by title: %+v", hits)
	}
	_ = store.ErrNotFound
}

func TestSearchSeesLatestText(t *testing.T) {
	a, _ := pair(t)
	id, _ := a.Create(ctx, NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("apples\n")})
	// Edits within the reindex interval leave the text index stale…
	for _, w := range []string{"pears\n", "plums\n", "quinces\n"} {
		a.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse(w)); return nil })
	}
	// …but a search brings it up to date first.
	hits, err := search(a, "quinces", 5)
	if err != nil || len(hits) != 1 {
		t.Fatalf("search for the latest text: %v, %v", hits, err)
	}
	if hits, _ := search(a, "apples", 5); len(hits) != 0 {
		t.Fatal("search still finds replaced text")
	}
}

func TestFailedEditLeavesNoTrace(t *testing.T) {
	a, _ := pair(t)
	id, _ := a.Create(ctx, NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("kept\n")})
	boom := errors.New("boom")
	_, err := a.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error {
		tx.Replace(markdown.Parse("lost\n"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("edit error = %v", err)
	}
	if got := md(t, a, id); got != "kept\n" {
		t.Fatalf("after a failed edit: %q", got)
	}
	// The next edit starts from the stored state, not the abandoned one.
	a.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse("kept\n\nmore\n")); return nil })
	if got := md(t, a, id); got != "kept\n\nmore\n" {
		t.Fatalf("after the next edit: %q", got)
	}
	if n, err := a.Verify(ctx); err != nil || n == 0 {
		t.Fatalf("verify: %d, %v", n, err)
	}
}

// A parked change whose operations fail halfway is dropped when its parent
// arrives, and leaves nothing behind: not in the store, not in the cache
// that the next local edit starts from.
func TestBadParkedChangeLeavesNoTrace(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("base\n")})
	ids, raws, _ := a.Changes(ctx, id)
	for i := range ids {
		if _, err := b.Receive(ctx, ids[i], raws[i]); err != nil {
			t.Fatal(err)
		}
	}
	// a makes a good change; a forges on top of it a change whose first op
	// is valid and whose second names a block that does not exist.
	a.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse("base plus\n")); return nil })
	ids2, raws2, _ := a.Changes(ctx, id)
	parent := ids2[len(ids2)-1]
	o, _ := a.Get(ctx, id)
	blk := o.Doc.BlockIDs()[0]
	me := string(a.DeviceKey())
	bad, err := change.New(change.Draft{Object: id, Parents: []change.ID{parent}, Lamport: o.Doc.NextCounter(), Time: time.Now(),
		Payload: &change.Payload{Ops: []crdt.Op{
			{Kind: crdt.OpInsertText, Block: blk, Text: "PHANTOM "},
			{Kind: crdt.OpSetAttr, Block: crdt.ID{Counter: 999999, Actor: me}, Key: "k", Value: "v"},
		}}}, a.objectKey(id), a.device)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := b.Receive(ctx, bad.ID, bad.Raw); err != nil || out != Parked {
		t.Fatalf("forged child before its parent: %v, %v", out, err)
	}
	if out, err := b.Receive(ctx, parent, raws2[len(raws2)-1]); err != nil || out != Stored {
		t.Fatalf("parent: %v, %v", out, err)
	}
	if has, _, _ := b.Changes(ctx, id); len(has) != len(ids2) {
		t.Fatalf("b holds %d changes, want %d (the bad one dropped)", len(has), len(ids2))
	}
	// The next local edit must start from the stored state.
	if _, err := b.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse("base plus more\n")); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := md(t, b, id); got != "base plus more\n" {
		t.Fatalf("b shows %q", got)
	}
	if _, err := b.Verify(ctx); err != nil {
		t.Fatalf("store after the bad change: %v", err)
	}
	send(t, b, a, id)
	if got := md(t, a, id); got != "base plus more\n" {
		t.Fatalf("a shows %q", got)
	}
}

// Within one batch, a change that fails halfway is refused while the
// changes of the same object before and after it are kept: heads, index
// row and the state the next edit starts from all include them.
func TestBatchKeepsChangesAroundABadOne(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("base\n")})
	send(t, a, b, id)
	a.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse("base one\n")); return nil })
	ids1, raws1, _ := a.Changes(ctx, id)
	first := ids1[len(ids1)-1]
	o, _ := a.Get(ctx, id)
	blk := o.Doc.BlockIDs()[0]
	bad, err := change.New(change.Draft{Object: id, Parents: []change.ID{first}, Lamport: o.Doc.NextCounter(), Time: time.Now(),
		Payload: &change.Payload{Ops: []crdt.Op{
			{Kind: crdt.OpInsertText, Block: blk, Text: "PHANTOM "},
			{Kind: crdt.OpSetAttr, Block: crdt.ID{Counter: 999999, Actor: string(a.DeviceKey())}, Key: "k", Value: "v"},
		}}}, a.objectKey(id), a.device)
	if err != nil {
		t.Fatal(err)
	}
	a.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error {
		tx.SetDetail("title", "Renamed")
		tx.Replace(markdown.Parse("base one two\n"))
		return nil
	})
	ids2, raws2, _ := a.Changes(ctx, id)
	second := ids2[len(ids2)-1]
	outs, errs, err := b.ReceiveBatch(ctx, []Incoming{
		{ID: first, Raw: raws1[len(raws1)-1]},
		{ID: bad.ID, Raw: bad.Raw},
		{ID: second, Raw: raws2[len(raws2)-1]},
	})
	if err != nil {
		t.Fatal(err)
	}
	if outs[0] != Stored || errs[0] != nil || !errors.Is(errs[1], ErrRejected) || outs[2] != Stored || errs[2] != nil {
		t.Fatalf("outcomes %v, errors %v", outs, errs)
	}
	got, err := b.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Heads) != 1 || got.Heads[0] != second {
		t.Fatalf("heads %v, want [%s]", got.Heads, second.Short())
	}
	if s := markdown.Render(got.Doc.Blocks()); s != "base one two\n" {
		t.Fatalf("b shows %q", s)
	}
	list, _ := b.List(ctx, ListOptions{All: true})
	if len(list) != 1 || list[0].Title != "Renamed" || list[0].Changes != len(ids2) {
		t.Fatalf("index row %+v, want title Renamed and %d changes", list, len(ids2))
	}
	if _, err := b.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse("base one two three\n")); return nil }); err != nil {
		t.Fatal(err)
	}
	if s := md(t, b, id); s != "base one two three\n" {
		t.Fatalf("after the next edit b shows %q", s)
	}
	if _, err := b.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// Whatever this engine stores, by an edit or from sync, closes the channel
// Stored gave before it (so the web app's event stream shows it at once);
// a read does not.
func TestStoredWakesOnEveryWrite(t *testing.T) {
	a, b := pair(t)
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	ch := a.Stored()
	id, err := a.Create(ctx, NewPage{Title: "Woken"})
	if err != nil {
		t.Fatal(err)
	}
	if !closed(ch) {
		t.Fatal("a new page did not wake")
	}
	ch = b.Stored()
	if _, err := b.List(ctx, ListOptions{}); err != nil || closed(ch) {
		t.Fatalf("a read woke: %v", err)
	}
	send(t, a, b, id)
	if !closed(ch) {
		t.Fatal("changes received by sync did not wake")
	}
	ch = b.Stored()
	if _, err := b.SetDetail(ctx, id, "tags", "x"); err != nil {
		t.Fatal(err)
	}
	if !closed(ch) {
		t.Fatal("an edit did not wake")
	}
}

// search is the first limit hits of a search of e for query.
func search(e *Engine, query string, limit int) ([]SearchHit, error) {
	page, err := e.Search(context.Background(), query, SearchOptions{Limit: limit})
	return page.Hits, err
}
