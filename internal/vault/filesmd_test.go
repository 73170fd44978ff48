package vault

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/files"
	"mycel/internal/markdown"
)

func solo(t *testing.T) *Engine {
	t.Helper()
	e, _, err := Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// storeBytes stores b as a file named name.
func storeBytes(t *testing.T, e *Engine, name string, b []byte) *files.Manifest {
	t.Helper()
	m, err := e.StoreFile(ctx, bytes.NewReader(b), StoreFileOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stripIDs gives blocks without their ids, for comparing parsed trees.
func blockIDs(bs []*crdt.Block) []string {
	var out []string
	walkBlocks(bs, func(b *crdt.Block) { out = append(out, b.ID.String()) })
	return out
}

// A page with files, shown and written back (write, edit, append of the
// whole page elsewhere), keeps every file block: the same blocks, ids and
// attributes byte for byte.
func TestFilesShowWriteSameBlocks(t *testing.T) {
	e := solo(t)
	png := storeBytes(t, e, "photo.png", []byte("\x89PNG\r\n\x1a\nnot really"))
	pdf := storeBytes(t, e, "doc [1].pdf", []byte("%PDF-1.4 something"))
	same := storeBytes(t, e, "copy.png", []byte("\x89PNG\r\n\x1a\nnot really")) // same bytes, another name
	// A size and a caption, and a file inside a quote and a callout.
	sized, captioned := FileBlock(png), FileBlock(pdf)
	sized.Attrs["size"] = "200"
	captioned.Text = "the report"
	q := &crdt.Block{Type: crdt.TypeQuote, Children: []*crdt.Block{FileBlock(pdf), {Type: crdt.TypeParagraph, Text: "said"}}}
	c := &crdt.Block{Type: crdt.TypeCallout, Attrs: map[string]string{"kind": "note"}, Text: "look", Children: []*crdt.Block{FileBlock(png)}}
	id, err := e.Create(ctx, NewPage{Title: "Trip", Blocks: append(markdown.Parse("before"), sized, captioned, FileBlock(same), q, c)})
	if err != nil {
		t.Fatal(err)
	}
	o, _ := e.Get(ctx, id)
	before := o.Doc.Blocks()
	md := o.Markdown()
	for _, want := range []string{"![photo.png|200](mycel:file/" + png.ID() + ")", "[the report](mycel:file/" + pdf.ID() + ")", "![copy.png](mycel:file/" + png.ID() + ")"} {
		if !strings.Contains(md, want) {
			t.Fatalf("show lacks %q:\n%s", want, md)
		}
	}
	res, err := e.WriteMarkdown(ctx, id, md, EditOptions{NewVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed {
		o2, _ := e.Get(ctx, id)
		t.Fatalf("writing back what show gave changed the page:\n%s\nto\n%s", md, o2.Markdown())
	}
	o, _ = e.Get(ctx, id)
	if !reflect.DeepEqual(before, o.Doc.Blocks()) {
		t.Fatal("blocks differ after write")
	}
	// Moved around by hand: the same blocks still (ids kept by Replace).
	moved := strings.Replace(md, "before\n", "before\n\n![photo.png|200](mycel:file/"+png.ID()+")\n", 1)
	moved = strings.Replace(moved, "![photo.png|200](mycel:file/"+png.ID()+")\n\n[the report]", "[the report]", 1)
	if _, err := e.WriteMarkdown(ctx, id, moved, EditOptions{NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	o, _ = e.Get(ctx, id)
	fs := filesOf(id, o.Doc.Blocks())
	if len(fs) != 5 {
		t.Fatalf("%d files after a move", len(fs))
	}
	names := map[string]int{}
	for _, f := range fs {
		names[f.Manifest.Name]++
	}
	if names["photo.png"] != 2 || names["copy.png"] != 1 || names["doc [1].pdf"] != 2 {
		t.Fatalf("files after a move: %v", names)
	}

	// Into another page: resolved from the vault.
	other, err := e.CreateMarkdown(ctx, "---\ntitle: Other\n---\n\n[x](mycel:file/"+pdf.ID()+")\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fs, _ := e.Files(ctx, other); len(fs) != 1 || fs[0].Manifest.ID() != pdf.ID() {
		t.Fatalf("files of another page: %+v", fs)
	}
	if _, err := e.AppendMarkdown(ctx, other, "![](mycel:file/"+png.ID()+")\n"); err != nil {
		t.Fatal(err)
	}
	if fs, _ := e.Files(ctx, other); len(fs) != 2 {
		t.Fatalf("append: %d files", len(fs))
	}
}

// A reference to no file of this vault stays as it was written, never
// dropped; so does an image or link that is no file reference.
func TestFilesUnresolvedKept(t *testing.T) {
	e := solo(t)
	missing := strings.Repeat("ab", 32)
	md := "![gone|300](mycel:file/" + missing + ")\n\n[gone too](mycel:file/" + missing + ")\n\n![web](https://example.com/x.png)\n"
	id, err := e.CreateMarkdown(ctx, "---\ntitle: T\n---\n\n"+md, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := e.Get(ctx, id)
	if got := markdown.Render(o.Doc.Blocks()); got != md {
		t.Fatalf("kept:\n%q\nwant\n%q", got, md)
	}
	for _, b := range o.Doc.Blocks() {
		if b.Type == crdt.TypeFile {
			t.Fatalf("a file block from nothing: %+v", b)
		}
	}
}

// A damaged manifest (or one from a newer mycel) survives show and write.
func TestFilesDamagedManifestKept(t *testing.T) {
	e := solo(t)
	id, _ := e.CreateMarkdown(ctx, "---\ntitle: T\n---\n\nx\n", nil)
	bad := &crdt.Block{Type: crdt.TypeFile, Attrs: map[string]string{FileAttr: "AAAA"}}
	e.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error { tx.AppendBlocks([]*crdt.Block{bad}); return nil })
	o, _ := e.Get(ctx, id)
	before := o.Doc.Blocks()
	if res, err := e.WriteMarkdown(ctx, id, o.Markdown(), EditOptions{}); err != nil || res.Changed {
		t.Fatalf("write back: %+v %v\n%s", res, err, o.Markdown())
	}
	o, _ = e.Get(ctx, id)
	if !reflect.DeepEqual(before, o.Doc.Blocks()) {
		t.Fatal("damaged block changed")
	}
}

// Property: random pages of text and file blocks (captions, sizes, the
// same file twice, files in quotes) read back from their Markdown as the
// same blocks.
func TestFilesMarkdownRoundTripProperty(t *testing.T) {
	e := solo(t)
	var ms []*files.Manifest
	for i, name := range []string{"a.png", "b.jpg", "notes.pdf", "data.bin", "weird |name].png", "cover|200", "two\nlines.png"} {
		n := i % 4 // the same bytes under two names
		if i > 4 {
			n = i // one of a kind: a caption naming another manifest of the same bytes picks that one
		}
		ms = append(ms, storeBytes(t, e, name, []byte(fmt.Sprintf("content %d", n))))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	texts := []string{"plain", "**bold** text", "a [link](https://x.y)", "![img](https://x.y/i.png)"}
	captions := []string{"", "", "a caption", "*marked* caption", "b.jpg", "caption|300", "one\n- two"}
	for round := range 60 {
		var bs []*crdt.Block
		for range 1 + rng.IntN(8) {
			switch rng.IntN(3) {
			case 0:
				bs = append(bs, markdown.Parse(texts[rng.IntN(len(texts))])...)
			default:
				m := ms[rng.IntN(len(ms))]
				fb := FileBlock(m)
				if c := captions[rng.IntN(len(captions))]; c != "" && c != m.Name {
					p := markdown.Parse(c)[0]
					fb.Text, fb.Marks = p.Text, p.Marks
				}
				if rng.IntN(3) == 0 {
					fb.Attrs["size"] = []string{"200", "640x480"}[rng.IntN(2)]
				}
				switch rng.IntN(8) {
				case 0:
					fb = &crdt.Block{Type: crdt.TypeQuote, Children: []*crdt.Block{fb}}
				case 1: // under a tight list item, on the line after its text
					fb = &crdt.Block{Type: crdt.TypeBulleted, Text: "item", Children: []*crdt.Block{fb}}
				case 2:
					fb = &crdt.Block{Type: crdt.TypeTodo, Attrs: map[string]string{"checked": "true"}, Text: "**done**", Marks: []crdt.Mark{{Start: 0, End: 4, Type: crdt.MarkBold}}, Children: []*crdt.Block{fb, FileBlock(ms[0])}}
				case 3:
					fb = &crdt.Block{Type: crdt.TypeCallout, Attrs: map[string]string{"kind": "tip"}, Children: []*crdt.Block{fb}}
				}
				bs = append(bs, fb)
			}
		}
		id, err := e.Create(ctx, NewPage{Title: fmt.Sprint("p", round), Blocks: bs})
		if err != nil {
			t.Fatal(err)
		}
		o, _ := e.Get(ctx, id)
		before := o.Doc.Blocks()
		md := o.Markdown()
		res, err := e.WriteMarkdown(ctx, id, md, EditOptions{})
		if err != nil {
			t.Fatal(err)
		}
		o, _ = e.Get(ctx, id)
		if res.Changed || !reflect.DeepEqual(before, o.Doc.Blocks()) {
			t.Fatalf("round %d: write of show changed the page:\n%s\nnow\n%s", round, md, o.Markdown())
		}
		if !slicesEqual(blockIDs(before), blockIDs(o.Doc.Blocks())) {
			t.Fatalf("round %d: ids changed", round)
		}
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

var _ = change.ID{}

// A file block removed after the page was shown, written back from what
// show gave: the reference is that block, so the merge keeps the removal
// and leaves no text of it behind.
func TestFilesWriteAfterConcurrentRemoval(t *testing.T) {
	e := solo(t)
	m := storeBytes(t, e, "p.png", []byte("png"))
	id, _ := e.Create(ctx, NewPage{Title: "T", Blocks: append(markdown.Parse("text"), FileBlock(m))})
	o, _ := e.Get(ctx, id)
	shown := o.Markdown()
	if _, err := e.Edit(ctx, id, EditOptions{NewVersion: true}, func(tx *crdt.Tx) error {
		tx.Replace(markdown.Parse("text"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.WriteMarkdown(ctx, id, strings.Replace(shown, "text", "more text", 1), EditOptions{NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	o, _ = e.Get(ctx, id)
	if got := markdown.Render(o.Doc.Blocks()); got != "more text\n" {
		t.Fatalf("after the write: %q", got)
	}
}

// Names and captions holding what Markdown's file syntax uses (a "|"
// before what reads as a size, a line break) read back from the
// Markdown as the same blocks, with or without a size.
func TestFilesMarkdownPipesAndNewlines(t *testing.T) {
	e := solo(t)
	names := []string{"cover|200", "shot|640x480", "two\nlines.png", "end|", "a\\|b.png", "x|1\ny|2"}
	captions := []string{"", "caption|300", "one\ntwo", "|", "a | b", "tail\n", "\\|200", "**bold**|200"}
	for i, name := range names {
		m := storeBytes(t, e, name, []byte(fmt.Sprintf("file %d", i)))
		for j, c := range captions {
			for _, size := range []string{"", "200"} {
				fb := FileBlock(m)
				fb.Text = c
				if c == "**bold**|200" {
					fb.Text, fb.Marks = "bold|200", []crdt.Mark{{Start: 0, End: 4, Type: crdt.MarkBold}}
				}
				if size != "" {
					fb.Attrs["size"] = size
				}
				id, err := e.Create(ctx, NewPage{Title: fmt.Sprint("p", i, j), Blocks: []*crdt.Block{fb}})
				if err != nil {
					t.Fatal(err)
				}
				o, _ := e.Get(ctx, id)
				before := o.Doc.Blocks()
				md := o.Markdown()
				if _, err := e.WriteMarkdown(ctx, id, md, EditOptions{}); err != nil {
					t.Fatal(err)
				}
				o, _ = e.Get(ctx, id)
				if after := o.Doc.Blocks(); !reflect.DeepEqual(before, after) {
					t.Errorf("name %q caption %q size %q: show then write changed the block:\n%s\nnow text %q attrs size %q",
						name, c, size, md, after[0].Text, after[0].Attrs["size"])
				}
			}
		}
	}
}
