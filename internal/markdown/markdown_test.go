package markdown

import (
	"maps"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"mycel/internal/checks"
	"mycel/internal/crdt"
)

var kinds = []string{crdt.TypeParagraph, crdt.TypeHeading1, crdt.TypeHeading2, crdt.TypeHeading3, crdt.TypeTodo,
	crdt.TypeBulleted, crdt.TypeNumbered, crdt.TypeQuote, crdt.TypeCode, crdt.TypeLink}

// Characters that mean something in Markdown, plus ordinary ones.
var tricky = []rune("ab #-*+>`~[]()1.x\\\t|é")

func genText(t *rapid.T, multiline bool) string {
	n := rapid.IntRange(0, 12).Draw(t, "n")
	r := make([]rune, n)
	for i := range r {
		if multiline && rapid.IntRange(0, 6).Draw(t, "nl") == 0 {
			r[i] = '\n'
		} else {
			r[i] = tricky[rapid.IntRange(0, len(tricky)-1).Draw(t, "c")]
		}
	}
	return string(r)
}

func genBlocks(t *rapid.T, depth int) []*crdt.Block {
	n := rapid.IntRange(0, 4).Draw(t, "blocks")
	var out []*crdt.Block
	for i := 0; i < n; i++ {
		k := kinds[rapid.IntRange(0, len(kinds)-1).Draw(t, "kind")]
		multi := k == crdt.TypeParagraph || k == crdt.TypeQuote || k == crdt.TypeCode
		b := &crdt.Block{Type: k, Attrs: map[string]string{}, Text: genText(t, multi)}
		switch k {
		case crdt.TypeTodo:
			b.Attrs["checked"] = []string{"false", "true"}[rapid.IntRange(0, 1).Draw(t, "checked")]
		case crdt.TypeCode:
			if rapid.Bool().Draw(t, "lang") {
				b.Attrs["language"] = "go"
			}
		case crdt.TypeLink:
			b.Attrs["target"] = "0a1b2c"
		}
		if depth < 3 && rapid.IntRange(0, 3).Draw(t, "kids") == 0 {
			b.Children = genBlocks(t, depth+1)
		}
		out = append(out, b)
	}
	return out
}

func TestMain(m *testing.M) { checks.Default(m, "2000") }

func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		blocks := genBlocks(t, 0)
		md := Render(blocks)
		got := Parse(md)
		if !reflect.DeepEqual(norm(got), norm(blocks)) {
			t.Fatalf("round trip differs\nmarkdown:\n%s\nwant %s\ngot  %s", md, show(blocks), show(got))
		}
	})
}

func norm(bs []*crdt.Block) []*crdt.Block {
	if len(bs) == 0 {
		return nil
	}
	for _, b := range bs {
		if len(b.Attrs) == 0 {
			b.Attrs = map[string]string{}
		}
		b.Children = norm(b.Children)
	}
	return bs
}

func show(bs []*crdt.Block) string {
	var s strings.Builder
	for _, b := range bs {
		s.WriteString("{" + b.Type + " " + strings.ReplaceAll(b.Text, "\n", "⏎") + " " + show(b.Children) + "}")
	}
	return s.String()
}

func TestParsesCommonMarkdown(t *testing.T) {
	md := "# Title\r\n\nSome *text*\nmore\n\n* one\n\t+ nested\n3. three\n- [X] done\n\n~~~py\nprint(1)\n~~~\n"
	got := Parse(md)
	want := []string{"heading1 Title", "paragraph Some *text*\nmore", "bulleted one", "numbered three", "todo done", "code print(1)"}
	if len(got) != len(want) {
		t.Fatalf("got %d blocks: %s", len(got), show(got))
	}
	for i, b := range got {
		if b.Type+" "+b.Text != want[i] {
			t.Errorf("block %d = %q, want %q", i, b.Type+" "+b.Text, want[i])
		}
	}
	if len(got[2].Children) != 1 || got[2].Children[0].Text != "nested" {
		t.Errorf("nested item lost: %s", show(got))
	}
	if got[4].Attrs["checked"] != "true" || got[5].Attrs["language"] != "py" {
		t.Errorf("attributes lost: %v %v", got[4].Attrs, got[5].Attrs)
	}
}

