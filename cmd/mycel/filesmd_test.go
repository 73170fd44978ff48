package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A page with files through the command line: show renders them, write
// and edit of what show gave keep them (files ls lists the same files,
// show prints the same document), export writes them next to the pages,
// byte for byte, and an import of that export brings them into another
// vault.
func TestFilesThroughMarkdown(t *testing.T) {
	a := newCLI(t)
	a.ok("init", "--show-phrase", "--name", "laptop")
	id := strings.TrimSpace(a.ok("new", "--title", "Trip", "--text", "Day one."))
	dir := t.TempDir()
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake image")
	pdf := bytes.Repeat([]byte("%PDF binary \x00\xff"), 1000)
	os.WriteFile(filepath.Join(dir, "photo.png"), png, 0o600)
	os.WriteFile(filepath.Join(dir, "report.pdf"), pdf, 0o600)
	a.ok("files", "add", id, filepath.Join(dir, "photo.png"), filepath.Join(dir, "report.pdf"))
	shown := a.ok("show", id)
	if !strings.Contains(shown, "![photo.png](mycel:file/") || !strings.Contains(shown, "[report.pdf](mycel:file/") {
		t.Fatalf("show:\n%s", shown)
	}
	ls := a.ok("files", "ls", id)
	md := filepath.Join(dir, "page.md")
	os.WriteFile(md, []byte(shown), 0o600)
	a.ok("write", id, "--file", md)
	if got := a.ok("files", "ls", id); got != ls {
		t.Fatalf("files after write:\n%s\nbefore:\n%s", got, ls)
	}
	if got := a.ok("show", id); withoutMeta(got) != withoutMeta(shown) {
		t.Fatalf("show after write:\n%s\nbefore:\n%s", got, shown)
	}
	// edit with an editor that changes only the text.
	ed := filepath.Join(dir, "ed.sh")
	os.WriteFile(ed, []byte("#!/bin/sh\nsed -i 's/Day one./Day two./' \"$1\"\n"), 0o700)
	a.env = []string{"VISUAL=" + ed, "EDITOR=" + ed}
	a.ok("edit", id)
	a.env = nil
	if got := a.ok("files", "ls", id); got != ls {
		t.Fatalf("files after edit:\n%s\nbefore:\n%s", got, ls)
	}

	out := filepath.Join(t.TempDir(), "export")
	if got := a.ok("export", out, "--format", "obsidian"); !strings.Contains(got, "Exported 1 objects and 2 files") {
		t.Fatalf("export: %s", got)
	}
	for name, want := range map[string][]byte{"photo.png": png, "report.pdf": pdf} {
		if got, err := os.ReadFile(filepath.Join(out, "files", name)); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("exported %s: %v", name, err)
		}
	}
	b := newCLI(t)
	b.ok("init", "--show-phrase", "--name", "desk")
	if got := b.ok("import", out); !strings.Contains(got, "1 new objects") || !strings.Contains(got, "2 files") {
		t.Fatalf("import: %s", got)
	}
	if got := b.ok("files", "ls"); !strings.Contains(got, "photo.png") || !strings.Contains(got, "report.pdf") {
		t.Fatalf("files ls after import:\n%s", got)
	}
}

// files gc keeps what pages name and says what it did.
func TestFilesGC(t *testing.T) {
	a := newCLI(t)
	a.ok("init", "--show-phrase", "--name", "laptop")
	id := strings.TrimSpace(a.ok("new", "--title", "P"))
	p := filepath.Join(t.TempDir(), "a.txt")
	os.WriteFile(p, []byte("hello"), 0o600)
	a.ok("files", "add", id, p)
	if out := a.ok("files", "gc", "--grace", "0s"); !strings.Contains(out, "Removed 0 chunks") || !strings.Contains(out, "kept 1") {
		t.Fatalf("gc: %s", out)
	}
	if out := a.ok("files", "get", strings.Fields(strings.Split(a.ok("files", "ls", id), "\n")[1])[0], "-o", "-"); out != "hello" {
		t.Fatalf("after gc: %q", out)
	}
	a.fails("not a duration", "files", "gc", "--grace", "soon")
}
