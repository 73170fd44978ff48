package vault

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/markdown"
	"mycel/internal/store"
)

// ExportMarkdown writes the objects ids (all when none) to dir, a new or
// empty folder, as Markdown of flavor (markdown: CommonMark with GFM,
// links between pages as relative links; obsidian: wikilinks, callouts,
// embeds). An imported object goes back where it was in its folder
// (DetailPath); another is named after its title (safe for any file
// system, unique, the same from one export to the next). Front matter
// holds its details, id, heads, created and updated. A link to an object
// not exported is written as a mycel: link, one to an object this device
// does not have is marked missing. It returns how many objects.
func (e *Engine) ExportMarkdown(ctx context.Context, dir string, ids []change.ID, flavor markdown.Flavor) (int, error) {
	r, err := e.ExportMarkdownReport(ctx, dir, ids, flavor)
	return r.Objects, err
}

// ExportMarkdownReport is ExportMarkdown, saying what it did: the pages'
// files are written to files/ in dir and linked from the pages
// (![photo.jpg](files/photo.jpg), or ![[photo.jpg]]); those that could not
// be written are listed.
func (e *Engine) ExportMarkdownReport(ctx context.Context, dir string, ids []change.ID, flavor markdown.Flavor) (ExportReport, error) {
	var res ExportReport
	n, err := e.exportMarkdown(ctx, dir, ids, flavor, &res)
	res.Objects = n
	return res, err
}

func (e *Engine) exportMarkdown(ctx context.Context, dir string, ids []change.ID, flavor markdown.Flavor, res *ExportReport) (int, error) {
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
	objs := make([]*Object, len(rows))
	for i, r := range rows {
		if objs[i], err = e.Get(ctx, r.ID); err != nil {
			return 0, err
		}
	}
	names := exportNames(objs)
	attached, err := e.exportFiles(ctx, dir, objs, names, res)
	if err != nil {
		return 0, err
	}
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		file := names[o.ID]
		fm := map[string]string{}
		for k, v := range o.Details {
			if k != DetailPath {
				fm[k] = v
			}
		}
		if fm["type"] == "" {
			fm["type"] = "page"
		}
		meta := markdown.Meta{ID: o.ID.String(), Created: o.Index.Created.Format(time.RFC3339), Updated: o.Index.Updated.Format(time.RFC3339)}
		for _, h := range o.Heads {
			meta.Heads = append(meta.Heads, h.String())
		}
		links := func(target string) (string, bool) {
			id, anchor, ok := MentionTarget(target)
			if !ok {
				return "", false
			}
			if anchor != "" {
				anchor = "#" + anchor
			}
			to, ok := names[id]
			if !ok {
				if e.exists(ctx, id) {
					return "mycel:" + id.String() + anchor, true
				}
				return "", false
			}
			if flavor == markdown.Obsidian {
				return strings.TrimSuffix(to, path.Ext(to)) + anchor, true
			}
			rel, err := filepath.Rel(filepath.Dir(filepath.FromSlash(file)), filepath.FromSlash(to))
			if err != nil {
				return "", false
			}
			return linkPath(filepath.ToSlash(rel)) + anchor, true
		}
		fileLinks := func(attr string) (string, bool) {
			to, ok := attached[attr]
			if !ok {
				return "", false
			}
			if flavor == markdown.Obsidian {
				return path.Base(to), true // Obsidian finds a file by its name
			}
			rel, err := filepath.Rel(filepath.Dir(filepath.FromSlash(file)), filepath.FromSlash(to))
			if err != nil {
				return "", false
			}
			return linkPath(filepath.ToSlash(rel)), true
		}
		text := markdown.RenderDocument(fm, meta, o.Doc.Blocks(), markdown.WithFlavor(flavor), markdown.WithLinks(links), markdown.WithFiles(fileLinks))
		full := filepath.Join(dir, filepath.FromSlash(file))
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			return 0, err
		}
		if err := writePrivate(full, []byte(text)); err != nil {
			return 0, err
		}
	}
	return len(objs), nil
}

// exportNames gives each object its file (slash-separated, in the export
// folder): where it was imported from, or its title; the first object to
// want a name takes it, later ones get " (2)", " (3)"…
func exportNames(objs []*Object) map[change.ID]string {
	names := map[change.ID]string{}
	taken := map[string]bool{}
	for _, o := range objs {
		dir, base := "", fileName(o.Title())
		if p := safeRelPath(o.Details[DetailPath]); p != "" {
			dir, base = path.Dir(p), strings.TrimSuffix(path.Base(p), path.Ext(p))
			if dir == "." {
				dir = ""
			}
		}
		name := path.Join(dir, base+".md")
		for n := 2; taken[strings.ToLower(name)]; n++ {
			name = path.Join(dir, fmt.Sprintf("%s (%d).md", base, n))
		}
		taken[strings.ToLower(name)] = true
		names[o.ID] = name
	}
	return names
}

// safeRelPath returns p if it is a relative path inside a folder, made of
// names safe on any file system; "" otherwise (a detail is anyone's to
// set: "../../.bashrc" must not leave the export folder).
func safeRelPath(p string) string {
	if p == "" || strings.Contains(p, "\\") || path.IsAbs(p) || !strings.EqualFold(path.Ext(p), ".md") {
		return ""
	}
	clean := path.Clean(p)
	for _, part := range strings.Split(clean, "/") {
		if part == "" || part == "." || part == ".." || fileName(part) != part {
			return ""
		}
	}
	return clean
}

// exists reports whether the object is on this device.
func (e *Engine) exists(ctx context.Context, id change.ID) bool {
	err := e.db.View(ctx, func(tx store.Tx) error {
		_, err := tx.Object(id)
		return err
	})
	return err == nil
}

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

// linkPath writes a relative path as a Markdown link target.
func linkPath(name string) string {
	return (&url.URL{Path: name}).EscapedPath()
}
