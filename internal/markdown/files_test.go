package markdown

import (
	"strings"
	"testing"

	"mycel/internal/crdt"
)

var hash64 = strings.Repeat("0f", 32)

// File references parse to file blocks that name their file; everything
// else reads as before, and an unresolved reference reads back as written.
func TestParseFileRefs(t *testing.T) {
	bs := Parse("![photo|640x480](mycel:file/" + hash64 + ")\n\n[*the* doc](mycel:file/" + strings.ToUpper(hash64) + ")\n")
	if len(bs) != 2 || bs[0].Type != crdt.TypeFile || bs[0].Attrs["size"] != "640x480" || bs[0].Text != "photo" {
		t.Fatalf("image: %+v", bs[0])
	}
	if h, ok := FileHash(bs[1].Attrs[AttrFileRef]); !ok || h != hash64 || bs[1].Text != "the doc" || len(bs[1].Marks) != 1 {
		t.Fatalf("link: %+v", bs[1])
	}
	// Not files: kept as they always were.
	for _, md := range []string{"![](img.png)\n", "[doc](files/doc.pdf)\n", "![[img.png|200]]\n", "text ![a](mycel:file/" + hash64 + ") text\n"} {
		if b := Parse(md); b[0].Type == crdt.TypeFile {
			t.Fatalf("%q read as a file", md)
		}
	}
	// An import reads local files too; a note embed stays an embed.
	local := Parse("![[img.png|200]]\n![](sub/a%20b.png)\n[doc](files/doc.pdf)\n\n![[Note]]\n", WithLocalFiles())
	if len(local) != 4 || local[0].Attrs[AttrFileRef] != "img.png" || local[0].Attrs["size"] != "200" || local[1].Attrs[AttrFileRef] != "sub/a%20b.png" || local[2].Text != "doc" || local[3].Type != crdt.TypeEmbed {
		t.Fatalf("local: %+v %+v %+v %+v", local[0], local[1], local[2], local[3])
	}
	for _, b := range local[:3] {
		if got := Render([]*crdt.Block{Unresolved(b)}); got != b.Attrs[AttrFileSource]+"\n" {
			t.Fatalf("unresolved %q renders %q", b.Attrs[AttrFileSource], got)
		}
	}
	// Text, then files on the next lines (as under a tight list item).
	item := Parse("- item\n  ![a](mycel:file/" + hash64 + ")\n")
	if len(item) != 1 || item[0].Text != "item" || len(item[0].Children) != 1 || item[0].Children[0].Type != crdt.TypeFile {
		t.Fatalf("item: %+v", item[0])
	}
}

// Exported for Obsidian, a file is a wikilink to its name, its caption
// and size in the alias; the import reads them back.
func TestRenderFileObsidianExport(t *testing.T) {
	b := &crdt.Block{Type: crdt.TypeFile, Text: "at the lake", Attrs: map[string]string{fileAttr: "x", "size": "200"}}
	// A manifest that does not decode is never linked to a file.
	if got := Render([]*crdt.Block{b}, WithFiles(func(string) (string, bool) { return "a.png", true })); !strings.Contains(got, "mycel:file/raw/x") {
		t.Fatalf("damaged: %q", got)
	}
	bs := Parse("![[a.png|at the lake|200]]\n\n[[doc.pdf|the report]]\n", WithLocalFiles())
	if len(bs) != 2 || bs[0].Text != "at the lake" || bs[0].Attrs["size"] != "200" || bs[1].Text != "the report" || bs[1].Attrs[AttrFileRef] != "doc.pdf" {
		t.Fatalf("parsed: %+v %+v", bs[0], bs[1])
	}
}
