package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"mycel/internal/change"
	"mycel/internal/crdt"
)

// ExportReport says what an export did.
type ExportReport struct {
	Objects int
	// Files is how many files were written to the export's files/
	// folder (each file once, however many pages show it).
	Files int
	// NotExported lists the files of exported pages that could not be
	// written: not (all) on this device yet, or damaged. Their pages
	// link them by their mycel:file/ link, which an import into this
	// vault resolves.
	NotExported []string
}

// ExportFolder is the folder of an export that holds its files.
const ExportFolder = "files"

// exportFiles writes the files of objs to dir/files (each file, by its
// bytes, once; names made safe and unique) and gives each manifest
// attribute its path in the export.
func (e *Engine) exportFiles(ctx context.Context, dir string, objs []*Object, notes map[change.ID]string, r *ExportReport) (map[string]string, error) {
	taken := map[string]bool{}
	for _, n := range notes {
		taken[strings.ToLower(n)] = true
	}
	byHash := map[string]string{} // file id → its path ("" when not written)
	out := map[string]string{}
	for _, o := range objs {
		for _, f := range filesOf(o.ID, o.Doc.Blocks()) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if f.Manifest == nil {
				r.NotExported = append(r.NotExported, fmt.Sprintf("%s: a file whose manifest is damaged (%v)", o.Title(), f.Err))
				continue
			}
			attr := FileBlock(f.Manifest).Attrs[FileAttr]
			if b := blockOf(o.Doc.Blocks(), f.Block); b != nil {
				attr = b.Attrs[FileAttr]
			}
			id := f.Manifest.ID()
			if p, seen := byHash[id]; seen {
				if p != "" {
					out[attr] = p
				}
				continue
			}
			p := uniqueName(path.Join(ExportFolder, attachName(f.Manifest.Name)), taken)
			if err := e.exportFile(ctx, filepath.Join(dir, filepath.FromSlash(p)), f); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				r.NotExported = append(r.NotExported, fmt.Sprintf("%s: %s (file %.12s): %v", o.Title(), f.Manifest.Name, id, err))
				byHash[id] = ""
				continue
			}
			taken[strings.ToLower(p)] = true
			byHash[id], out[attr] = p, p
			r.Files++
		}
	}
	return out, nil
}

// exportFile writes one file; nothing is left of one that fails.
func (e *Engine) exportFile(ctx context.Context, full string, f File) error {
	if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
		return err
	}
	h, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = e.ReadFile(ctx, f.Manifest, h)
	if err == nil {
		err = h.Sync()
	}
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(full)
		if errors.Is(err, ErrMissingChunks) {
			return errors.New("not on this device yet (a running 'mycel up' fetches it; export again then)")
		}
	}
	return err
}

func blockOf(bs []*crdt.Block, id crdt.ID) *crdt.Block {
	var found *crdt.Block
	walkBlocks(bs, func(b *crdt.Block) {
		if found == nil && b.ID == id {
			found = b
		}
	})
	return found
}

// attachName makes a file's name safe on any file system and in a link
// of either flavor (Obsidian reads # ^ [ ] | in [[…]] as syntax), its
// extension kept.
func attachName(name string) string {
	ext := path.Ext(name)
	if len(ext) > 12 || strings.ContainsAny(ext, ` /\:*?"<>|#^[]`) {
		ext = ""
	}
	stem := strings.Map(func(r rune) rune {
		if strings.ContainsRune("#^[]", r) {
			return '-'
		}
		return r
	}, strings.TrimSuffix(name, ext))
	stem = fileName(stem)
	if stem == "Untitled" && ext != "" {
		stem = "file"
	}
	return stem + ext
}

// uniqueName numbers p ("photo (2).jpg") until no name taken matches it,
// whatever the case (some file systems do not tell case apart).
func uniqueName(p string, taken map[string]bool) string {
	ext := path.Ext(p)
	stem := strings.TrimSuffix(p, ext)
	out := p
	for n := 2; taken[strings.ToLower(out)]; n++ {
		out = fmt.Sprintf("%s (%d)%s", stem, n, ext)
	}
	return out
}
