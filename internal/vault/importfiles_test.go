package vault

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/files"
	"mycel/internal/markdown"
)

const filesFixture = "testdata/obsidian-files"

// hashesOf gives the SHA-256 of every file under dir but notes and dot
// folders, by name.
func hashesOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(p, ".md") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.Base(p)] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// vaultFiles gives the SHA-256 of every file of every page, read back
// from the chunks, by name; and how many file blocks each page has.
func vaultFiles(t *testing.T, e *Engine) (map[string]string, map[string]int) {
	t.Helper()
	hashes, counts := map[string]string{}, map[string]int{}
	for title, id := range titles(t, e) {
		fs, err := e.Files(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		counts[title] = len(fs)
		for _, f := range fs {
			var buf bytes.Buffer
			if err := e.ReadFile(ctx, f.Manifest, &buf); err != nil {
				t.Fatal(err)
			}
			hashes[f.Manifest.Name] = fmt.Sprintf("%x", sha256.Sum256(buf.Bytes()))
		}
	}
	return hashes, counts
}

// An Obsidian vault's attachments (![[img.png|200]], ![](img.png),
// [doc](files/doc.pdf), names found anywhere in the vault, paths relative
// to the note, a nested folder) come in as file blocks; a missing one
// stays as written; an image inside a sentence stays as written with its
// file block after the sentence (once, however often it round-trips); the
// file nobody links is reported.
// Exported (both flavors) the files are next to the notes, byte for byte,
// and imported again into another vault they are the same bytes again.
func TestImportExportAttachments(t *testing.T) {
	want := hashesOf(t, filesFixture)
	delete(want, "unused.txt")
	a := solo(t)
	r, err := a.ImportMarkdown(ctx, filesFixture)
	if err != nil {
		t.Fatal(err)
	}
	if r.Created != 3 || r.Files != 4 {
		t.Fatalf("import: %+v", r)
	}
	report := strings.Join(r.NotConverted, "\n")
	for _, s := range []string{`"missing.png"`, "unused.txt: not a Markdown file, and no note links to it"} {
		if !strings.Contains(report, s) {
			t.Fatalf("report lacks %s:\n%s", s, report)
		}
	}
	if strings.Contains(report, "img.png:") || strings.Contains(report, "doc.pdf:") {
		t.Fatalf("an attachment reported as not converted:\n%s", report)
	}
	got, counts := vaultFiles(t, a)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("files in the vault %v, want %v", got, want)
	}
	if counts["Home"] != 7 || counts["Sub"] != 2 || counts["Other"] != 0 {
		t.Fatalf("file blocks per page %v", counts)
	}
	home, _ := a.Get(ctx, titles(t, a)["Home"])
	md := home.Markdown()
	for _, s := range []string{"![[missing.png]]", "![inline](img.png) stays text.\n\n![img.png](mycel:file/", "![img.png|200](mycel:file/", "[doc](mycel:file/", "[the deep one](mycel:file/"} {
		if !strings.Contains(md, s) {
			t.Fatalf("Home lacks %q:\n%s", s, md)
		}
	}

	// Again: nothing new, nothing changed.
	r2, err := a.ImportMarkdown(ctx, filesFixture)
	if err != nil || r2.Created != 0 || r2.Updated != 0 || r2.Unchanged != 3 {
		t.Fatalf("second import: %+v %v", r2, err)
	}

	for _, flavor := range []markdown.Flavor{markdown.Obsidian, markdown.Markdown} {
		out := filepath.Join(t.TempDir(), "export")
		res, err := a.ExportMarkdownReport(ctx, out, nil, flavor)
		if err != nil || res.Objects != 3 || res.Files != 4 || len(res.NotExported) != 0 {
			t.Fatalf("export %v: %+v %v", flavor, res, err)
		}
		if got := hashesOf(t, out); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("exported files %v, want %v", got, want)
		}
		names, _ := filepath.Glob(filepath.Join(out, ExportFolder, "*"))
		if len(names) != 4 {
			t.Fatalf("files/ holds %v", names)
		}
		homeMD, _ := os.ReadFile(filepath.Join(out, "Home.md"))
		subMD, _ := os.ReadFile(filepath.Join(out, "Notes", "Sub.md"))
		if flavor == markdown.Obsidian {
			if !strings.Contains(string(homeMD), "![[img.png|200]]") || !strings.Contains(string(homeMD), "[[doc.pdf|doc]]") {
				t.Fatalf("Home.md for Obsidian:\n%s", homeMD)
			}
		} else if !strings.Contains(string(homeMD), "![img.png|200](files/img.png)") || !strings.Contains(string(subMD), "](../files/doc.pdf)") || !strings.Contains(string(homeMD), "(files/deep%20file.bin)") {
			t.Fatalf("Markdown export:\n%s\n%s", homeMD, subMD)
		}

		// Into another vault: the same bytes.
		b := solo(t)
		r, err := b.ImportMarkdown(ctx, out)
		if err != nil || r.Files != 4 {
			t.Fatalf("import of the export: %+v %v", r, err)
		}
		got, counts2 := vaultFiles(t, b)
		if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(counts2) != fmt.Sprint(counts) {
			t.Fatalf("after export and import: %v %v, want %v %v", got, counts2, want, counts)
		}
	}
}

