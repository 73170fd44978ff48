package vault

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/store"
)

// ExportManifest names a folder as a mycel JSON export.
const ExportManifest = "mycel-export.json"

// Exported is one object as a JSON export holds it: everything in its
// state, ids included, so that importing it gives back the same state.
type Exported struct {
	ID string `json:"id"`
	// Heads name the version exported: importing into this vault is
	// based on it, so an old export undoes nothing done since.
	Heads   []string          `json:"heads"`
	Details map[string]string `json:"details"`
	Blocks  []ExportedBlock   `json:"blocks"`
	Created time.Time         `json:"created"`
	Updated time.Time         `json:"updated"`
	Changes int               `json:"changes"`
}

// ExportedBlock is a block with its id (counter and actor, hex).
type ExportedBlock struct {
	Counter  uint64            `json:"counter"`
	Actor    string            `json:"actor"`
	Type     string            `json:"type"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	Text     string            `json:"text"`
	Children []ExportedBlock   `json:"children,omitempty"`
}

type exportManifest struct {
	Format  string    `json:"format"` // "mycel-json"
	Version int       `json:"version"`
	VaultID string    `json:"vault_id"`
	Created time.Time `json:"created"`
	Objects []string  `json:"objects"`
	// NotExported lists the files of the pages that could not be written
	// to files/ (not on the exporting device).
	NotExported []string `json:"files_not_exported,omitempty"`
}

func exportBlocks(bs []*crdt.Block) []ExportedBlock {
	out := []ExportedBlock{}
	for _, b := range bs {
		out = append(out, ExportedBlock{Counter: b.ID.Counter, Actor: hex.EncodeToString([]byte(b.ID.Actor)), Type: b.Type,
			Attrs: b.Attrs, Text: b.Text, Children: exportBlocks(b.Children)})
	}
	return out
}

func importBlocks(bs []ExportedBlock, remap func(string) string) []*crdt.Block {
	var out []*crdt.Block
	for _, b := range bs {
		attrs := map[string]string{}
		for k, v := range b.Attrs {
			attrs[k] = v
		}
		if t, ok := attrs["target"]; ok {
			attrs["target"] = remap(t)
		}
		out = append(out, &crdt.Block{Type: b.Type, Attrs: attrs, Text: b.Text, Children: importBlocks(b.Children, remap)})
	}
	return out
}

// ExportJSON writes the objects ids (all when none) to dir, a new or empty
// folder: one ID.json per object and a manifest, and their files in
// files/. It returns how many objects.
func (e *Engine) ExportJSON(ctx context.Context, dir string, ids []change.ID) (int, error) {
	r, err := e.ExportJSONReport(ctx, dir, ids)
	return r.Objects, err
}

// ExportJSONReport is ExportJSON, saying what it did.
func (e *Engine) ExportJSONReport(ctx context.Context, dir string, ids []change.ID) (ExportReport, error) {
	var r ExportReport
	n, err := e.exportJSON(ctx, dir, ids, &r)
	r.Objects = n
	return r, err
}

func (e *Engine) exportJSON(ctx context.Context, dir string, ids []change.ID, r *ExportReport) (int, error) {
	written := map[string]bool{}
	if len(ids) == 0 {
		rows, err := e.List(ctx, ListOptions{Archived: true})
		if err != nil {
			return 0, err
		}
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
	}
	if err := emptyFolder(dir); err != nil {
		return 0, err
	}
	m := exportManifest{Format: "mycel-json", Version: 1, VaultID: hex.EncodeToString(e.vault.ID[:]), Created: time.Now().UTC()}
	for _, id := range ids {
		o, err := e.Get(ctx, id)
		if err != nil {
			return 0, err
		}
		x := Exported{ID: id.String(), Details: o.Details, Blocks: exportBlocks(o.Doc.Blocks()),
			Created: o.Index.Created, Updated: o.Index.Updated, Changes: o.Index.Changes}
		for _, h := range o.Heads {
			x.Heads = append(x.Heads, h.String())
		}
		b, _ := json.MarshalIndent(x, "", "  ")
		if err := writePrivate(filepath.Join(dir, id.String()+".json"), append(b, '\n')); err != nil {
			return 0, err
		}
		before := len(written)
		if err := e.exportJSONFiles(ctx, dir, o.Title(), o.Doc.Blocks(), written, &r.NotExported); err != nil {
			return 0, err
		}
		r.Files += len(written) - before
		m.Objects = append(m.Objects, id.String())
	}
	r.Files -= len(r.NotExported)
	m.NotExported = r.NotExported
	b, _ := json.MarshalIndent(m, "", "  ")
	return len(ids), writePrivate(filepath.Join(dir, ExportManifest), append(b, '\n'))
}

// ImportResult says what an import did.
type ImportResult struct {
	Created, Updated, Unchanged int
	// Skipped: objects of this vault exported from a version this device
	// does not have yet (sync first), left as they are, and files of the
	// export that are links out of its folder, not followed.
	Skipped []string `json:",omitempty"`
	// Files: the export's files stored here.
	Files int `json:",omitempty"`
}

// imported is what an earlier import made of an exported object, kept in
// a setting: the object, and its heads and the export's right after.
type imported struct {
	Object   string   `json:"object"`
	Heads    []string `json:"heads"`
	Exported []string `json:"exported_heads"`
	// Format 2: Heads is the version the import wrote. Before, it was the
	// object's heads after the import, which may hold an edit made here:
	// an import built on them would undo it, so such a record names no
	// version to build on.
	Format int `json:"format,omitempty"`
}

func importSetting(exported string) string { return "imported:" + exported }

// ImportJSON imports a JSON export, each object as one change and a
// version of its own. An object of this vault (same id) is brought to the
// exported state on top of the exported version: what was done since the
// export stays (an old export changes nothing). One imported before is
// updated on top of what that import made, and only if the export
// changed since. Others become new objects. Links between the exported
// objects point to the imported ones.
func (e *Engine) ImportJSON(ctx context.Context, dir string) (ImportResult, error) {
	var r ImportResult
	// Read through an os.Root: a file of the export that is a link out of
	// its folder is not followed (see ImportMarkdown).
	root, err := os.OpenRoot(dir)
	if err != nil {
		return r, err
	}
	defer root.Close()
	b, err := root.ReadFile(ExportManifest)
	if err != nil {
		return r, fmt.Errorf("%s is not a mycel JSON export (no %s): %w", dir, ExportManifest, err)
	}
	var m exportManifest
	if err := json.Unmarshal(b, &m); err != nil || m.Format != "mycel-json" || m.Version != 1 {
		return r, fmt.Errorf("%s: export manifest unreadable or of an unknown format", dir)
	}
	objs := make([]Exported, 0, len(m.Objects))
	for _, id := range m.Objects {
		if _, err := change.ParseID(id); err != nil {
			return r, fmt.Errorf("export manifest: %w", err)
		}
		b, err := root.ReadFile(id + ".json")
		if fi, lerr := root.Lstat(id + ".json"); err != nil && lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			r.Skipped = append(r.Skipped, id+".json: a link to outside the folder (or to nothing), not followed")
			continue
		}
		if err != nil {
			return r, err
		}
		var x Exported
		if err := json.Unmarshal(b, &x); err != nil || x.ID != id {
			return r, fmt.Errorf("%s.json: not the exported object %s", id, id)
		}
		objs = append(objs, x)
	}
	// Where each exported object lives here, and the version to build on.
	type plan struct {
		target change.ID
		base   []change.ID
		root   *change.Change // a new object
		prior  *imported
		// unknownBase: the version to build on is not known (an export or
		// an import by an older mycel): imported only if it changes nothing.
		unknownBase bool
	}
	plans := map[string]*plan{}
	absent := func(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "no object") }
	for _, x := range objs {
		id, _ := change.ParseID(x.ID)
		o, err := e.Get(ctx, id)
		if err != nil && !absent(err) {
			return r, err
		}
		if err == nil {
			p := &plan{target: id}
			if p.base, err = change.ParseIDs(x.Heads); err != nil {
				return r, fmt.Errorf("%s.json: %w", x.ID, err)
			}
			switch {
			case len(p.base) == 0:
				// An export by an older mycel names no version: brought to
				// its state on top of the current one, it would undo what
				// was done since.
				p.unknownBase = true
			case !e.hasChanges(ctx, p.base):
				r.Skipped = append(r.Skipped, fmt.Sprintf("%s (%s): exported from a version this device does not have yet; sync first", o.Title(), id.Short()))
				continue
			}
			plans[x.ID] = p
			continue
		}
		v, err := e.Setting(ctx, importSetting(x.ID))
		if err != nil {
			return r, err
		}
		var prior imported
		if json.Unmarshal(v, &prior) != nil && len(v) > 0 {
			prior = imported{Object: string(v)} // written by an older mycel: the id alone
		}
		if mine, err := change.ParseID(prior.Object); err == nil {
			_, err := e.Get(ctx, mine)
			if err != nil && !absent(err) {
				return r, err
			}
			if err == nil {
				base, _ := change.ParseIDs(prior.Heads)
				if prior.Format < 2 {
					base = nil
				}
				plans[x.ID] = &plan{target: mine, base: base, prior: &prior, unknownBase: len(base) == 0}
				continue
			}
		}
		root, err := change.NewRoot(e.vault.ID, e.device, e.Now())
		if err != nil {
			return r, err
		}
		plans[x.ID] = &plan{target: root.ID, root: root}
	}
	fileImport := e.newJSONFileImport(root, m.VaultID)
	remap := func(t string) string {
		if p, ok := plans[t]; ok {
			return p.target.String()
		}
		return t
	}
	for _, x := range objs {
		p := plans[x.ID]
		if p == nil {
			continue
		}
		blocks := importBlocks(x.Blocks, remap)
		n, err := fileImport.fix(ctx, x.Details["title"], blocks, &r.Skipped)
		if err != nil {
			return r, err
		}
		r.Files += n
		res := Result{ID: p.target}
		switch {
		case p.root != nil:
			if res.Version, err = e.createAs(ctx, p.root, x.Details, blocks, false); err != nil {
				return r, err
			}
			res.Changed = true
			r.Created++
		case p.prior != nil && slices.Equal(p.prior.Exported, x.Heads):
			r.Unchanged++ // the same export as last time
			continue
		case p.unknownBase:
			o, err := e.Get(ctx, p.target)
			if err != nil {
				return r, err
			}
			if maps.Equal(o.Details, x.Details) && markdown.Render(o.Doc.Blocks()) == markdown.Render(blocks) {
				r.Unchanged++
				if p.prior != nil {
					// The page reads as the export: its heads are a version
					// the next import can build on.
					rec := imported{Object: p.target.String(), Exported: x.Heads, Format: 2}
					for _, h := range o.Heads {
						rec.Heads = append(rec.Heads, h.String())
					}
					b, _ := json.Marshal(rec)
					if err := e.SetSetting(ctx, importSetting(x.ID), b); err != nil {
						return r, err
					}
				}
			} else {
				why := "the export does not say which version it is of (an older mycel made it), so importing it could undo what was done since; export again with this version"
				if p.prior != nil {
					why = "an older mycel imported it before without recording what that import wrote, so importing it could undo edits made here since; make the change in mycel"
				}
				r.Skipped = append(r.Skipped, fmt.Sprintf("%s (%s): %s", o.Title(), p.target.Short(), why))
			}
			continue
		default:
			if res, err = e.Edit(ctx, p.target, EditOptions{Base: p.base, NewVersion: true}, func(tx *crdt.Tx) error {
				tx.ReplaceDetails(x.Details)
				tx.Replace(blocks)
				return nil
			}); err != nil {
				return r, err
			}
			if res.Changed {
				r.Updated++
			} else {
				r.Unchanged++
			}
		}
		if p.root != nil || p.prior != nil {
			// The version the import wrote, not the object's heads: those
			// may hold edits made here meanwhile, which the next import,
			// built on them, would undo.
			rec := imported{Object: p.target.String(), Exported: x.Heads, Format: 2}
			for _, h := range res.Version {
				rec.Heads = append(rec.Heads, h.String())
			}
			b, _ := json.Marshal(rec)
			if err := e.SetSetting(ctx, importSetting(x.ID), b); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

// hasChanges reports whether every one of ids is a stored change.
func (e *Engine) hasChanges(ctx context.Context, ids []change.ID) bool {
	ok := true
	e.db.View(ctx, func(tx store.Tx) error {
		got, err := tx.StoredOf(ids)
		ok = err == nil && len(got) == len(ids)
		return err
	})
	return ok
}

// IsJSONExport reports whether dir is a folder written by ExportJSON (its
// manifest is there): ImportJSON takes it, ImportMarkdown any other folder.
func IsJSONExport(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ExportManifest))
	return err == nil
}
