package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/vault"
)

// maxEdit bounds the body of an edit (the engine bounds pages further).
const maxEdit = 32 << 20

// Doc is a page as an editor loads it: the heads of the version shown,
// which its next edit names as its base.
type Doc struct {
	ID      string            `json:"id"`
	Heads   []string          `json:"heads"`
	Details map[string]string `json:"details"`
	Blocks  []Block           `json:"blocks"`
}

// DocEdit is an editor's edit of a page: the whole block tree as it is
// now in the editor, made on the version Base (the heads it last loaded or
// was answered). Blocks keep their ids; new ones have none.
type DocEdit struct {
	Base   []string `json:"base"`
	Blocks []Block  `json:"blocks"`
	// NewVersion starts a version in history here (after a pause in
	// typing, say).
	NewVersion bool `json:"new_version,omitempty"`
	// EditID, chosen by the editor, makes a retry safe: an edit sent
	// again with the ID of one already stored (its answer was lost) is
	// answered as it was, not applied twice.
	EditID string `json:"edit_id,omitempty"`
}

// recentEdits remembers the answers to the last edits by EditID.
type recentEdits struct {
	mu    sync.Mutex
	byID  map[string]DocEdited
	order []string
}

const keepEdits = 256

func (r *recentEdits) get(key string) (DocEdited, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.byID[key]
	return a, ok
}

func (r *recentEdits) put(key string, a DocEdited) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = map[string]DocEdited{}
	}
	if _, ok := r.byID[key]; !ok {
		r.order = append(r.order, key)
	}
	r.byID[key] = a
	for len(r.order) > keepEdits {
		delete(r.byID, r.order[0])
		r.order = r.order[1:]
	}
}

// DocEdited answers a DocEdit: the page as it is now, with what arrived
// meanwhile merged in (Merged); its Heads are the base of the next edit
// once the editor shows its Blocks.
type DocEdited struct {
	Doc
	Changed bool `json:"changed"`
	Merged  bool `json:"merged"`
	// Version is the heads of exactly the state sent (the edit on its
	// base, without what it merged with): an editor that changed more
	// since it sent the edit names Version as the base of the next one,
	// so that only its own typing is in that edit's difference.
	Version []string `json:"version"`
	// NewIDs are the ids the blocks sent without one got, depth-first in
	// the order sent: an editor that typed on meanwhile gives them to
	// those blocks (else its next edit would send them as new again).
	NewIDs []string `json:"new_ids"`
	// Renamed: blocks sent with an id the page does not show (deleted
	// meanwhile, or put back by an undo), made new: their id → the new one.
	Renamed map[string]string `json:"renamed,omitempty"`
	// Same: the page is exactly the blocks sent, with NewIDs; Blocks is
	// then left out (for a long page, most of the answer's cost). Neither
	// Same nor Blocks: the page could not be read back (the edit is
	// stored), and the editor loads it.
	Same bool `json:"same,omitempty"`
}

// asSent reports whether page is the tree sent but for the ids of the
// blocks sent without one.
func asSent(sent, page []*crdt.Block) bool {
	if len(sent) != len(page) {
		return false
	}
	for i, x := range sent {
		y := page[i]
		if x.ID != (crdt.ID{}) && x.ID != y.ID || x.Type != y.Type || x.Text != y.Text || x.Kept != y.Kept ||
			!maps.Equal(x.Attrs, y.Attrs) || !slices.Equal(x.Marks, y.Marks) || !asSent(x.Children, y.Children) {
			return false
		}
	}
	return true
}

// placedIDs reads ReplaceByID's answer (placed: the id of each block of
// tree, depth-first) for the editor: newIDs, the ids of the blocks sent
// without one, in order; renamed, the blocks sent with an id that were
// placed under another (old id → new).
func placedIDs(tree []*crdt.Block, placed []crdt.ID) (newIDs []string, renamed map[string]string) {
	newIDs = []string{}
	i := 0
	var walk func([]*crdt.Block)
	walk = func(bs []*crdt.Block) {
		for _, b := range bs {
			if i < len(placed) {
				switch {
				case b.ID == (crdt.ID{}):
					newIDs = append(newIDs, placed[i].String())
				case placed[i] != b.ID:
					if renamed == nil {
						renamed = map[string]string{}
					}
					renamed[b.ID.String()] = placed[i].String()
				}
			}
			i++
			walk(b.Children)
		}
	}
	walk(tree)
	return newIDs, renamed
}

