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

func TestMain(m *testing.M) { checks.Default(m, "2000") }

var flavors = map[string]Flavor{"markdown": Markdown, "obsidian": Obsidian}

// Characters that mean something in Markdown (or Obsidian), plus ordinary ones.
var tricky = []rune("ab #-*+>`~[]()!<>&=%|^$:1.x\\_\t é")

func genText(t *rapid.T, label string) string {
	n := rapid.IntRange(1, 14).Draw(t, label+"-n")
	r := make([]rune, n)
	for i := range r {
		r[i] = tricky[rapid.IntRange(0, len(tricky)-1).Draw(t, label)]
	}
	return string(r)
}

// Whatever text a paragraph, heading, list item, quote or cell holds,
// rendering escapes it so that it reads back the same, in both flavors.
func TestTextRoundTrip(t *testing.T) {
	kinds := []string{crdt.TypeParagraph, crdt.TypeHeading1, crdt.TypeHeading4, crdt.TypeBulleted, crdt.TypeNumbered, crdt.TypeQuote, crdt.TypeTodo}
	for name, f := range flavors {
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				text := strings.TrimSpace(genText(t, "c"))
				if text == "" {
					t.Skip("empty")
				}
				k := kinds[rapid.IntRange(0, len(kinds)-1).Draw(t, "kind")]
				b := newBlock(k)
				b.Text = text
				switch k {
				case crdt.TypeNumbered:
					b.Attrs["start"] = "1"
				case crdt.TypeTodo:
					b.Attrs["checked"] = "false"
				}
				md := Render([]*crdt.Block{b}, WithFlavor(f))
				got := Parse(md, WithFlavor(f))
				if len(got) != 1 || got[0].Type != k || got[0].Text != text || len(got[0].Marks) != 0 {
					t.Fatalf("%s %q rendered %q, read back as %s", k, text, md, dump(got))
				}
			})
		})
	}
}

