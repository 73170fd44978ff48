package vault

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
)

// titles maps an engine's objects by title.
func titles(t *testing.T, e *Engine) map[string]change.ID {
	t.Helper()
	list, err := e.List(ctx, ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]change.ID{}
	for _, o := range list {
		out[o.Title] = o.ID
	}
	return out
}

func kinds(bs []*crdt.Block) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Type)
		out = append(out, kinds(b.Children)...)
	}
	return out
}

// Markdown export → import keeps titles, block kinds, text and links.
func TestMarkdownExportImport(t *testing.T) {
	a, _ := pair(t)
	target, _ := a.Create(ctx, NewPage{Details: map[string]string{"title": "Notes: a/b?"}, Blocks: markdown.Parse("# Head\n\n- [x] done\n- item\n\n> quoted\n\n```go\nx := 1\n```\n")})
	a.Create(ctx, NewPage{Details: map[string]string{"title": "Notes: a/b?"}, Blocks: markdown.Parse("same title, another object\n")})
	src, _ := a.Create(ctx, NewPage{Details: map[string]string{"title": "Index", "tags": "home, start"}, Blocks: markdown.Parse("start here\n\n[the notes](mycel:" + target.String() + ")\n")})
	dir := filepath.Join(t.TempDir(), "md")
	if n, err := a.ExportMarkdown(ctx, dir, nil, markdown.Markdown); err != nil || n != 3 {
		t.Fatalf("export: %d, %v", n, err)
	}
	files, _ := os.ReadDir(dir)
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	slices.Sort(names)
	if strings.Join(names, "|") != "Index.md|Notes- a-b- (2).md|Notes- a-b-.md" {
		t.Fatalf("files %q", names)
	}
	idx, _ := os.ReadFile(filepath.Join(dir, "Index.md"))
	if !strings.Contains(string(idx), "](Notes-%20a-b-.md)") || !strings.Contains(string(idx), "id: "+src.String()) || !strings.Contains(string(idx), "tags: home, start") {
		t.Fatalf("Index.md:\n%s", idx)
	}
	c, _, _ := Init(ctx, filepath.Join(t.TempDir(), "c"), "other")
	defer c.Close()
	r, err := c.ImportMarkdown(ctx, dir)
	if err != nil || r.Created != 3 || len(r.NotConverted) != 0 {
		t.Fatalf("import: %+v, %v", r, err)
	}
	// Every object comes back with its title, block kinds and text (the
	// Index's link aside, which now points to the imported notes).
	imported, _ := c.List(ctx, ListOptions{All: true})
	for _, orig := range []change.ID{target} {
		want, _ := a.Get(ctx, orig)
		found := false
		for _, o := range imported {
			g, _ := c.Get(ctx, o.ID)
			if g.Details["title"] == want.Details["title"] && markdown.Render(g.Doc.Blocks()) == markdown.Render(want.Doc.Blocks()) &&
				slices.Equal(kinds(g.Doc.Blocks()), kinds(want.Doc.Blocks())) {
				found = true
			}
		}
		if !found {
			t.Fatalf("no imported object equals %q", markdown.Render(want.Doc.Blocks()))
		}
	}
	got := titles(t, c)
	index, _ := c.Get(ctx, got["Index"])
	if index.Details["tags"] != "home, start" {
		t.Fatalf("index details %v", index.Details)
	}
	// The link now names the imported notes (a mention, by id).
	links := LinksOf(index.Doc.Blocks())
	if len(links) != 1 {
		t.Fatalf("the index links to %v: %q", links, markdown.Render(index.Doc.Blocks()))
	}
	if o, err := c.Get(ctx, links[0]); err != nil || !strings.Contains(markdown.Render(o.Doc.Blocks()), "done") {
		t.Fatalf("the link does not lead to the imported notes: %v", err)
	}
}

// An Obsidian-style folder: nested folders, front matter with a tag list,
// wiki links on their own line and inside text, a relative link, and files
// that are not notes.
func TestImportObsidianFolder(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, []byte(text), 0o600)
	}
	write("Home.md", "---\ntags:\n  - start\n  - hub\n---\n# Welcome\n\n[[Projects/Garden|the garden]]\n\nSee [[Recipes]] for food.\n\n[[Missing note]]\n")
	write("Projects/Garden.md", "---\ntags: [outdoor, plants]\naliases: [yard]\n---\n- [ ] water\n\n[back home](../Home.md)\n")
	write("Recipes.md", "Bread: flour, water.\n")
	write(".obsidian/workspace.json", "{}")
	write("Projects/photo.png", "\x89PNG")
	e, _ := pair(t)
	r, err := e.ImportMarkdown(ctx, dir)
	if err != nil || r.Created != 3 {
		t.Fatalf("import: %+v, %v", r, err)
	}
	report := strings.Join(r.NotConverted, "\n")
	if !strings.Contains(report, "photo.png") || !strings.Contains(report, "Missing note") || strings.Contains(report, "workspace.json") {
		t.Fatalf("not converted:\n%s", report)
	}
	got := titles(t, e)
	home, _ := e.Get(ctx, got["Home"])
	garden, _ := e.Get(ctx, got["Garden"])
	// Front-matter lists stay lists: markdown.ListValue, "[a, b]".
	if home.Details["tags"] != "[start, hub]" || garden.Details["tags"] != "[outdoor, plants]" {
		t.Fatalf("tags: %v, %v", home.Details, garden.Details)
	}
	// Links are mentions of the imported objects, by id.
	if ls := LinksOf(home.Doc.Blocks()); !slices.Equal(ls, sortedIDs(got["Garden"], got["Recipes"])) {
		t.Fatalf("home links to %v, want the garden %s and the recipes %s", ls, got["Garden"].Short(), got["Recipes"].Short())
	}
	if ls := LinksOf(garden.Doc.Blocks()); len(ls) != 1 || ls[0] != got["Home"] {
		t.Fatalf("garden links to %v, want home %s", ls, got["Home"].Short())
	}
	// The note not in the folder stays a link, shown as missing.
	if md := markdown.Render(home.Doc.Blocks()); !strings.Contains(md, "|the garden]]") || !strings.Contains(md, "[[Missing note]]") {
		t.Fatalf("home reads %q", md)
	}
	if bl, err := e.Backlinks(ctx, got["Garden"]); err != nil || len(bl) != 1 || bl[0].ID != got["Home"] {
		t.Fatalf("backlinks of the garden: %v, %v", bl, err)
	}
}

func sortedIDs(ids ...change.ID) []change.ID {
	slices.SortFunc(ids, compareIDs)
	return ids
}
