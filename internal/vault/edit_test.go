package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/keys"
	"mycel/internal/markdown"
	"mycel/internal/object"
	"mycel/internal/store"
	"mycel/internal/store/memstore"
)

// An edit made on the version the person saw keeps what arrived while
// they were editing: the editor opened at heads H, b's edit arrived, the
// save is built on H and merges with it (before, it was computed against
// the state at save time and deleted b's edit, on every device).
func TestEditAtTheHeadsSeenKeepsWhatArrivedMeanwhile(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "Plan", Blocks: markdown.Parse("first line\n\nsecond line\n")})
	send(t, a, b, id)
	opened, err := a.Get(ctx, id) // the person opens the editor on a
	if err != nil {
		t.Fatal(err)
	}
	file := opened.Markdown()
	if _, err := b.WriteMarkdown(ctx, id, "first line\n\nsecond line, from the phone\n", EditOptions{NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	send(t, b, a, id) // arrives while the editor is open
	edited := strings.Replace(file, "first line", "first line, from the laptop", 1)
	r, err := a.WriteMarkdown(ctx, id, edited, EditOptions{NewVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Merged || !r.Changed {
		t.Fatalf("result %+v: the save should say it merged", r)
	}
	want := "first line, from the laptop\n\nsecond line, from the phone\n"
	if got := md(t, a, id); got != want {
		t.Fatalf("a shows %q, want %q", got, want)
	}
	send(t, a, b, id)
	if got := md(t, b, id); got != want {
		t.Fatalf("b shows %q, want %q", got, want)
	}
	// The document names the version it shows, and its object.
	doc := markdown.ParseDocument(file)
	if doc.Meta.ID != id.String() || len(doc.Meta.Heads) != 1 || doc.Meta.Heads[0] != opened.Heads[0].String() {
		t.Fatalf("front matter meta %+v", doc.Meta)
	}
	if _, err := a.WriteMarkdown(ctx, change.ID{1}, file, EditOptions{}); err == nil || !strings.Contains(err.Error(), "not found") && !strings.Contains(err.Error(), "is of object") {
		t.Fatalf("writing another object's file: %v", err)
	}
	// Heads this device does not have: refused with what to do.
	other := strings.Replace(file, opened.Heads[0].String(), strings.Repeat("ab", 32), 1)
	if _, err := a.WriteMarkdown(ctx, id, other, EditOptions{}); err == nil || !strings.Contains(err.Error(), "sync first") {
		t.Fatalf("unknown heads: %v", err)
	}
}

// Re-importing an old JSON export undoes nothing done since.
func TestStaleJSONImportKeepsNewerEdits(t *testing.T) {
	a, _ := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "Notes", Blocks: markdown.Parse("one\n")})
	dir := filepath.Join(t.TempDir(), "export")
	if _, err := a.ExportJSON(ctx, dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WriteMarkdown(ctx, id, "one\n\ntwo, written after the export\n", EditOptions{NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetDetail(ctx, id, "tags", "later"); err != nil {
		t.Fatal(err)
	}
	r, err := a.ImportJSON(ctx, dir)
	if err != nil || r.Unchanged != 1 {
		t.Fatalf("import of the old export: %+v, %v", r, err)
	}
	o, _ := a.Get(ctx, id)
	if got := markdown.Render(o.Doc.Blocks()); got != "one\n\ntwo, written after the export\n" || o.Details["tags"] != "later" {
		t.Fatalf("after importing an old export: %q %v", got, o.Details)
	}
	// An export edited by hand brings its edit, and keeps the newer ones.
	b, _ := os.ReadFile(filepath.Join(dir, id.String()+".json"))
	os.WriteFile(filepath.Join(dir, id.String()+".json"), []byte(strings.Replace(string(b), `"text": "one"`, `"text": "one, edited in the file"`, 1)), 0o600)
	if r, err := a.ImportJSON(ctx, dir); err != nil || r.Updated != 1 {
		t.Fatalf("import of an edited export: %+v, %v", r, err)
	}
	if got := md(t, a, id); got != "one, edited in the file\n\ntwo, written after the export\n" {
		t.Fatalf("after importing an edited export: %q", got)
	}
}

// A paragraph deleted on one device while another edited it (offline)
// survives with the edit, on both, and show marks it.
func TestDeleteDoesNotSwallowAConcurrentEdit(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "T", Blocks: markdown.Parse("keep\n\ndoomed\n\n- list\n  - child\n")})
	send(t, a, b, id)
	if _, err := a.WriteMarkdown(ctx, id, "keep\n", EditOptions{NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteMarkdown(ctx, id, "keep\n\ndoomed, but edited\n\n- list\n  - child, edited\n", EditOptions{NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	send(t, a, b, id)
	send(t, b, a, id)
	want := "keep\n\ndoomed, but edited\n\n- list\n  - child, edited\n"
	for _, e := range []*Engine{a, b} {
		o, err := e.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := markdown.Render(o.Doc.Blocks()); got != want {
			t.Fatalf("after a delete met a concurrent edit: %q, want %q", got, want)
		}
		if bs := o.Doc.Blocks(); !bs[1].Kept || !bs[2].Kept {
			t.Fatalf("the kept blocks are not marked: %+v %+v", bs[1], bs[2])
		}
	}
	vs, _ := a.History(ctx, id)
	if !slices.ContainsFunc(vs, func(v object.Version) bool { return v.Merged }) {
		t.Fatalf("no version marked merged: %+v", vs)
	}
}

// An object archived (or put in the bin) on one device while another
// edited it comes back; one archived after the edit was seen stays.
func TestArchiveDoesNotHideAConcurrentEdit(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "T", Blocks: markdown.Parse("x\n")})
	send(t, a, b, id)
	if _, err := a.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if list, _ := a.List(ctx, ListOptions{}); len(list) != 0 {
		t.Fatalf("in the bin, still listed: %+v", list)
	}
	if bin, _ := a.List(ctx, ListOptions{Deleted: true}); len(bin) != 1 {
		t.Fatalf("bin: %+v", bin)
	}
	if _, err := b.SetDetail(ctx, id, "tags", "set while it was deleted"); err != nil {
		t.Fatal(err)
	}
	send(t, b, a, id)
	send(t, a, b, id)
	for _, e := range []*Engine{a, b} {
		list, _ := e.List(ctx, ListOptions{})
		if len(list) != 1 || list[0].Deleted {
			t.Fatalf("an edit concurrent with the delete is hidden: %+v", list)
		}
		if o, _ := e.Get(ctx, id); o.Details["deleted"] != "" || o.Details["tags"] == "" {
			t.Fatalf("details %v", o.Details)
		}
	}
	// Deleted again, having seen the edit: in the bin everywhere, and an
	// edit made after (on the deleted object) does not bring it back.
	if _, err := a.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	send(t, a, b, id)
	if _, err := b.SetDetail(ctx, id, "tags", "after"); err != nil {
		t.Fatal(err)
	}
	send(t, b, a, id)
	for _, e := range []*Engine{a, b} {
		if list, _ := e.List(ctx, ListOptions{}); len(list) != 0 {
			t.Fatalf("deleted after the edit was seen, still listed: %+v", list)
		}
	}
	if hits, _ := search(a, "T", 5); len(hits) != 0 {
		t.Fatalf("search finds an object in the bin: %+v", hits)
	}
	if _, err := a.Undelete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if list, _ := a.List(ctx, ListOptions{}); len(list) != 1 {
		t.Fatal("undelete did not bring it back")
	}
	// Archive works the same way.
	if _, err := a.Archive(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	send(t, a, b, id)
	b.WriteMarkdown(ctx, id, "edited after it was archived\n", EditOptions{NewVersion: true})
	send(t, b, a, id)
	if list, _ := a.List(ctx, ListOptions{Archived: true}); len(list) != 1 || !list[0].Archived {
		t.Fatalf("an edit after the archive was seen unarchived it: %+v", list)
	}
}

// Every command is a version of its own: a wrong file written seconds
// after creating a page can be undone.
func TestEveryWriteCanBeUndone(t *testing.T) {
	a, _ := pair(t)
	now := time.Unix(1700000000, 0)
	a.Now = func() time.Time { now = now.Add(time.Second); return now }
	id, _ := a.Create(ctx, NewPage{Title: "Letter", Blocks: markdown.Parse("Dear Ann,\n\nthe original.\n")})
	if _, err := a.WriteMarkdown(ctx, id, "a wrong file\n", EditOptions{NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	vs, _ := a.History(ctx, id)
	if len(vs) != 2 {
		t.Fatalf("%d versions, want 2 (one per command)", len(vs))
	}
	if _, err := a.Restore(ctx, id, Point{Version: 1}); err != nil {
		t.Fatal(err)
	}
	if got := md(t, a, id); got != "Dear Ann,\n\nthe original.\n" {
		t.Fatalf("after undo: %q", got)
	}
	// Any change, not only a version's last, is reachable.
	steps, _ := a.Steps(ctx, id)
	if len(steps) != 4 {
		t.Fatalf("%d steps", len(steps))
	}
	p, err := a.ParsePoint(ctx, id, steps[2].Meta.ID.String()[:8])
	if err != nil {
		t.Fatal(err)
	}
	doc, err := a.At(ctx, id, p)
	if err != nil {
		t.Fatalf("at step 3 (%s): %v", steps[2].Meta.ID.Short(), err)
	}
	if got := markdown.Render(doc.Blocks()); got != "a wrong file\n" {
		t.Fatalf("at step 3: %q", got)
	}
}

// Import and write keep text as it was typed.
func TestImportAndWriteKeepText(t *testing.T) {
	a, _ := pair(t)
	dir := t.TempDir()
	note := "---\ntags: [a, b]\n---\n# Code\n\n```\nx = [[not a link]]\n```\n\nInline `[[kept]]` and [[Other|a link]].\n\n\\a backslash, C:\\Users\n"
	os.WriteFile(filepath.Join(dir, "Note.md"), []byte(note), 0o600)
	os.WriteFile(filepath.Join(dir, "Other.md"), []byte("other\n"), 0o600)
	r, err := a.ImportMarkdown(ctx, dir)
	if err != nil || r.Created != 2 {
		t.Fatalf("import: %+v, %v", r, err)
	}
	list, _ := a.List(ctx, ListOptions{})
	var noteID change.ID
	for _, o := range list {
		if o.Title == "Note" {
			noteID = o.ID
		}
	}
	got := md(t, a, noteID)
	for _, want := range []string{"x = [[not a link]]", "Inline `[[kept]]` and [[", "|a link]].", `\a backslash, C:\Users`} {
		if !strings.Contains(got, want) {
			t.Fatalf("imported text lost %q:\n%s", want, got)
		}
	}
	if o, _ := a.Get(ctx, noteID); o.Details["tags"] != "[a, b]" {
		t.Fatalf("tags %q", o.Details["tags"])
	}
	// One version per imported object.
	if vs, _ := a.History(ctx, noteID); len(vs) != 1 {
		t.Fatalf("%d versions after an import", len(vs))
	}
	if _, err := a.WriteMarkdown(ctx, noteID, "\\a and \\b stay\n", EditOptions{}); err != nil {
		t.Fatal(err)
	}
	// The backslashes are text (no escapes in CommonMark): written back,
	// they read as the same text again.
	got = md(t, a, noteID)
	if back := markdown.Parse(got); len(back) != 1 || back[0].Text != `\a and \b stay` {
		t.Fatalf("written text %q reads back as %+v", got, back)
	}
	var blocks []*crdt.Block
	a.db.View(ctx, func(tx store.Tx) error {
		l, _ := a.load(tx, noteID)
		blocks = l.doc.Blocks()
		return nil
	})
	if blocks[0].Text != `\a and \b stay` {
		t.Fatalf("stored text %q", blocks[0].Text)
	}
}

// While an edit is being computed the store is not locked: another writer
// (another command, the running device) stores a change meanwhile, and the
// edit is computed again on top of it, so both are kept. And a cancelled
// edit (Ctrl-C) leaves the store as it was.
func TestEditComputesOutsideTheWriteLock(t *testing.T) {
	a, _ := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "T", Blocks: markdown.Parse("one\n\ntwo\n")})
	other, err := Open(a.Dir()) // another process on the same folder
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	computing, release := make(chan struct{}), make(chan struct{})
	runs := 0
	done := make(chan error, 1)
	go func() {
		_, err := a.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error {
			runs++
			if runs == 1 {
				close(computing)
				<-release
			}
			return markdownAppend(tx, "three")
		})
		done <- err
	}()
	<-computing
	// The other writer is not blocked by the edit being computed.
	if _, err := other.AppendMarkdown(ctx, id, "meanwhile\n"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Fatalf("the edit ran %d times; it should run again on the new state", runs)
	}
	if got := md(t, a, id); got != "one\n\ntwo\n\nmeanwhile\n\nthree\n" {
		t.Fatalf("got %q", got)
	}
	// Cancelled while computing: nothing stored, and the call returns at
	// once rather than when the computation ends.
	before := md(t, a, id)
	cctx, cancel := context.WithCancel(ctx)
	stuck, started := make(chan struct{}), make(chan struct{})
	defer close(stuck)
	go func() { <-started; cancel() }()
	_, err = a.Edit(cctx, id, EditOptions{}, func(tx *crdt.Tx) error {
		markdownAppend(tx, "never")
		close(started)
		<-stuck
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled edit: %v", err)
	}
	if got := md(t, a, id); got != before {
		t.Fatalf("a cancelled edit left %q", got)
	}
}

func markdownAppend(tx *crdt.Tx, text string) error {
	tx.AppendBlocks(markdown.Parse(text + "\n"))
	return nil
}

// The engine runs on the store its caller gives it: the in-memory
// reference store, here, as SQLite elsewhere.
func TestEngineOnTheReferenceStore(t *testing.T) {
	phrase, _ := keys.NewPhrase()
	mk := func(name string) *Engine {
		e, err := Create(ctx, filepath.Join(t.TempDir(), name), memstore.New(), phrase, name)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b := mk("a"), mk("b")
	for _, x := range [][2]*Engine{{a, b}, {b, a}} {
		recs, _ := x[0].MemberRecords(ctx)
		x[1].AddMemberRecords(ctx, recs)
	}
	id, err := a.Create(ctx, NewPage{Title: "Mem", Blocks: markdown.Parse("x\n")})
	if err != nil {
		t.Fatal(err)
	}
	send(t, a, b, id)
	seen, _ := a.Get(ctx, id)
	b.WriteMarkdown(ctx, id, "x\n\nfrom b\n", EditOptions{})
	send(t, b, a, id)
	if _, err := a.WriteMarkdown(ctx, id, strings.Replace(seen.Markdown(), "x\n", "x, from a\n", 1), EditOptions{}); err != nil {
		t.Fatal(err)
	}
	send(t, a, b, id)
	for _, e := range []*Engine{a, b} {
		if got := md(t, e, id); got != "x, from a\n\nfrom b\n" {
			t.Fatalf("got %q", got)
		}
		if hits, _ := search(e, "from", 5); len(hits) != 1 {
			t.Fatalf("search: %+v", hits)
		}
		if _, err := e.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// A document over the limit is refused with the limit and what to do,
// before anything is computed.
func TestHugeDocumentRefused(t *testing.T) {
	a, _ := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "T"})
	huge := strings.Repeat("a line of a very large paste\n\n", (MaxMarkdown/30)+1)
	if _, err := a.WriteMarkdown(ctx, id, huge, EditOptions{}); err == nil || !strings.Contains(err.Error(), "at most 16 MB") || !strings.Contains(err.Error(), "split it") {
		t.Fatalf("a %d MB document: %v", len(huge)>>20, err)
	}
	if _, err := a.CreateMarkdown(ctx, huge, map[string]string{"title": "x"}); err == nil {
		t.Fatal("created a page over the limit")
	}
	if vs, _ := a.History(ctx, id); len(vs) != 1 {
		t.Fatalf("a refused write left %d versions", len(vs))
	}
}

// A change id can start with digits only (6% of them for six characters):
// such a prefix names the change, not a version numbered like it.
func TestDigitPrefixNamesTheChange(t *testing.T) {
	a, _ := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "Counting", Blocks: markdown.Parse("0\n")})
	for i := 1; i < 400; i++ {
		if _, err := a.WriteMarkdown(ctx, id, fmt.Sprintf("%d\n", i), EditOptions{NewVersion: true}); err != nil {
			t.Fatal(err)
		}
		steps, _ := a.Steps(ctx, id)
		last := steps[len(steps)-1].Meta.ID
		prefix := last.String()[:8]
		if strings.Trim(prefix, "0123456789") != "" {
			continue
		}
		p, err := a.ParsePoint(ctx, id, prefix)
		if err != nil || p.Change != last {
			t.Fatalf("%s names %+v, %v; want change %s", prefix, p, err, last.Short())
		}
		if p, err := a.ParsePoint(ctx, id, "2"); err != nil || p.Version != 2 {
			t.Fatalf("2 names %+v, %v", p, err)
		}
		return
	}
	t.Skip("no change id started with eight digits")
}
