package vault

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/store"
)

// ExportMarkdown writes the objects ids (all when none) to dir, a new or
// empty folder: one Markdown file per object, named after its title (safe
// for any file system, unique, the same from one export to the next), with
// front matter (id, title, type, tags, created, updated, archived) and links
// between exported objects as relative links. It returns how many.
func (e *Engine) ExportMarkdown(ctx context.Context, dir string, ids []change.ID) (int, error) {
	rows, err := e.List(ctx)
	if err != nil {
		return 0, err
	}
	if len(ids) > 0 {
		rows = slices.DeleteFunc(rows, func(r store.Object) bool { return !slices.Contains(ids, r.ID) })
	}
	if err := emptyFolder(dir); err != nil {
		return 0, err
	}
	// Names: oldest first takes the plain name, so names are stable.
	slices.SortFunc(rows, func(a, b store.Object) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return compareIDs(a.ID, b.ID)
	})
	names := map[change.ID]string{}
	taken := map[string]bool{}
	for _, r := range rows {
		base := fileName(r.Title)
		name := base + ".md"
		for n := 2; taken[strings.ToLower(name)]; n++ {
			name = fmt.Sprintf("%s (%d).md", base, n)
		}
		taken[strings.ToLower(name)] = true
		names[r.ID] = name
	}
	for _, r := range rows {
		o, err := e.Get(ctx, r.ID)
		if err != nil {
			return 0, err
		}
		fm := map[string]string{"id": r.ID.String(), "created": r.Created.Format(time.RFC3339), "updated": r.Updated.Format(time.RFC3339)}
		for k, v := range o.Details {
			fm[k] = v
		}
		if fm["type"] == "" {
			fm["type"] = "page"
		}
		text := markdown.RenderDocument(fm, o.Doc.Blocks())
		text = mycelLink.ReplaceAllStringFunc(text, func(m string) string {
			sub := mycelLink.FindStringSubmatch(m)
			id, err := change.ParseID(sub[2])
			if name, ok := names[id]; err == nil && ok {
				return "[" + sub[1] + "](" + linkPath(name) + ")"
			}
			return m
		})
		if err := writePrivate(filepath.Join(dir, names[r.ID]), []byte(text)); err != nil {
			return 0, err
		}
	}
	return len(rows), nil
}

var mycelLink = regexp.MustCompile(`\[([^\]\n]*)\]\(mycel:([0-9a-fA-F]{64})\)`)

// fileName makes a title safe as a file name on any system.
func fileName(title string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(title) {
		switch {
		case strings.ContainsRune(`/\:*?"<>|`, r) || r < 32:
			b.WriteRune('-')
		default:
			b.WriteRune(r)
		}
	}
	s := strings.Trim(b.String(), ". ")
	if len(s) > 100 {
		s = strings.TrimSpace(string([]rune(s)[:80]))
	}
	if s == "" {
		s = "Untitled"
	}
	return s
}

// linkPath writes a file name as a Markdown link target.
func linkPath(name string) string { return strings.ReplaceAll(name, " ", "%20") }

// MarkdownImport says what ImportMarkdown did.
type MarkdownImport struct {
	Created int
	// NotConverted lists what could not become part of an object: links to
	// files that are not in the folder, files that are not text.
	NotConverted []string
}

var (
	wikiLine = regexp.MustCompile(`^\s*\[\[([^\]|#]+)(?:#[^\]|]*)?(?:\|([^\]]*))?\]\]\s*$`)
	fileLine = regexp.MustCompile(`^\s*\[([^\]\n]*)\]\(([^)\s]+\.md)\)\s*$`)
	wikiAny  = regexp.MustCompile(`\[\[([^\]|#]+)(?:#[^\]|]*)?(?:\|([^\]]*))?\]\]`)
)

