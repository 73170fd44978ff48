package vault

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/store"
)

// DetailPath is the detail that records where an imported file was in its
// folder ("Projects/Garden.md"): export puts the object back there, and
// importing the same folder again updates the object instead of making a
// second one.
const DetailPath = "path"

// MarkdownImport says what ImportMarkdown did.
type MarkdownImport struct {
	Created, Updated, Unchanged int
	// Files is how many of the folder's other files became file blocks.
	Files int
	// NotConverted lists what could not become part of an object: links
	// to notes that are not in the folder (kept, shown as missing), files
	// that are not text.
	NotConverted []string
}

// mdFile is one Markdown file of an import.
type mdFile struct {
	rel  string // slash-separated, in the folder
	doc  markdown.Document
	id   change.ID
	root *change.Change // a new object's root; nil for one imported before
}

// ImportMarkdown imports a folder of Markdown files (nested folders too,
// an Obsidian vault say). Each file becomes an object, titled by its front
// matter or its name, with its front matter as details (lists stay lists:
// its tags are its tags; #tags in the text stay text, which search finds),
// its folder and name kept (DetailPath), and
// its created and updated times when the front matter has them. Links
// between the files ([[Note]], [[Note|alias]], [[Note#heading]],
// [text](Other.md)) become mentions of their objects and embeds of notes
// ![[Note]] embeds of those objects: links are by id, so renaming a page
// breaks none. Importing the same folder again updates the objects it
// made where their files changed, each as an edit built on what the last
// import wrote (see mdImport): what was written in mycel since stays.
func (e *Engine) ImportMarkdown(ctx context.Context, dir string) (MarkdownImport, error) {
	var r MarkdownImport
	files, others, err := readMarkdownFolder(dir, &r)
	if err != nil {
		return r, err
	}
	att := newAttachments(e, dir, others)
	before, err := e.importedPaths(ctx)
	if err != nil {
		return r, err
	}
	byPath, byName := map[string]change.ID{}, map[string]change.ID{}
	for _, f := range files {
		if id, ok := before[strings.ToLower(f.rel)]; ok {
			f.id = id
		} else {
			if f.root, err = change.NewRoot(e.vault.ID, e.device, fileTime(f.doc.Meta.Created, e.Now())); err != nil {
				return r, err
			}
			f.id = f.root.ID
		}
		byPath[strings.ToLower(f.rel)] = f.id
		byName[strings.ToLower(strings.TrimSuffix(path.Base(f.rel), path.Ext(f.rel)))] = f.id
		if t := f.doc.Details["title"]; t != "" {
			if _, taken := byName[strings.ToLower(t)]; !taken {
				byName[strings.ToLower(t)] = f.id
			}
		}
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		// Files first: a reference that is no file of the folder goes
		// back to what it was (an embed of a note, say) for resolveLinks.
		var page []*crdt.Block
		if f.root == nil {
			page = e.pageBlocks(ctx, f.id)
		}
		gone, err := att.resolver(ctx, f, page).resolveFiles(f.doc.Blocks)
		if err != nil {
			return r, err
		}
		if f.doc.Blocks, err = att.inlineFiles(ctx, f.rel, f.doc.Blocks); err != nil {
			return r, err
		}
		for _, g := range gone {
			r.NotConverted = append(r.NotConverted, fmt.Sprintf("%s: link to the file %q, which is not in the folder (kept as written)", f.rel, g))
		}
		missing := resolveLinks(f.doc.Blocks, func(target string) (change.ID, bool) {
			return linkTarget(byName, byPath, f.rel, target)
		})
		for _, m := range missing {
			r.NotConverted = append(r.NotConverted, fmt.Sprintf("%s: link to %q, which is not in the folder (kept, shown as missing)", f.rel, m))
		}
		details := importDetails(f)
		// The digest is of what the import makes of the file, its links
		// resolved: a note the link names that came into the folder
		// since changes it too.
		rendered := markdown.Render(f.doc.Blocks)
		digest := e.importDigest(details, rendered)
		if f.root != nil {
			heads, err := e.createAs(ctx, f.root, details, f.doc.Blocks, false)
			if err != nil {
				return r, err
			}
			r.Created++
			if err := e.recordImport(ctx, f.id, heads, digest); err != nil {
				return r, err
			}
			continue
		}
		prior, err := e.priorImport(ctx, f.id)
		if err != nil {
			return r, err
		}
		if prior == nil {
			// Imported on another device (or by a mycel that kept no
			// record): what that import wrote is not known here, so the
			// file is taken only if the page reads the same already.
			same, heads, err := e.readsAs(ctx, f.id, details, rendered)
			if err != nil {
				return r, err
			}
			if !same {
				r.NotConverted = append(r.NotConverted, fmt.Sprintf("%s: not imported: the page was imported before (on another device, or by a mycel that kept no record of what it wrote) and differs from the file; importing the file here could undo edits made since, so import it on that device, or make the change in mycel", f.rel))
				continue
			}
			r.Unchanged++
			if err := e.recordImport(ctx, f.id, heads, digest); err != nil {
				return r, err
			}
			continue
		}
		if prior.File == digest {
			r.Unchanged++ // the file is as the last import left it
			continue
		}
		res, err := e.Edit(ctx, f.id, EditOptions{Base: prior.heads, NewVersion: true}, func(t *crdt.Tx) error {
			t.SetDetails(details)
			t.Replace(f.doc.Blocks)
			return nil
		})
		if err != nil {
			return r, fmt.Errorf("%s: %w", f.rel, err)
		}
		if res.Changed {
			r.Updated++
		} else {
			r.Unchanged++
		}
		if err := e.recordImport(ctx, f.id, res.Version, digest); err != nil {
			return r, err
		}
	}
	att.report(&r)
	return r, nil
}

