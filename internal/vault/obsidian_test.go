package vault

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"mycel/internal/markdown"
)

var wikiLinkRe = regexp.MustCompile(`!?\[\[[^\]]+\]\]`)

// The fixture vault of internal/markdown (nested folders, wikilinks with
// aliases and anchors, embeds, callouts, tables, tags, front-matter lists,
// footnotes, comments, HTML, code holding [[x]]) goes through the store
// and back: imported, exported for Obsidian, every note is where it was,
// reads as the same blocks and marks (so renders to the same HTML, which
// internal/markdown's fidelity tests check of Parse and Render), keeps its
// front matter and times, and every wikilink and embed is kept. Imported
// again from the export, nothing is duplicated.
func TestObsidianVaultRoundTrip(t *testing.T) {
	src := filepath.Join("..", "markdown", "testdata", "vault")
	a, _ := pair(t)
	r, err := a.ImportMarkdown(ctx, src)
	if err != nil || r.Created < 4 {
		t.Fatalf("import: %+v, %v", r, err)
	}
	out := filepath.Join(t.TempDir(), "export")
	if _, err := a.ExportMarkdown(ctx, out, nil, markdown.Obsidian); err != nil {
		t.Fatal(err)
	}
	obsidian := markdown.WithFlavor(markdown.Obsidian)
	n := 0
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(src, p)
		orig, _ := os.ReadFile(p)
		exported, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil {
			t.Errorf("%s is not where it was: %v", rel, err)
			return nil
		}
		od, ed := markdown.ParseDocument(string(orig), obsidian), markdown.ParseDocument(string(exported), obsidian)
		if want, got := markdown.Render(od.Blocks, obsidian), markdown.Render(ed.Blocks, obsidian); want != got {
			t.Errorf("%s reads otherwise after the store:\n--- original\n%s\n--- exported\n%s", rel, want, got)
		}
		for k, v := range od.Details {
			if ed.Details[k] != v {
				t.Errorf("%s: front matter %s is %q, was %q", rel, k, ed.Details[k], v)
			}
		}
		if od.Meta.Created != "" && !sameTime(od.Meta.Created, ed.Meta.Created) {
			t.Errorf("%s: created %q, was %q", rel, ed.Meta.Created, od.Meta.Created)
		}
		wl, gl := wikiLinkRe.FindAllString(string(orig), -1), wikiLinkRe.FindAllString(string(exported), -1)
		slices.Sort(wl)
		slices.Sort(gl)
		if !slices.Equal(wl, gl) {
			t.Errorf("%s: wikilinks %q, exported %q", rel, wl, gl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Fatalf("only %d notes", n)
	}
	// The notes link to each other by id: the links index knows.
	got := titles(t, a)
	if bl, err := a.Backlinks(ctx, got["Garden"]); err != nil || len(bl) == 0 {
		t.Fatalf("nothing links to the garden: %v, %v", bl, err)
	}
	// The same folder again changes nothing; nothing doubles.
	r, err = a.ImportMarkdown(ctx, src)
	if err != nil || r.Created != 0 || r.Unchanged != n {
		t.Fatalf("import again: %+v, %v", r, err)
	}
	if again := titles(t, a); len(again) != len(got) {
		t.Fatalf("%d objects after importing again, %d before", len(again), len(got))
	}
}

func sameTime(a, b string) bool {
	ta, tb := fileTime(a, time.Time{}), fileTime(b, time.Time{})
	return !ta.IsZero() && ta.Equal(tb)
}