// ImportMarkdown imports a folder of Markdown files (nested folders too,
// an Obsidian vault say): each file becomes an object titled by its front
// matter or its name, with its front matter as details; a line that is only
// a link to another imported file ([[Name]], [text](other.md)) becomes a
// link to its object, and wiki links inside text keep their words.
func (e *Engine) ImportMarkdown(ctx context.Context, dir string) (MarkdownImport, error) {
	var r MarkdownImport
	type file struct {
		rel     string
		details map[string]string
		body    string
	}
	var files []file
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && p != dir {
				return filepath.SkipDir // .obsidian, .git
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if !strings.EqualFold(filepath.Ext(p), ".md") {
			r.NotConverted = append(r.NotConverted, rel+": not a Markdown file")
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !isUTF8Text(b) {
			r.NotConverted = append(r.NotConverted, rel+": not UTF-8 text")
			return nil
		}
		details, body := splitFrontMatter(string(b))
		if details["title"] == "" {
			details["title"] = strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		}
		// An id of another vault means nothing here; times are the new
		// object's own.
		for _, k := range []string{"id", "created", "updated"} {
			delete(details, k)
		}
		files = append(files, file{rel: filepath.ToSlash(rel), details: details, body: body})
		return nil
	})
	if err != nil {
		return r, err
	}
	// Objects first, so that links can point to them.
	byPath, byName := map[string]change.ID{}, map[string]change.ID{}
	for _, f := range files {
		id, err := e.Create(ctx, f.details, nil)
		if err != nil {
			return r, err
		}
		byPath[strings.ToLower(f.rel)] = id
		byName[strings.ToLower(strings.TrimSuffix(path.Base(f.rel), path.Ext(f.rel)))] = id
		byName[strings.ToLower(f.details["title"])] = id
		r.Created++
	}
	for _, f := range files {
		lines := strings.Split(f.body, "\n")
		for i, line := range lines {
			if m := wikiLine.FindStringSubmatch(line); m != nil {
				text := strings.TrimSpace(m[1])
				if m[2] != "" {
					text = m[2]
				}
				if id, ok := wikiTarget(byName, byPath, m[1]); ok {
					lines[i] = "[" + text + "](mycel:" + id.String() + ")"
					continue
				}
				r.NotConverted = append(r.NotConverted, fmt.Sprintf("%s: link to %q, which is not in the folder", f.rel, m[1]))
			} else if m := fileLine.FindStringSubmatch(line); m != nil {
				target := path.Clean(path.Join(path.Dir(f.rel), strings.ReplaceAll(m[2], "%20", " ")))
				if id, ok := byPath[strings.ToLower(target)]; ok {
					lines[i] = "[" + m[1] + "](mycel:" + id.String() + ")"
					continue
				}
				r.NotConverted = append(r.NotConverted, fmt.Sprintf("%s: link to %q, which is not in the folder", f.rel, m[2]))
			}
			// A wiki link inside text keeps its words.
			lines[i] = wikiAny.ReplaceAllStringFunc(lines[i], func(s string) string {
				m := wikiAny.FindStringSubmatch(s)
				if m[2] != "" {
					return m[2]
				}
				return m[1]
			})
		}
		blocks := markdown.Parse(strings.Join(lines, "\n"))
		if _, err := e.Edit(ctx, byPath[strings.ToLower(f.rel)], func(tx *crdt.Tx) error { tx.Replace(blocks); return nil }); err != nil {
			return r, err
		}
	}
	return r, nil
}

// wikiTarget finds the object a wiki link names: by title or file name, or
// by path in the folder ([[Projects/Garden]]).
func wikiTarget(byName, byPath map[string]change.ID, name string) (change.ID, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, try := range []func() (change.ID, bool){
		func() (change.ID, bool) { id, ok := byName[name]; return id, ok },
		func() (change.ID, bool) { id, ok := byPath[name+".md"]; return id, ok },
		func() (change.ID, bool) { id, ok := byName[path.Base(name)]; return id, ok },
	} {
		if id, ok := try(); ok {
			return id, true
		}
	}
	return change.ID{}, false
}

// splitFrontMatter reads YAML-ish front matter: "key: value" lines, and
// lists (tags: [a, b], or "- a" lines under a key) as comma-separated
// values.
func splitFrontMatter(md string) (map[string]string, string) {
	md = strings.ReplaceAll(md, "\r\n", "\n")
	details := map[string]string{}
	rest, ok := strings.CutPrefix(md, "---\n")
	if !ok {
		return details, md
	}
	fm, body, ok := strings.Cut(rest, "\n---\n")
	if !ok {
		return details, md
	}
	last := ""
	for _, line := range strings.Split(fm, "\n") {
		if item, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok && last != "" {
			if details[last] != "" {
				details[last] += ", "
			}
			details[last] += strings.Trim(strings.TrimSpace(item), `"'`)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if k = strings.TrimSpace(k); !ok || k == "" {
			continue
		}
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
			var items []string
			for _, it := range strings.Split(strings.Trim(v, "[]"), ",") {
				if it = strings.Trim(strings.TrimSpace(it), `"'`); it != "" {
					items = append(items, it)
				}
			}
			v = strings.Join(items, ", ")
		}
		details[k], last = strings.Trim(v, `"'`), k
	}
	return details, strings.TrimPrefix(body, "\n")
}

func isUTF8Text(b []byte) bool {
	s := string(b)
	return !strings.ContainsRune(s, 0) && strings.ToValidUTF8(s, "\uFFFD") == s
}