// mdImport is what the last import of a file made of its object, kept in
// a device setting: the version it wrote (whose state is the file's) and
// a digest of what it made of the file (importDigest). The next import of
// a changed file is an edit built
// on that version, so it changes what the file changed and merges with
// every edit made in mycel since, like a concurrent one; an unchanged file
// changes nothing.
type mdImport struct {
	Heads []string `json:"heads"`
	File  string   `json:"file"`
	heads []change.ID
}

func mdImportSetting(id change.ID) string { return "imported-md:" + id.String() }

// importDigest is a digest of what an import makes of a file (details and
// its blocks, links resolved, as Markdown), keyed by the vault, so that a
// backup's settings do not confirm a guess of a file's text.
func (e *Engine) importDigest(details map[string]string, rendered string) string {
	m := hmac.New(sha256.New, e.vault.ReadKey[:])
	m.Write([]byte("mycel/v1/markdown-import\x00"))
	d, _ := json.Marshal(details) // sorted keys
	m.Write(d)
	m.Write([]byte{0})
	m.Write([]byte(rendered))
	return hex.EncodeToString(m.Sum(nil))
}

func (e *Engine) recordImport(ctx context.Context, id change.ID, heads []change.ID, digest string) error {
	rec := mdImport{File: digest}
	for _, h := range heads {
		rec.Heads = append(rec.Heads, h.String())
	}
	b, _ := json.Marshal(rec)
	return e.SetSetting(ctx, mdImportSetting(id), b)
}

// priorImport is the record of the last import of object id on this
// device; nil if there is none or its version is not stored here.
func (e *Engine) priorImport(ctx context.Context, id change.ID) (*mdImport, error) {
	b, err := e.Setting(ctx, mdImportSetting(id))
	if err != nil || len(b) == 0 {
		return nil, err
	}
	var rec mdImport
	if json.Unmarshal(b, &rec) != nil {
		return nil, nil
	}
	if rec.heads, err = change.ParseIDs(rec.Heads); err != nil || len(rec.heads) == 0 || !e.hasChanges(ctx, rec.heads) {
		return nil, nil
	}
	return &rec, nil
}

// readsAs reports whether object id already has these details and reads
// as rendered (its blocks as Markdown), and its heads.
func (e *Engine) readsAs(ctx context.Context, id change.ID, details map[string]string, rendered string) (bool, []change.ID, error) {
	o, err := e.Get(ctx, id)
	if err != nil {
		return false, nil, err
	}
	for k, v := range details {
		if o.Details[k] != v {
			return false, o.Heads, nil
		}
	}
	return markdown.Render(o.Doc.Blocks()) == rendered, o.Heads, nil
}

// readMarkdownFolder reads every Markdown file under dir. Everything is
// read through an os.Root of the folder: a link in it that leads outside
// (to ~/.ssh, say) is never followed, however it is made (a link, a link
// to a link, "..", a folder swapped for a link meanwhile): os.Root
// resolves each step of a path itself and refuses one that leaves the
// folder. Links within it are fine.
func readMarkdownFolder(dir string, r *MarkdownImport) (notes []*mdFile, others []string, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, err
	}
	defer root.Close()
	fsys := root.FS()
	var files []*mdFile
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
			others = append(others, p) // an attachment, if a note names it
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
		files = append(files, &mdFile{rel: p, doc: markdown.ParseDocument(string(b), markdown.WithFlavor(markdown.Obsidian), markdown.WithLocalFiles())})
		return nil
	})
	return files, others, err
}

