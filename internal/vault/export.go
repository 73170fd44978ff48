package vault

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mycel/internal/change"
	"mycel/internal/crdt"
)

// ExportManifest names a folder as a mycel JSON export.
const ExportManifest = "mycel-export.json"

// Exported is one object as a JSON export holds it: everything in its
// state, ids included, so that importing it gives back the same state.
type Exported struct {
	ID      string            `json:"id"`
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
// folder: one ID.json per object and a manifest. It returns how many.
func (e *Engine) ExportJSON(ctx context.Context, dir string, ids []change.ID) (int, error) {
	if len(ids) == 0 {
		rows, err := e.List(ctx)
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
		b, _ := json.MarshalIndent(x, "", "  ")
		if err := writePrivate(filepath.Join(dir, id.String()+".json"), append(b, '\n')); err != nil {
			return 0, err
		}
		m.Objects = append(m.Objects, id.String())
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return len(ids), writePrivate(filepath.Join(dir, ExportManifest), append(b, '\n'))
}

// ImportResult says what an import did.
type ImportResult struct {
	Created, Updated, Unchanged int
}

// ImportJSON imports a JSON export: an object of this vault (same id) is
// brought to the exported state; one imported before is updated, not
// duplicated; others become new objects. Links between the exported
// objects point to the imported ones.
func (e *Engine) ImportJSON(ctx context.Context, dir string) (ImportResult, error) {
	var r ImportResult
	b, err := os.ReadFile(filepath.Join(dir, ExportManifest))
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
		b, err := os.ReadFile(filepath.Join(dir, id+".json"))
		if err != nil {
			return r, err
		}
		var x Exported
		if err := json.Unmarshal(b, &x); err != nil || x.ID != id {
			return r, fmt.Errorf("%s.json: not the exported object %s", id, id)
		}
		objs = append(objs, x)
	}
	// Where each exported object lives here: itself, or what an earlier
	// import made of it.
	target := map[string]change.ID{}
	for _, x := range objs {
		id, _ := change.ParseID(x.ID)
		if _, err := e.Get(ctx, id); err == nil {
			target[x.ID] = id
			continue
		}
		v, err := e.Setting(ctx, importSetting(x.ID))
		if err != nil {
			return r, err
		}
		if mine, err := change.ParseID(string(v)); err == nil {
			if _, err := e.Get(ctx, mine); err == nil {
				target[x.ID] = mine
			}
		}
	}
	// New objects first, so that links can point to them.
	created := map[string]bool{}
	for _, x := range objs {
		if _, ok := target[x.ID]; ok {
			continue
		}
		id, err := e.Create(ctx, nil, nil)
		if err != nil {
			return r, err
		}
		if err := e.SetSetting(ctx, importSetting(x.ID), []byte(id.String())); err != nil {
			return r, err
		}
		target[x.ID] = id
		created[x.ID] = true
		r.Created++
	}
	remap := func(t string) string {
		if id, ok := target[t]; ok {
			return id.String()
		}
		return t
	}
	for _, x := range objs {
		id := target[x.ID]
		changed, err := e.Edit(ctx, id, func(tx *crdt.Tx) error {
			tx.ReplaceDetails(x.Details)
			tx.Replace(importBlocks(x.Blocks, remap))
			return nil
		})
		switch {
		case err != nil:
			return r, err
		case created[x.ID]:
		case changed:
			r.Updated++
		default:
			r.Unchanged++
		}
	}
	return r, nil
}

func importSetting(exported string) string { return "imported:" + exported }
