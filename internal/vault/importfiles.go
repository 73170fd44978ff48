package vault

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"mycel/internal/crdt"
	"mycel/internal/files"
	"mycel/internal/markdown"
)

// attachments are the files of an imported folder that are not notes:
// what its notes' images, embeds and links to files can name. Each is
// stored once (chunks already here cost nothing), when a note first names
// it.
type attachments struct {
	e      *Engine
	dir    string
	all    []string            // slash-separated paths in the folder
	byLC   map[string]string   // lower-case path → path
	byBase map[string][]string // lower-case name → paths, shortest first
	done   map[string]*files.Manifest
	used   map[string]bool
	// failed are those that could not be stored, with the reason.
	failed map[string]string
}

func newAttachments(e *Engine, dir string, paths []string) *attachments {
	a := &attachments{e: e, dir: dir, all: paths, byLC: map[string]string{}, byBase: map[string][]string{},
		done: map[string]*files.Manifest{}, used: map[string]bool{}, failed: map[string]string{}}
	for _, p := range paths {
		a.byLC[strings.ToLower(p)] = p
		k := strings.ToLower(path.Base(p))
		a.byBase[k] = append(a.byBase[k], p)
	}
	for _, ps := range a.byBase {
		// Obsidian's shortest path: a name alone means the file of that
		// name nearest the vault's top (then the first by path, so that
		// every import picks the same one).
		slices.SortFunc(ps, func(x, y string) int {
			if d := strings.Count(x, "/") - strings.Count(y, "/"); d != 0 {
				return d
			}
			return strings.Compare(x, y)
		})
	}
	return a
}

// find gives the attachment a reference from note names: a path relative
// to the note (Markdown links), a path from the folder's top (Obsidian's
// "absolute in vault"), or a name (Obsidian's shortest path).
func (a *attachments) find(note string, b *crdt.Block) (string, bool) {
	ref := b.Attrs[markdown.AttrFileRef]
	wiki := strings.HasPrefix(b.Attrs[markdown.AttrFileSource], "![[") || strings.HasPrefix(b.Attrs[markdown.AttrFileSource], "[[")
	if wiki {
		ref, _, _ = strings.Cut(ref, "#") // ![[doc.pdf#page=2]]
	} else {
		u, err := url.Parse(ref)
		if err != nil {
			return "", false
		}
		ref = u.Path
	}
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return "", false
	}
	for _, p := range []string{path.Join(path.Dir(note), ref), path.Clean(strings.TrimPrefix(ref, "/"))} {
		if got, ok := a.byLC[strings.ToLower(p)]; ok {
			return got, true
		}
	}
	if ps := a.byBase[strings.ToLower(path.Base(ref))]; len(ps) > 0 && (wiki || !strings.Contains(ref, "/")) {
		return ps[0], true
	}
	return "", false
}

// resolver gives the file resolver of note f's references: mycel:file/
// links through the vault (an export's file not on the device that
// exported it), others through the folder.
func (a *attachments) resolver(ctx context.Context, f *mdFile, page []*crdt.Block) *fileResolver {
	r := a.e.newFileResolver(ctx, page)
	r.noRaw = true
	r.local = func(b *crdt.Block) (*files.Manifest, error) {
		p, ok := a.find(f.rel, b)
		if !ok {
			return nil, nil
		}
		return a.store(ctx, p)
	}
	return r
}

// store stores attachment p (once) and gives its manifest; nil when it
// cannot be (too large, unreadable: the reason is kept for the report).
func (a *attachments) store(ctx context.Context, p string) (*files.Manifest, error) {
	if m, ok := a.done[p]; ok {
		return m, nil
	}
	if _, failed := a.failed[p]; failed {
		return nil, nil
	}
	root, err := os.OpenRoot(a.dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fh, err := root.Open(p)
	if err != nil {
		a.failed[p] = err.Error()
		return nil, nil
	}
	defer fh.Close()
	m, err := a.e.StoreFile(ctx, fh, StoreFileOptions{Name: path.Base(p)})
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		a.failed[p] = err.Error()
		return nil, nil
	}
	a.done[p], a.used[p] = m, true
	return m, nil
}