// docRoutes adds the routes of an editor; changed is called after an edit
// is stored (to push it and wake the event streams).
func docRoutes(mux *http.ServeMux, e *vault.Engine, changed func()) {
	var recent recentEdits
	// One edit at a time per object: a retry racing its original waits
	// for it and gets its answer (edits of one object are made one at a
	// time by the engine anyway; other objects' go on meanwhile).
	var editing sync.Map // object id → *sync.Mutex
	mux.HandleFunc("GET /v1/objects/{id}/doc", func(w http.ResponseWriter, r *http.Request) {
		if id, o, ok := object(w, r, e); ok {
			reply(w, docOf(id, o, true))
		}
	})
	mux.HandleFunc("POST /v1/objects/{id}/doc", func(w http.ResponseWriter, r *http.Request) {
		id, err := change.ParseID(r.PathValue("id"))
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		var in DocEdit
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEdit))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("edit: %w", err))
			return
		}
		base, err := change.ParseIDs(in.Base)
		if err != nil || len(base) == 0 {
			fail(w, http.StatusBadRequest, errors.New("edit: base must name the heads of the version edited"))
			return
		}
		blocks, err := CRDTBlocks(in.Blocks)
		if errors.Is(err, errUnknownType) {
			// Only then the page is read: a block of a newer mycel's
			// type is taken as the page has it.
			if p, perr := e.Page(r.Context(), id); perr == nil {
				blocks, err = crdtBlocksKeeping(in.Blocks, p.Blocks)
			}
		}
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		key := ""
		if in.EditID != "" {
			if len(in.EditID) > 64 {
				fail(w, http.StatusBadRequest, errors.New("edit: edit_id is longer than 64 bytes"))
				return
			}
			key = id.String() + "/" + in.EditID
			mu, _ := editing.LoadOrStore(id, &sync.Mutex{})
			mu.(*sync.Mutex).Lock()
			defer mu.(*sync.Mutex).Unlock()
			if a, ok := recent.get(key); ok {
				reply(w, a)
				return
			}
		}
		var placed []crdt.ID
		res, err := e.Edit(r.Context(), id, vault.EditOptions{Base: base, NewVersion: in.NewVersion}, func(tx *crdt.Tx) error {
			placed = tx.ReplaceByID(blocks)
			return nil
		})
		if err != nil {
			fail(w, notFoundOr(err), err)
			return
		}
		if res.Changed {
			changed()
		}
		// What the edit did is remembered at once: a retry of it (its
		// answer lost, or the read below failing) is answered from here,
		// never applied again.
		out := DocEdited{Doc: Doc{ID: id.String(), Heads: []string{}}, Changed: res.Changed, Merged: res.Merged, Version: []string{}}
		out.NewIDs, out.Renamed = placedIDs(blocks, placed)
		for _, h := range res.Heads {
			out.Heads = append(out.Heads, h.String())
		}
		for _, h := range res.Version {
			out.Version = append(out.Version, h.String())
		}
		if key != "" {
			recent.put(key, out)
		}
		// The edit is stored whatever happens to the request now.
		o, err := e.Page(context.WithoutCancel(r.Context()), id)
		if err != nil {
			// Answered without the page: the editor loads it again.
			reply(w, out)
			return
		}
		out.Same = asSent(blocks, o.Blocks)
		out.Doc = docOf(id, o, !out.Same)
		if key != "" {
			recent.put(key, out)
		}
		reply(w, out)
	})
}

// object reads the object the request's path names, or answers why not.
func object(w http.ResponseWriter, r *http.Request, e *vault.Engine) (change.ID, *vault.Page, bool) {
	id, err := change.ParseID(r.PathValue("id"))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return id, nil, false
	}
	o, err := e.Page(r.Context(), id)
	if err != nil {
		fail(w, http.StatusNotFound, err)
		return id, nil, false
	}
	return id, o, true
}

// docOf is the page as the editor loads it; without its blocks unless
// withBlocks.
func docOf(id change.ID, o *vault.Page, withBlocks bool) Doc {
	d := Doc{ID: id.String(), Heads: []string{}, Details: o.Details}
	if withBlocks {
		d.Blocks = Blocks(o.Blocks)
	}
	for _, h := range o.Heads {
		d.Heads = append(d.Heads, h.String())
	}
	return d
}
