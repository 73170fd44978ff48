package vault

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"mycel/internal/crdt"
	"mycel/internal/files"
)

// A JSON export holds the pages' files too, in files/ named by their id
// (their WholeHash in hex: no name to make safe, each file once). The id
// depends on where the vault's keyed chunker cuts, so only this vault can
// check a file against it; another checks its size.
// Imported into this vault, a file whose chunks are not here is stored
// from it; into another vault, every file is stored again under that
// vault's keys and its blocks take the new manifest (the exported one
// names chunks sealed with keys this vault does not have).

// exportJSONFiles writes the files of blocks not written yet (done) to
// dir/files; notExported lists those this device does not have whole.
func (e *Engine) exportJSONFiles(ctx context.Context, dir, title string, blocks []*crdt.Block, done map[string]bool, notExported *[]string) error {
	for _, f := range filesOf([32]byte{}, blocks) {
		if f.Manifest == nil || done[f.Manifest.ID()] {
			continue
		}
		done[f.Manifest.ID()] = true
		full := filepath.Join(dir, ExportFolder, f.Manifest.ID())
		if err := e.exportFile(ctx, full, f); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			*notExported = append(*notExported, fmt.Sprintf("%s: %s (file %.12s): %v", title, f.Manifest.Name, f.Manifest.ID(), err))
		}
	}
	return nil
}

// jsonFileImport stores an export's files, each once.
type jsonFileImport struct {
	e         *Engine
	root      *os.Root
	sameVault bool
	stored    map[string]*files.Manifest // by file id
	missing   map[string]bool
}

func (e *Engine) newJSONFileImport(root *os.Root, vaultID string) *jsonFileImport {
	return &jsonFileImport{e: e, root: root, sameVault: vaultID == hex.EncodeToString(e.vault.ID[:]),
		stored: map[string]*files.Manifest{}, missing: map[string]bool{}}
}

// fix makes the file blocks of blocks readable here, and reports files
// the export lacks that this vault cannot read otherwise.
func (j *jsonFileImport) fix(ctx context.Context, title string, blocks []*crdt.Block, skipped *[]string) (int, error) {
	n := 0
	var err error
	walkBlocks(blocks, func(b *crdt.Block) {
		m, _ := ManifestOf(b)
		if err != nil || m == nil {
			return
		}
		if j.sameVault {
			if h, herr := j.e.Here(m); herr == nil && h.Complete() {
				return
			}
		}
		nm, ok := j.stored[m.ID()]
		if !ok && !j.missing[m.ID()] {
			nm, err = j.store(ctx, m)
			if err != nil {
				return
			}
			if nm == nil {
				j.missing[m.ID()] = true
				if !j.sameVault {
					*skipped = append(*skipped, fmt.Sprintf("%s: the file %s is not in the export's %s folder: its block is kept, but its bytes cannot be read in this vault", title, m.Name, ExportFolder))
				}
			} else {
				n++
			}
		}
		if nm != nil && !j.sameVault {
			b.Attrs[FileAttr] = FileBlock(nm).Attrs[FileAttr]
		}
	})
	return n, err
}

// store stores the exported file of m, checked against its id; nil when
// the export lacks it.
func (j *jsonFileImport) store(ctx context.Context, m *files.Manifest) (*files.Manifest, error) {
	fh, err := j.root.Open(path.Join(ExportFolder, m.ID()))
	if err != nil {
		return nil, nil
	}
	defer fh.Close()
	nm, err := j.e.StoreFile(ctx, fh, StoreFileOptions{Name: m.Name, Type: m.Type, Limit: files.MaxFileLimit})
	if err != nil {
		return nil, fmt.Errorf("the export's file %s: %w", m.Name, err)
	}
	switch {
	case j.sameVault && nm.ID() != m.ID():
		return nil, fmt.Errorf("the export's file %s is not the file its page names (its bytes hash to %.12s, not %.12s): the export is damaged", m.Name, nm.ID(), m.ID())
	case nm.Size != m.Size:
		// Cut elsewhere, a file of another vault has another id: its
		// size is what can be checked here.
		return nil, fmt.Errorf("the export's file %s is not the file its page names (%d bytes, not %d): the export is damaged", m.Name, nm.Size, m.Size)
	}
	j.stored[m.ID()] = nm
	return nm, nil
}