func TestDocumentFrontMatter(t *testing.T) {
	d := map[string]string{"title": "Garden: plans", "tags": "home"}
	meta := Meta{ID: strings.Repeat("ab", 32), Heads: []string{strings.Repeat("01", 32), strings.Repeat("02", 32)}, Created: "2026-01-02T03:04:05Z"}
	blocks := Parse("# Beds\n\n- tomatoes\n")
	md := RenderDocument(d, meta, blocks)
	got := ParseDocument(md)
	if !reflect.DeepEqual(got.Details, d) || !reflect.DeepEqual(got.Meta, meta) || Render(got.Blocks) != Render(blocks) {
		t.Fatalf("document round trip: %v %+v %q", got.Details, got.Meta, Render(got.Blocks))
	}
	if got := ParseDocument("just text\n"); got.Details != nil {
		t.Fatal("no front matter must give nil details")
	}
	// Front matter as notes apps write it: lists, quotes, comments.
	got = ParseDocument("---\ntitle: \"Q: A\"\ntags: [a, 'b c']\naliases:\n  - x\n  - y\n# a comment\n---\nbody\n")
	if want := map[string]string{"title": "Q: A", "tags": "a, b c", "aliases": "x, y"}; !reflect.DeepEqual(got.Details, want) || got.Body != "body\n" {
		t.Fatalf("notes-app front matter: %v %q", got.Details, got.Body)
	}
}

// What a person types is kept: a backslash before a letter is theirs, not
// an escape (CommonMark keeps it too); one before markup is an escape.
func TestBackslashesKept(t *testing.T) {
	for md, want := range map[string]string{
		"\\a b\n":             `\a b`,
		"C:\\Users\n":         `C:\Users`,
		"\\# not a heading\n": "# not a heading",
		"- \\a\n":             `\a`,
		"x\n\\b\n":            "x\n\\b",
	} {
		blocks := Parse(md)
		if len(blocks) != 1 || blocks[0].Text != want {
			t.Errorf("%q parses to %q, want %q", md, show(blocks), want)
			continue
		}
		if again := Parse(Render(blocks)); again[0].Text != want {
			t.Errorf("%q does not round trip: %q", md, again[0].Text)
		}
	}
}

// Whatever a person types, parsing never panics, and what it parses to
// renders to Markdown that parses back to the same blocks.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"# a\n\n- b\n  - c\n", "```go\nx\n```\n", "> q\n>\n> r\n", "1. x\n2. y\n", "[t](mycel:ab)\n", "\\# not\n\\\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		blocks := Parse(md)
		for _, b := range flatten(blocks) {
			if b.Type != "paragraph" && b.Type != "quote" && b.Type != "code" && strings.Contains(b.Text, "\n") {
				return // single-line kinds cannot hold a newline; Render folds it
			}
		}
		once := Render(blocks)
		if again := Render(Parse(once)); again != once {
			t.Fatalf("not stable:\n%q\n%q", once, again)
		}
	})
}

func flatten(bs []*crdt.Block) []*crdt.Block {
	var out []*crdt.Block
	for _, b := range bs {
		out = append(out, b)
		out = append(out, flatten(b.Children)...)
	}
	return out
}

// Whatever front matter a file holds, reading it never panics, and what
// it reads writes back to front matter that reads the same.
func FuzzParseDocument(f *testing.F) {
	for _, s := range []string{"---\ntitle: \"a\"\ntags: [x, 'y']\n---\nbody\n", "---\nk: - v\n  - w\n---\n", "---\n---\n", "---\nheads: ab, cd\nid: EF\n---\n# x\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		doc := ParseDocument(md)
		if doc.Details == nil {
			return
		}
		for k, v := range doc.Details {
			if strings.ContainsAny(k, ":\n") || strings.HasPrefix(k, "-") || strings.HasPrefix(k, "#") || strings.Contains(v, "\n") {
				return // not a detail mycel writes
			}
		}
		again := ParseDocument(RenderDocument(doc.Details, doc.Meta, nil))
		if !maps.Equal(again.Details, doc.Details) {
			t.Fatalf("details %q read back as %q", doc.Details, again.Details)
		}
	})
}