// Words under marks (properly nested, as a parser gives them) read back
// with the same marks.
func TestMarksRoundTrip(t *testing.T) {
	types := []string{crdt.MarkBold, crdt.MarkItalic, crdt.MarkStrike, crdt.MarkCode, crdt.MarkLink, crdt.MarkHighlight, crdt.MarkMention}
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 6).Draw(t, "words")
		var text strings.Builder
		var marks []crdt.Mark
		pos := 0
		for i := 0; i < n; i++ {
			if i > 0 {
				text.WriteString(" ")
				pos++
			}
			w := []string{"alpha", "b*c", "d_e", "[f]", "g`h", "x"}[rapid.IntRange(0, 5).Draw(t, "w")]
			if rapid.Bool().Draw(t, "marked") && !strings.ContainsAny(w, "[]") { // wiki links cannot hold brackets
				typ := types[rapid.IntRange(0, len(types)-1).Draw(t, "type")]
				m := crdt.Mark{Start: pos, End: pos + len(w), Type: typ}
				switch typ {
				case crdt.MarkLink:
					m.Value = "https://example.com/" + w
				case crdt.MarkMention:
					m.Value = "Note " + w
				}
				marks = append(marks, m)
			}
			text.WriteString(w)
			pos += len(w)
		}
		b := newBlock(crdt.TypeParagraph)
		b.Text, b.Marks = text.String(), normMarks(marks)
		md := Render([]*crdt.Block{b})
		got := Parse(md)
		if len(got) != 1 || got[0].Text != b.Text || !reflect.DeepEqual(got[0].Marks, b.Marks) {
			t.Fatalf("%s rendered %q, read back as %s", dump([]*crdt.Block{b}), md, dump(got))
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
		if len(b.Marks) == 0 {
			b.Marks = nil
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

func TestParsesRichMarkdown(t *testing.T) {
	md := "# Title\r\n\nSome *text* and **bold**\nmore\n\n* one\n\t+ nested\n3. three\n- [X] done\n\n~~~py\nprint(1)\n~~~\n"
	got := Parse(md)
	want := []string{"heading1 Title", "paragraph Some text and bold\nmore", "bulleted one", "numbered three", "todo done", "code print(1)"}
	if len(got) != len(want) {
		t.Fatalf("got %d blocks: %s", len(got), show(got))
	}
	for i, b := range got {
		if b.Type+" "+b.Text != want[i] {
			t.Errorf("block %d = %q, want %q", i, b.Type+" "+b.Text, want[i])
		}
	}
	if m := got[1].Marks; !reflect.DeepEqual(m, []crdt.Mark{{Start: 5, End: 9, Type: crdt.MarkItalic}, {Start: 14, End: 18, Type: crdt.MarkBold}}) {
		t.Errorf("marks %v", m)
	}
	if len(got[2].Children) != 1 || got[2].Children[0].Text != "nested" {
		t.Errorf("nested item lost: %s", show(got))
	}
	if got[3].Attrs["start"] != "3" || got[4].Attrs["checked"] != "true" || got[5].Attrs["language"] != "py" {
		t.Errorf("attributes lost: %v %v %v", got[3].Attrs, got[4].Attrs, got[5].Attrs)
	}
	// In the Markdown flavor a soft line break is a space; a hard one stays.
	if got := Parse("a\nb\\\nc\n", WithFlavor(Markdown)); got[0].Text != "a b\nc" {
		t.Errorf("line breaks: %q", got[0].Text)
	}
}

// What needs no escape gets none: lines starting with ** or [, rules,
// # tags, 2 * 3, snake_case.
func TestMinimalEscaping(t *testing.T) {
	for _, md := range []string{
		"**bold** start\n", "[x] not a link\n", "---\n", "a #tag here\n", "2 * 3 = 6\n", "snake_case_name\n",
		"[[Note]] and [[Other|alias]]\n", "C:\\Users\n", "a\n\n---\n\n- b\n",
	} {
		if got := Render(Parse(md)); got != md {
			t.Errorf("%q renders as %q", md, got)
		}
	}
	// And what needs one gets it.
	for text, want := range map[string]string{"# not a heading": `\# not a heading`, "- not an item": `\- not an item`,
		"1. not a list": `1\. not a list`, "*not em*": `\*not em\*`, "<b>": `\<b>`, "[a](b)": `\[a](b)`, "a\n---": "a\n\\---"} {
		b := newBlock(crdt.TypeParagraph)
		b.Text = text
		if got := Render([]*crdt.Block{b}); got != want+"\n" {
			t.Errorf("%q renders as %q, want %q", text, got, want)
		}
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

func TestDocumentFrontMatter(t *testing.T) {
	d := map[string]string{"title": "Garden: plans", "tags": "[home, garden]", "note": "a, b"}
	meta := Meta{ID: strings.Repeat("ab", 32), Heads: []string{strings.Repeat("01", 32), strings.Repeat("02", 32)}, Created: "2026-01-02T03:04:05Z", Updated: "2026-01-03T00:00:00Z"}
	blocks := Parse("# Beds\n\n- tomatoes #veg\n")
	md := RenderDocument(d, meta, blocks)
	if !strings.Contains(md, "\ntags: [home, garden]\n") {
		t.Errorf("a list is not written as one:\n%s", md)
	}
	got := ParseDocument(md)
	if !reflect.DeepEqual(got.Details, d) || !reflect.DeepEqual(got.Meta, meta) || Render(got.Blocks) != Render(blocks) {
		t.Fatalf("document round trip: %v %+v %q", got.Details, got.Meta, Render(got.Blocks))
	}
	if !reflect.DeepEqual(got.Tags, []string{"veg"}) {
		t.Errorf("tags %q", got.Tags)
	}
	if got := ParseDocument("just text\n"); got.Details != nil {
		t.Fatal("no front matter must give nil details")
	}
	// Front matter as notes apps write it: lists (flow and block), quotes, comments.
	got = ParseDocument("---\ntitle: \"Q: A\"\ntags: [a, 'b c']\naliases:\n  - x\n  - \"y, z\"\n# a comment\n---\nbody\n")
	if want := map[string]string{"title": "Q: A", "tags": "[a, b c]", "aliases": `[x, "y, z"]`}; !reflect.DeepEqual(got.Details, want) || got.Body != "body\n" {
		t.Fatalf("notes-app front matter: %v %q", got.Details, got.Body)
	}
	if items, ok := ListItems(got.Details["aliases"]); !ok || !reflect.DeepEqual(items, []string{"x", "y, z"}) {
		t.Fatalf("list items %q", items)
	}
}

// Whatever a person types, parsing never panics, and what it parses to
// renders to Markdown that reads back to the same blocks, with every word.
func FuzzParseRender(f *testing.F) {
	for _, s := range []string{"# a\n\n- b\n  - c\n", "```go\nx\n```\n", "> q\n>\n> r\n", "1. x\n2. y\n", "[t](mycel:ab)\n",
		"\\# not\n\\\n", "> [!note]- T\n> body\n", "![[a.png|20]]\n", "a ==b== [[c|d]] %%e%% [^1]\n\n[^1]: f\n"} {
		f.Add(s)
	}
	for _, ex := range loadExamplesIfAny() {
		f.Add(ex.Markdown)
	}
	f.Fuzz(func(t *testing.T, md string) {
		for name, fl := range flavors {
			blocks := Parse(md, WithFlavor(fl))
			out := Render(blocks, WithFlavor(fl))
			again := Parse(out, WithFlavor(fl))
			if !reflect.DeepEqual(norm(again), norm(blocks)) {
				t.Fatalf("%s: not stable:\n%q\nrenders %q\nfirst  %s\nsecond %s", name, md, out, dump(blocks), dump(again))
			}
			if lost := lostWords(blockWords(blocks), blockWords(again)); len(lost) > 0 {
				t.Fatalf("%s: %q loses %q", name, md, lost)
			}
		}
	})
}

// blockWords is the text of blocks, for lostWords.
func blockWords(bs []*crdt.Block) string {
	var s strings.Builder
	for _, b := range flatten(bs) {
		s.WriteString(" " + b.Text + " ")
		for _, k := range []string{"target", "url", "language"} {
			s.WriteString(" " + b.Attrs[k] + " ")
		}
	}
	return strings.NewReplacer("<", " ", ">", " ").Replace(s.String())
}

// loadExamplesIfAny gives the spec examples as fuzz seeds, or none.
func loadExamplesIfAny() []example {
	if dir := findSpecDir(); dir != "" {
		ex, _ := readExamples(dir)
		return ex
	}
	return nil
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
	for _, s := range []string{"---\ntitle: \"a\"\ntags: [x, 'y']\n---\nbody\n", "---\nk: - v\n  - w\n---\n", "---\n---\n", "---\nheads: ab, cd\nid: EF\n---\n# x\n",
		"---\nl:\n  - \"a, b\"\n  - c\n---\n"} {
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
