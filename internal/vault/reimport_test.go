package vault

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/crdt"
	"mycel/internal/markdown"
)

// Importing a Markdown folder again never undoes what was written in
// mycel since the last import: a file that did not change changes nothing,
// and a file that changed is merged with the edits made in mycel (it is
// built on the version the previous import made, like any concurrent
// edit). Before, each re-import brought every page to its file's text on
// top of the current version, deleting what had been typed in mycel.
func TestMarkdownReimportKeepsEditsMadeSince(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, text string) {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("Garden.md", "Water the roses.\n\nPrune the apple tree.\n")
	write("Kitchen.md", "Bake bread.\n")
	e, _ := pair(t)
	if r, err := e.ImportMarkdown(ctx, dir); err != nil || r.Created != 2 {
		t.Fatalf("first import: %+v, %v", r, err)
	}
	got := titles(t, e)
	typed := func(id string, text string) {
		t.Helper()
		_, err := e.Edit(ctx, got[id], EditOptions{NewVersion: true}, func(tx *crdt.Tx) error {
			tx.AppendBlocks(markdown.Parse(text))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	typed("Garden", "Typed in mycel after the import.\n")
	typed("Kitchen", "Also typed in mycel.\n")

	// The same folder again: nothing in it changed, so nothing changes.
	r, err := e.ImportMarkdown(ctx, dir)
	if err != nil || r.Created != 0 || r.Updated != 0 || r.Unchanged != 2 {
		t.Fatalf("second import: %+v, %v", r, err)
	}
	text := func(name string) string {
		o, err := e.Get(ctx, got[name])
		if err != nil {
			t.Fatal(err)
		}
		return markdown.Render(o.Doc.Blocks())
	}
	for name, want := range map[string]string{"Garden": "Typed in mycel after the import.", "Kitchen": "Also typed in mycel."} {
		if s := text(name); !strings.Contains(s, want) {
			t.Fatalf("re-import of an unchanged folder undid an edit: %s reads %q", name, s)
		}
	}

	// The file changed too: both the file's change and mycel's edit stay.
	write("Garden.md", "Water the roses at dawn.\n\nPrune the apple tree.\n")
	r, err = e.ImportMarkdown(ctx, dir)
	if err != nil || r.Updated != 1 || r.Unchanged != 1 {
		t.Fatalf("third import: %+v, %v", r, err)
	}
	s := text("Garden")
	for _, want := range []string{"Water the roses at dawn.", "Prune the apple tree.", "Typed in mycel after the import."} {
		if !strings.Contains(s, want) {
			t.Fatalf("after importing the changed file the garden reads %q, missing %q", s, want)
		}
	}
	if strings.Count(s, "Prune the apple tree.") != 1 {
		t.Fatalf("the garden repeats what did not change: %q", s)
	}

	// Once more with the file as it is now: unchanged, and a further
	// mycel edit stays.
	typed("Garden", "And one more line.\n")
	if r, err = e.ImportMarkdown(ctx, dir); err != nil || r.Unchanged != 2 {
		t.Fatalf("fourth import: %+v, %v", r, err)
	}
	if s := text("Garden"); !strings.Contains(s, "And one more line.") || !strings.Contains(s, "Typed in mycel after the import.") {
		t.Fatalf("the garden reads %q", s)
	}
}

// A page imported on another device (its path detail synced here, but not
// what that import made) is updated only when that cannot undo anything:
// a file equal to the page changes nothing; one that differs is skipped and
// the report says why and what to do.
func TestMarkdownReimportOfAnotherDevicesImport(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Note.md"), []byte("First line.\n"), 0o600)
	a, b := pair(t)
	if _, err := a.ImportMarkdown(ctx, dir); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a, b)
	if r, err := b.ImportMarkdown(ctx, dir); err != nil || r.Created != 0 || r.Unchanged != 1 {
		t.Fatalf("import of the same file on the other device: %+v, %v", r, err)
	}
	id := titles(t, b)["Note"]
	b.Edit(ctx, id, EditOptions{NewVersion: true}, func(tx *crdt.Tx) error {
		tx.AppendBlocks(markdown.Parse("Typed on b.\n"))
		return nil
	})
	syncAll(t, b, a)
	os.WriteFile(filepath.Join(dir, "Note.md"), []byte("First line, changed.\n"), 0o600)
	// a made the import: its change merges with b's edit.
	r, err := a.ImportMarkdown(ctx, dir)
	if err != nil || r.Updated != 1 {
		t.Fatalf("import on a: %+v, %v", r, err)
	}
	o, _ := a.Get(ctx, id)
	if s := markdown.Render(o.Doc.Blocks()); !strings.Contains(s, "Typed on b.") || !strings.Contains(s, "First line, changed.") {
		t.Fatalf("note on a reads %q", s)
	}
}

// syncAll gives to dst every change of every object src has.
func syncAll(t *testing.T, src, dst *Engine) {
	t.Helper()
	rows, err := src.List(ctx, ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		send(t, src, dst, row.ID)
	}
}

// A JSON export of another vault imported again and again, while the page
// is also edited here: each import changes what the export changed and
// keeps the edit made here, also on the import after the one that merged
// with it. The record of an import kept the page's heads after it, the
// edit made here among them, so the next import was built on that edit
// and deleted it.
func TestJSONReimportsKeepAnEditMergedEarlier(t *testing.T) {
	src, _ := pair(t)
	dst, _, err := Init(ctx, filepath.Join(t.TempDir(), "dst"), "desk")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	id, _ := src.Create(ctx, NewPage{Title: "Shared", Blocks: markdown.Parse("first\n")})
	export := func(text string) string {
		t.Helper()
		if _, err := src.WriteMarkdown(ctx, id, text, EditOptions{NewVersion: true}); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "export")
		if _, err := src.ExportJSON(ctx, dir, nil); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	if r, err := dst.ImportJSON(ctx, export("first\n")); err != nil || r.Created != 1 {
		t.Fatalf("first import: %+v, %v", r, err)
	}
	mine := titles(t, dst)["Shared"]
	if _, err := dst.Edit(ctx, mine, EditOptions{NewVersion: true}, func(tx *crdt.Tx) error {
		tx.AppendBlocks(markdown.Parse("written here\n"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{"first\n\nsecond\n", "first\n\nsecond\n\nthird\n"} {
		if r, err := dst.ImportJSON(ctx, export(text)); err != nil || r.Updated != 1 {
			t.Fatalf("import %d: %+v, %v", i+2, r, err)
		}
		got := md(t, dst, mine)
		for _, want := range append(strings.Split(strings.TrimSpace(text), "\n\n"), "written here") {
			if !strings.Contains(got, want) {
				t.Fatalf("after import %d the page reads %q, without %q", i+2, got, want)
			}
		}
	}
}

// A note whose link names a note that came into the folder since is
// imported again (its link now leads to that note), though its file did
// not change.
func TestMarkdownReimportResolvesLinksToNewNotes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "A.md"), []byte("See [[B]].\n"), 0o600)
	e, _ := pair(t)
	if _, err := e.ImportMarkdown(ctx, dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "B.md"), []byte("Bee.\n"), 0o600)
	r, err := e.ImportMarkdown(ctx, dir)
	if err != nil || r.Created != 1 || r.Updated != 1 {
		t.Fatalf("import with B: %+v, %v", r, err)
	}
	got := titles(t, e)
	a, _ := e.Get(ctx, got["A"])
	if ls := LinksOf(a.Doc.Blocks()); len(ls) != 1 || ls[0] != got["B"] {
		t.Fatalf("A links to %v, want B %s", ls, got["B"].Short())
	}
}
