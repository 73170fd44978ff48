package markdown

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	grenderer "github.com/yuin/goldmark/renderer"
	ghtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/util"

	"mycel/internal/crdt"
)

// obsidianHTML renders Obsidian Markdown to HTML as Obsidian shows it
// (every line break a break), with our nodes rendered plainly: wiki links
// as links, embeds as images, comments and footnotes as their source.
var obsidianHTML = goldmark.New(
	goldmark.WithParser(newParser(Obsidian)),
	goldmark.WithRendererOptions(ghtml.WithUnsafe(), ghtml.WithHardWraps(),
		grenderer.WithNodeRenderers(
			util.Prioritized(extension.NewTableHTMLRenderer(), 500),
			util.Prioritized(extension.NewStrikethroughHTMLRenderer(), 500),
			util.Prioritized(extension.NewTaskCheckBoxHTMLRenderer(), 500),
			util.Prioritized(obsidianNodes{}, 100),
		)),
)

type obsidianNodes struct{}

func (obsidianNodes) RegisterFuncs(reg grenderer.NodeRendererFuncRegisterer) {
	esc := func(s string) string { return string(util.EscapeHTML([]byte(s))) }
	reg.Register(kindWiki, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			x := n.(*wikiNode)
			if x.embed {
				w.WriteString(`<img src="` + esc(x.target) + `" width="` + esc(x.alias) + `">`)
			} else {
				shown := x.target
				if x.alias != "" {
					shown = x.alias
				}
				w.WriteString(`<a class="wiki" href="` + esc(x.target) + `">` + esc(shown) + `</a>`)
			}
		}
		return ast.WalkContinue, nil
	})
	reg.Register(kindRawInline, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			w.WriteString(`<kbd>` + esc(n.(*rawInline).source) + `</kbd>`)
		}
		return ast.WalkContinue, nil
	})
	reg.Register(kindHighlight, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		w.WriteString(map[bool]string{true: "<mark>", false: "</mark>"}[entering])
		return ast.WalkContinue, nil
	})
	reg.Register(kindMath, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			w.WriteString(`<div class="math">` + esc(n.(*mathBlock).tex) + "</div>\n")
		}
		return ast.WalkContinue, nil
	})
	reg.Register(kindRawBlock, func(w util.BufWriter, src []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if entering {
			var s string
			switch x := n.(type) {
			case *rawBlock:
				s = x.source
			case *commentBlock:
				s = x.source
			}
			w.WriteString("<pre class=\"raw\">" + esc(s) + "</pre>\n")
		}
		return ast.WalkContinue, nil
	})
}

var wikiLinkRe = regexp.MustCompile(`!?\[\[[^\]]+\]\]`)