// report lists what the folder held that no note made a file block of.
func (a *attachments) report(r *MarkdownImport) {
	for _, p := range a.all {
		switch {
		case a.failed[p] != "":
			r.NotConverted = append(r.NotConverted, fmt.Sprintf("%s: not imported as a file: %s", p, a.failed[p]))
		case !a.used[p]:
			r.NotConverted = append(r.NotConverted, p+": not a Markdown file, and no note links to it")
		}
	}
	r.Files = len(a.done)
}

var (
	inlineImageRe = regexp.MustCompile(`^!\[[^\]]*\]\(<?([^)>\s]+)>?\)$`)
	inlineEmbedRe = regexp.MustCompile(`^!\[\[([^\]|]+)(?:\|[^\]]*)?\]\]$`)
)

// inlineFiles brings in the files that blocks link inside their text (a
// sentence with ![](img.png), [the report](doc.pdf) or ![[img.png]] in
// it): the text stays as written, and a file block of each follows its
// block, unless one already does (an export writes it there, so a round
// trip adds none).
func (a *attachments) inlineFiles(ctx context.Context, note string, bs []*crdt.Block) ([]*crdt.Block, error) {
	var out []*crdt.Block
	for i, b := range bs {
		if b.Type != crdt.TypeTable {
			kids, err := a.inlineFiles(ctx, note, b.Children)
			if err != nil {
				return nil, err
			}
			b.Children = kids
		}
		out = append(out, b)
		if b.Type == crdt.TypeCode || b.Type == crdt.TypeMath || b.Type == crdt.TypeRaw || b.Type == crdt.TypeFile || b.Type == crdt.TypeTable {
			continue
		}
		have := map[string]bool{}
		for _, next := range bs[i+1:] {
			m, _ := ManifestOf(next)
			if m == nil {
				break
			}
			have[m.ID()] = true
		}
		for _, ref := range inlineRefs(b) {
			p, ok := a.find(note, ref)
			if !ok {
				continue
			}
			m, err := a.store(ctx, p)
			if err != nil {
				return nil, err
			}
			if m == nil || have[m.ID()] {
				continue
			}
			have[m.ID()] = true
			out = append(out, FileBlock(m))
		}
	}
	return out, nil
}

// inlineRefs are the references to local files in b's text, as blocks
// the way find reads them.
func inlineRefs(b *crdt.Block) []*crdt.Block {
	var out []*crdt.Block
	ref := func(target, source string) {
		out = append(out, &crdt.Block{Type: crdt.TypeFile, Attrs: map[string]string{markdown.AttrFileRef: target, markdown.AttrFileSource: source}})
	}
	runes := []rune(b.Text)
	for _, m := range b.Marks {
		if m.Start < 0 || m.End > len(runes) || m.Start >= m.End {
			continue
		}
		switch m.Type {
		case crdt.MarkLink:
			if u, err := url.Parse(m.Value); err == nil && u.Scheme == "" && u.Host == "" && u.Path != "" && !strings.EqualFold(path.Ext(u.Path), ".md") {
				ref(m.Value, "[")
			}
		case crdt.MarkRaw:
			s := string(runes[m.Start:m.End])
			if x := inlineImageRe.FindStringSubmatch(s); x != nil {
				if u, err := url.Parse(x[1]); err == nil && u.Scheme == "" && u.Host == "" {
					ref(x[1], "![")
				}
			} else if x := inlineEmbedRe.FindStringSubmatch(s); x != nil && path.Ext(x[1]) != "" && !strings.EqualFold(path.Ext(x[1]), ".md") {
				ref(x[1], "![[")
			}
		}
	}
	return out
}
