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
	"mycel/internal/markdown"
	"mycel/internal/store"
)

// ExportMarkdown writes the objects ids (all when none) to dir, a new or
// empty folder: one Markdown file per object, named after its title (safe
// for any file system, unique, the same from one export to the next), with
// front matter (id, title, type, tags, created, updated, archived) and links
// between exported objects as relative links. It returns how many.
func (e *Engine) ExportMarkdown(ctx context.Context, dir string, ids []change.ID) (int, error) {
	rows, err := e.List(ctx, ListOptions{Archived: true})
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
		fm := map[string]string{}
		for k, v := range o.Details {
			fm[k] = v
		}
		if fm["type"] == "" {
			fm["type"] = "page"
		}
		meta := markdown.Meta{ID: r.ID.String(), Created: r.Created.Format(time.RFC3339), Updated: r.Updated.Format(time.RFC3339)}
		for _, h := range o.Heads {
			meta.Heads = append(meta.Heads, h.String())
		}
		text := markdown.RenderDocument(fm, meta, o.Doc.Blocks())
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
// matter or its name, with its front matter as details, in one change (a
// version of its own); a line that is only a link to another imported file
// ([[Name]], [text](other.md)) becomes a link to its object, and wiki links
// inside text keep their words. Code (fenced blocks and `spans`) is taken
// as it is.
func (e *Engine) ImportMarkdown(ctx context.Context, dir string) (MarkdownImport, error) {
	var r MarkdownImport
	type file struct {
		rel     string
		details map[string]string
		body    string
		root    *change.Change
	}
	var files []*file
	// Everything is read through an os.Root of the folder: a link in it
	// that leads outside (to ~/.ssh, say) is never followed, however it is
	// made (a link, a link to a link, "..", a folder swapped for a link
	// meanwhile): os.Root resolves each step of a path itself and refuses
	// one that leaves the folder. Links within it are fine.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return r, err
	}
	defer root.Close()
	fsys := root.FS()
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && p != "." {
				return filepath.SkipDir // .obsidian, .git
			}
			return nil
		}
		rel := filepath.FromSlash(p)
		if d.Type()&fs.ModeSymlink != 0 {
			fi, err := fs.Stat(fsys, p)
			if err != nil {
				r.NotConverted = append(r.NotConverted, rel+": a link to outside the folder (or to nothing), not followed")
				return nil
			}
			if fi.IsDir() {
				return nil // a folder of this one: its files are imported where they are
			}
		}
		if !strings.EqualFold(path.Ext(p), ".md") {
			r.NotConverted = append(r.NotConverted, rel+": not a Markdown file")
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if !isUTF8Text(b) {
			r.NotConverted = append(r.NotConverted, rel+": not UTF-8 text")
			return nil
		}
		if err := checkSize(string(b)); err != nil {
			r.NotConverted = append(r.NotConverted, rel+": "+err.Error())
			return nil
		}
		fields, body, _ := markdown.SplitFrontMatter(string(b))
		details := map[string]string{}
		for k, v := range fields {
			// An id or heads of another vault mean nothing here; times are
			// the new object's own; hiding is for this vault's people.
			if !reserved(k) && v != "" && !strings.Contains(v, "\n") {
				details[k] = v
			}
		}
		if details["title"] == "" {
			details["title"] = strings.TrimSuffix(path.Base(p), path.Ext(p))
		}
		if details["type"] == "" {
			details["type"] = "page"
		}
		files = append(files, &file{rel: p, details: details, body: body})
		return nil
	})
	if err != nil {
		return r, err
	}
	// Every object's id first (its root change), so that links can point
	// to objects not written yet.
	byPath, byName := map[string]change.ID{}, map[string]change.ID{}
	for _, f := range files {
		if f.root, err = change.NewRoot(e.vault.ID, e.device, e.Now()); err != nil {
			return r, err
		}
		id := f.root.ID
		byPath[strings.ToLower(f.rel)] = id
		byName[strings.ToLower(strings.TrimSuffix(path.Base(f.rel), path.Ext(f.rel)))] = id
		byName[strings.ToLower(f.details["title"])] = id
	}
	for _, f := range files {
		lines := strings.Split(f.body, "\n")
		fence := ""
		for i, line := range lines {
			if fence != "" || isFence(line) {
				// Inside a code block, or its fence: as it is.
				fence = nextFence(fence, line)
				continue
			}
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
			// A wiki link inside text keeps its words (but not in code).
			lines[i] = outsideCode(lines[i], func(s string) string {
				return wikiAny.ReplaceAllStringFunc(s, func(s string) string {
					m := wikiAny.FindStringSubmatch(s)
					if m[2] != "" {
						return m[2]
					}
					return m[1]
				})
			})
		}
		if err := e.createAs(ctx, f.root, f.details, markdown.Parse(strings.Join(lines, "\n"))); err != nil {
			return r, err
		}
		r.Created++
	}
	return r, nil
}

// isFence reports whether a line opens (or closes) a fenced code block.
func isFence(line string) bool {
	t := strings.TrimLeft(line, " \t")
	return strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~")
}

// nextFence tracks fenced code: the open fence after line ("" outside).
func nextFence(open, line string) string {
	t := strings.TrimLeft(line, " \t")
	if open == "" {
		if !isFence(line) {
			return ""
		}
		c := t[:1]
		return t[:len(t)-len(strings.TrimLeft(t, c))]
	}
	if strings.HasPrefix(t, open) && strings.Trim(t, open[:1]+" \t") == "" {
		return ""
	}
	return open
}

// outsideCode applies f to the parts of line outside `code spans`.
func outsideCode(line string, f func(string) string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(line, '`')
		if i < 0 {
			b.WriteString(f(line))
			return b.String()
		}
		n := len(line[i:]) - len(strings.TrimLeft(line[i:], "`"))
		j := strings.Index(line[i+n:], line[i:i+n])
		if j < 0 {
			b.WriteString(f(line))
			return b.String()
		}
		end := i + n + j + n
		b.WriteString(f(line[:i]))
		b.WriteString(line[i:end])
		line = line[end:]
	}
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

func isUTF8Text(b []byte) bool {
	s := string(b)
	return !strings.ContainsRune(s, 0) && strings.ToValidUTF8(s, "\uFFFD") == s
}