// importDetails are the details an imported file gives its object.
func importDetails(f *mdFile) map[string]string {
	details := map[string]string{}
	for k, v := range f.doc.Details {
		// An id or heads of another vault mean nothing here; hiding is
		// for this vault's people; times go to the changes.
		if !reserved(k) && k != DetailPath && v != "" {
			details[k] = v
		}
	}
	if details["title"] == "" {
		details["title"] = strings.TrimSuffix(path.Base(f.rel), path.Ext(f.rel))
	}
	if details["type"] == "" {
		details["type"] = "page"
	}
	details[DetailPath] = f.rel
	return details
}

// importedPaths maps the DetailPath of every object (lower case) to it.
func (e *Engine) importedPaths(ctx context.Context) (map[string]change.ID, error) {
	rows, err := e.List(ctx, ListOptions{Archived: true})
	if err != nil {
		return nil, err
	}
	out := map[string]change.ID{}
	for _, row := range rows {
		err := e.view(ctx, row.ID, func(tx store.Tx, l *loaded) error {
			if p := l.doc.Details()[DetailPath]; p != "" {
				out[strings.ToLower(p)] = row.ID
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// resolveLinks turns the mentions and links of blocks that name a note
// (by name, path or relative file link) into mentions of its object, and
// embeds of notes into embeds of their objects; it returns the targets it
// could not resolve (left as they are).
func resolveLinks(blocks []*crdt.Block, resolve func(target string) (change.ID, bool)) (missing []string) {
	var walk func([]*crdt.Block)
	walk = func(bs []*crdt.Block) {
		for _, b := range bs {
			for i := range b.Marks {
				m := &b.Marks[i]
				switch m.Type {
				case crdt.MarkMention:
					if _, _, ok := MentionTarget(m.Value); ok {
						continue
					}
					name, anchor, _ := strings.Cut(m.Value, "#")
					if id, ok := resolve(name); ok {
						m.Value = joinAnchor(id, anchor)
					} else {
						missing = append(missing, m.Value)
					}
				case crdt.MarkLink:
					if v, ok := strings.CutPrefix(m.Value, "mycel:"); ok {
						// As export writes a link to an object it did not export.
						if _, _, ok := MentionTarget(v); ok {
							m.Type, m.Value = crdt.MarkMention, v
						}
						continue
					}
					u, err := url.Parse(m.Value)
					if err != nil || u.Scheme != "" || u.Host != "" || !strings.EqualFold(path.Ext(u.Path), ".md") {
						continue // a link to the web, or to a file that is not a note
					}
					if id, ok := resolve(u.Path); ok {
						m.Type, m.Value = crdt.MarkMention, joinAnchor(id, u.Fragment)
					} else {
						missing = append(missing, m.Value)
					}
				}
			}
			if b.Type == crdt.TypeEmbed {
				if id, ok := resolve(b.Attrs["target"]); ok {
					b.Attrs["target"] = id.String()
				}
			}
			walk(b.Children)
		}
	}
	walk(blocks)
	return missing
}

func joinAnchor(id change.ID, anchor string) string {
	if anchor == "" {
		return id.String()
	}
	return id.String() + "#" + anchor
}

// linkTarget finds the note a link in file from names: a relative file
// link (Other.md, ../Notes/Deep.md), a path in the folder
// ([[Projects/Garden]]), or a name or title ([[Garden]]).
func linkTarget(byName, byPath map[string]change.ID, from, target string) (change.ID, bool) {
	target = strings.TrimSpace(target)
	if target == "" {
		return change.ID{}, false
	}
	if strings.EqualFold(path.Ext(target), ".md") {
		if u, err := url.PathUnescape(target); err == nil {
			target = u
		}
		if id, ok := byPath[strings.ToLower(path.Clean(path.Join(path.Dir(from), target)))]; ok {
			return id, true
		}
		if id, ok := byPath[strings.ToLower(path.Clean(target))]; ok {
			return id, true
		}
		target = strings.TrimSuffix(target, path.Ext(target))
	}
	name := strings.ToLower(target)
	if id, ok := byPath[name+".md"]; ok {
		return id, true
	}
	if id, ok := byName[name]; ok {
		return id, true
	}
	id, ok := byName[path.Base(name)]
	return id, ok
}

// fileTime reads a front-matter time (RFC 3339 or a date), or gives def.
func fileTime(s string, def time.Time) time.Time {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t
		}
	}
	return def
}

func isUTF8Text(b []byte) bool {
	s := string(b)
	return !strings.ContainsRune(s, 0) && strings.ToValidUTF8(s, "\uFFFD") == s
}
