package markdown

import (
	"encoding/base64"
	"testing"

	"mycel/internal/crdt"
	"mycel/internal/files"
)

// outlineOf is blocks as "type:text", children indented.
func outlineOf(bs []*crdt.Block, ind string) []string {
	var out []string
	for _, b := range bs {
		if b.Type == crdt.TypeFile {
			out = append(out, ind+"file") // a reference here: the engine resolves it to the block
		} else {
			out = append(out, ind+b.Type+":"+b.Text)
		}
		out = append(out, outlineOf(b.Children, ind+"  ")...)
	}
	return out
}

// A file under a list item comes back under it through Markdown, however
// the item's other children and text are: an empty item, a file before a
// paragraph, a file after a sub-list (each read back otherwise: the file
// as the item's text, or under the sub-item).
func TestFilesUnderListItemsRoundTrip(t *testing.T) {
	m, err := files.NewKeys([32]byte{1}).New("a.png", "", 3, files.WholeHash(3, []files.Ref{{Size: 3}}), []files.Ref{{Size: 3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	file := func() *crdt.Block {
		b := newBlock(crdt.TypeFile)
		b.Attrs[fileAttr] = base64.RawStdEncoding.EncodeToString(m.Marshal())
		return b
	}
	item := func(text string, kids ...*crdt.Block) *crdt.Block {
		b := newBlock(crdt.TypeBulleted)
		b.Text, b.Children = text, kids
		return b
	}
	para := func(text string) *crdt.Block { b := newBlock(crdt.TypeParagraph); b.Text = text; return b }
	for name, page := range map[string][]*crdt.Block{
		"empty item":          {item("", file())},
		"file, then text":     {item("it", file(), para("after"))},
		"sub-list, then file": {item("it", item("sub"), file())},
		"files, then a list":  {item("it", file(), file(), item("sub"))},
	} {
		md := Render(page)
		back := Parse(md)
		want, got := outlineOf(page, ""), outlineOf(back, "")
		if len(want) != len(got) {
			t.Errorf("%s: %q read back as %q (from %q)", name, want, got, md)
			continue
		}
		for i := range want {
			if want[i] != got[i] {
				t.Errorf("%s: %q read back as %q (from %q)", name, want, got, md)
				break
			}
		}
	}
}