// A file not on this device is listed by the export, linked by its
// mycel:file/ link, and never silently dropped.
func TestExportFileNotHere(t *testing.T) {
	a, b := pair(t)
	m := storeBytes(t, a, "far.jpg", []byte("jpeg bytes"))
	// b's chunk folder is empty: its page holds the block, not the bytes.
	id2, err := b.Create(ctx, NewPage{Title: "P2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddFileBlocks(ctx, id2, []*files.Manifest{m}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x")
	res, err := b.ExportMarkdownReport(ctx, out, nil, markdown.Markdown)
	if err != nil || res.Files != 0 || len(res.NotExported) != 1 || !strings.Contains(res.NotExported[0], "far.jpg") || !strings.Contains(res.NotExported[0], "not on this device") {
		t.Fatalf("export: %+v %v", res, err)
	}
	p2, _ := os.ReadFile(filepath.Join(out, "P2.md"))
	if !strings.Contains(string(p2), "![far.jpg](mycel:file/"+m.ID()+")") {
		t.Fatalf("P2.md:\n%s", p2)
	}
	if entries, _ := os.ReadDir(filepath.Join(out, ExportFolder)); len(entries) != 0 {
		t.Fatalf("a partial file left: %v", entries)
	}
}

// An imported folder cannot make up a manifest: a mycel:file/raw/ link in
// it stays as written.
func TestImportRawFileRefKept(t *testing.T) {
	dir := t.TempDir()
	md := "![x](mycel:file/raw/AAAA)\n"
	os.WriteFile(filepath.Join(dir, "N.md"), []byte(md), 0o600)
	e := solo(t)
	if _, err := e.ImportMarkdown(ctx, dir); err != nil {
		t.Fatal(err)
	}
	o, _ := e.Get(ctx, titles(t, e)["N"])
	if got := markdown.Render(o.Doc.Blocks()); got != md {
		t.Fatalf("imported %q, want it as written", got)
	}
}

// An attachment changed in the folder since the last import updates the
// notes that show it, and only those.
func TestReimportChangedAttachment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "v")
	if err := os.CopyFS(dir, os.DirFS(filesFixture)); err != nil {
		t.Fatal(err)
	}
	e := solo(t)
	if _, err := e.ImportMarkdown(ctx, dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "files", "doc.pdf"), []byte("%PDF-1.7 another"), 0o600)
	r, err := e.ImportMarkdown(ctx, dir)
	if err != nil || r.Updated != 2 || r.Unchanged != 1 {
		t.Fatalf("re-import: %+v %v", r, err)
	}
	got, _ := vaultFiles(t, e)
	if got["doc.pdf"] != fmt.Sprintf("%x", sha256.Sum256([]byte("%PDF-1.7 another"))) {
		t.Fatalf("doc.pdf not updated: %v", got)
	}
}
