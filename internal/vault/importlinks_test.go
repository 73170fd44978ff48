package vault

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/markdown"
)

// An imported folder's links that lead outside it are never followed: a
// note linked to a file elsewhere (a secret, say), a folder linked to one
// elsewhere, and a link to a link out, are each left out and named in the
// report; a link to a note of the folder itself is imported.
func TestMarkdownImportFollowsNoLinkOutOfItsFolder(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret.md"), []byte("the secret words\n"), 0o600)
	os.MkdirAll(filepath.Join(outside, "private"), 0o700)
	os.WriteFile(filepath.Join(outside, "private", "diary.md"), []byte("dear diary\n"), 0o600)

	dir := t.TempDir()
	if filepath.Dir(outside) != filepath.Dir(dir) {
		t.Skip("the relative links below need the two temporary folders side by side")
	}
	os.WriteFile(filepath.Join(dir, "Home.md"), []byte("home\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o700)
	os.WriteFile(filepath.Join(dir, "sub", "Inner.md"), []byte("inner\n"), 0o600)
	for link, target := range map[string]string{
		"Stolen.md":        filepath.Join(outside, "secret.md"),
		"Relative.md":      "../" + filepath.Base(outside) + "/secret.md",
		"Elsewhere":        filepath.Join(outside, "private"),
		"Twice.md":         "Stolen.md", // a link to a link out
		"Alias.md":         "Home.md",   // inside: fine
		"sub/Up.md":        "../sub/Inner.md",
		"sub/Escape.md":    "../../" + filepath.Base(outside) + "/secret.md",
		"sub/Elsewhere.md": filepath.Join(outside, "private", "diary.md"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	e, _ := pair(t)
	r, err := e.ImportMarkdown(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	report := strings.Join(r.NotConverted, "\n")
	for _, name := range []string{"Stolen.md", "Relative.md", "Elsewhere", "Twice.md", filepath.Join("sub", "Escape.md"), filepath.Join("sub", "Elsewhere.md")} {
		if !strings.Contains(report, name+": a link to outside the folder") {
			t.Errorf("the report does not name %s:\n%s", name, report)
		}
	}
	objs, _ := e.List(ctx, ListOptions{All: true})
	var got []string
	for _, o := range objs {
		obj, _ := e.Get(ctx, o.ID)
		if text := markdown.Render(obj.Doc.Blocks()); strings.Contains(text, "secret") || strings.Contains(text, "diary") {
			t.Errorf("imported %q from outside the folder: %q", o.Title, text)
		}
		got = append(got, o.Title)
	}
	if r.Created != 4 {
		t.Fatalf("created %d objects (%v), want Home, Inner, Alias and Up", r.Created, got)
	}
}

// A JSON export whose object file is a link out of its folder: that file
// is skipped, named, and the rest imported.
func TestJSONImportFollowsNoLinkOutOfItsFolder(t *testing.T) {
	a, _ := pair(t)
	a.Create(ctx, NewPage{Title: "Kept", Blocks: markdown.Parse("kept\n")})
	dir := filepath.Join(t.TempDir(), "export")
	if _, err := a.ExportJSON(ctx, dir, nil); err != nil {
		t.Fatal(err)
	}
	// A crafted export lists a second object whose file leads elsewhere.
	outside := filepath.Join(t.TempDir(), "stolen.json")
	forged := Exported{ID: strings.Repeat("ab", 32), Details: map[string]string{"title": "Stolen"}}
	b, _ := json.Marshal(forged)
	os.WriteFile(outside, b, 0o600)
	if err := os.Symlink(outside, filepath.Join(dir, forged.ID+".json")); err != nil {
		t.Fatal(err)
	}
	var m exportManifest
	mb, _ := os.ReadFile(filepath.Join(dir, ExportManifest))
	json.Unmarshal(mb, &m)
	m.Objects = append(m.Objects, forged.ID)
	mb, _ = json.Marshal(m)
	os.WriteFile(filepath.Join(dir, ExportManifest), mb, 0o600)

	c, _, err := Init(ctx, filepath.Join(t.TempDir(), "c"), "other")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.ImportJSON(ctx, dir)
	if err != nil || r.Created != 1 {
		t.Fatalf("import: %+v, %v", r, err)
	}
	if len(r.Skipped) != 1 || !strings.Contains(r.Skipped[0], forged.ID+".json: a link to outside the folder") {
		t.Fatalf("skipped: %q", r.Skipped)
	}

	// A manifest that is itself a link out: no import at all.
	dir2 := t.TempDir()
	os.Symlink(filepath.Join(dir, ExportManifest), filepath.Join(dir2, ExportManifest))
	if r, err := c.ImportJSON(ctx, dir2); err == nil {
		t.Fatalf("imported through a manifest outside the folder: %+v", r)
	}
}