// Every note of the fixture vault (nested folders, wiki links with
// aliases and anchors, embeds, callouts, tables, tags, front-matter
// lists, footnotes, comments, HTML, code holding [[x]]) imports and
// exports in the Obsidian flavor to a note that Obsidian shows the same:
// the same HTML, the same front matter, every wiki link kept.
func TestObsidianVault(t *testing.T) {
	n := 0
	err := filepath.WalkDir("testdata/vault", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
			return err
		}
		n++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		orig := string(b)
		doc := ParseDocument(orig)
		out := RenderDocument(doc.Details, doc.Meta, doc.Blocks)
		again := ParseDocument(out)
		if !reflect.DeepEqual(again.Details, doc.Details) || !reflect.DeepEqual(again.Meta, doc.Meta) {
			t.Errorf("%s: front matter %v %+v reads back as %v %+v", path, doc.Details, doc.Meta, again.Details, again.Meta)
		}
		if !reflect.DeepEqual(norm(again.Blocks), norm(doc.Blocks)) {
			t.Errorf("%s: blocks read back otherwise\nfirst  %s\nsecond %s", path, dump(doc.Blocks), dump(again.Blocks))
		}
		want, got := toHTML(t, obsidianHTML, doc.Body), toHTML(t, obsidianHTML, again.Body)
		if normHTML(want) != normHTML(got) {
			t.Errorf("%s: HTML differs\nexport:\n%s\noriginal HTML:\n%s\nexport HTML:\n%s", path, out, want, got)
		}
		wl, gl := wikiLinkRe.FindAllString(orig, -1), wikiLinkRe.FindAllString(out, -1)
		slices.Sort(wl)
		slices.Sort(gl)
		if !slices.Equal(wl, gl) {
			t.Errorf("%s: wiki links %q, exported %q", path, wl, gl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Fatalf("only %d notes in the fixture vault", n)
	}
}

// The fixture's Obsidian syntax becomes the blocks and marks it means.
func TestObsidianBlocks(t *testing.T) {
	b, err := os.ReadFile("testdata/vault/Home.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := ParseDocument(string(b))
	if doc.Details["tags"] != "[start, hub]" || doc.Details["aliases"] != `[Index, "Main, page"]` || doc.Meta.Created != "2026-01-02T03:04:05Z" {
		t.Errorf("front matter %v %+v", doc.Details, doc.Meta)
	}
	if !slices.Equal(doc.Tags, []string{"tags", "nested/tag"}) {
		t.Errorf("tags %q", doc.Tags)
	}
	find := func(typ string) []*crdt.Block {
		var out []*crdt.Block
		for _, b := range flatten(doc.Blocks) {
			if b.Type == typ {
				out = append(out, b)
			}
		}
		return out
	}
	if e := find(crdt.TypeEmbed); len(e) != 2 || e[0].Attrs["target"] != "map.png" || e[0].Attrs["size"] != "200" {
		t.Errorf("embeds %s", dump(e))
	}
	c := find(crdt.TypeCallout)
	if len(c) != 3 || c[0].Attrs["kind"] != "note" || c[0].Text != "A note callout" || len(c[0].Children) != 2 ||
		c[1].Attrs["fold"] != "-" || c[2].Attrs["fold"] != "+" || len(c[2].Marks) != 1 {
		t.Errorf("callouts %s", dump(c))
	}
	var mentions []string
	for _, b := range flatten(doc.Blocks) {
		for _, m := range b.Marks {
			if m.Type == crdt.MarkMention {
				mentions = append(mentions, m.Value+"="+string([]rune(b.Text)[m.Start:m.End]))
			}
		}
	}
	want := []string{"Projects/Garden=the garden", "Recipes=Recipes", "Projects/Garden#Beds=beds", "Daily/2026-01-02#^abc123=Daily/2026-01-02#^abc123", "Recipes=link"}
	if !slices.Equal(mentions, want) {
		t.Errorf("mentions %q", mentions)
	}
	if d := find(crdt.TypeDivider); len(d) != 1 {
		t.Errorf("dividers %d", len(d))
	}
	if r := find(crdt.TypeRaw); len(r) != 3 {
		t.Errorf("raw blocks %s", dump(r))
	}
	// The Markdown flavor writes mentions as links, through the caller.
	links := WithLinks(func(target string) (string, bool) {
		if target == "Recipes" {
			return "Recipes.md", true
		}
		return "", false
	})
	md := Render(doc.Blocks, WithFlavor(Markdown), links)
	if !strings.Contains(md, "[link](Recipes.md)") || !strings.Contains(md, "the garden (missing)") || !strings.Contains(md, "<mark>highlighted</mark>") {
		t.Errorf("markdown flavor:\n%s", md)
	}
}

func TestGardenTable(t *testing.T) {
	b, _ := os.ReadFile("testdata/vault/Projects/Garden.md")
	doc := ParseDocument(string(b))
	var table *crdt.Block
	for _, b := range doc.Blocks {
		if b.Type == crdt.TypeTable {
			table = b
		}
	}
	if table == nil || len(table.Children) != 7 {
		t.Fatalf("table %s", dump(doc.Blocks))
	}
	var aligns []string
	for _, c := range table.Children[:3] {
		aligns = append(aligns, c.Attrs["align"])
	}
	if !slices.Equal(aligns, []string{"left", "center", "right"}) {
		t.Errorf("aligns %q", aligns)
	}
	cell := table.Children[5].Children[1]
	if cell.Attrs[crdt.AttrColumn] != "#1" || cell.Text != "salad greens" || len(cell.Marks) != 1 || cell.Marks[0].Value != "Recipes" {
		t.Errorf("cell %s", dump([]*crdt.Block{cell}))
	}
}
