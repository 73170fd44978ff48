package vault

import (
	"context"
	"fmt"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/files"
)

// FilesAdded is what InsertFileBlocks did: the edit, and the ids of the
// file blocks it made, in the order of the manifests.
type FilesAdded struct {
	Result
	Blocks []crdt.ID
}

// InsertFileBlocks adds a file block for each manifest right after block
// after, among its siblings (after zero: at the end of the page, as
// AddFileBlocks; so too when after is not on the page), in one edit. The editor drops a file where the person
// dropped it, which is not always the end. The edit is made on the version
// after was found in, so it merges like any concurrent edit with what came
// since (a block typed meanwhile stays; one deleted meanwhile still has a
// place for the new blocks to follow).
func (e *Engine) InsertFileBlocks(ctx context.Context, id change.ID, after crdt.ID, ms []*files.Manifest) (FilesAdded, error) {
	if len(ms) == 0 {
		return FilesAdded{}, fmt.Errorf("no files to add")
	}
	p, err := e.Page(ctx, id)
	if err != nil {
		return FilesAdded{}, err
	}
	parent, found := crdt.ID{}, false
	if after != (crdt.ID{}) {
		parent, found = parentOf(p.Blocks, crdt.ID{}, after)
	}
	if !found {
		// At the end: asked for, or after was deleted meanwhile (the
		// file is stored by now; it is not dropped for want of a place).
		parent, after = crdt.ID{}, crdt.ID{}
		if n := len(p.Blocks); n > 0 {
			after = p.Blocks[n-1].ID
		}
	}
	var made []crdt.ID
	r, err := e.Edit(ctx, id, EditOptions{Base: p.Heads, NewVersion: true}, func(tx *crdt.Tx) error {
		made = made[:0] // an edit may be tried again on a fresher state
		prev := after
		for _, m := range ms {
			b := FileBlock(m)
			prev = tx.InsertBlock(parent, prev, b.Type)
			tx.SetAttr(prev, FileAttr, b.Attrs[FileAttr])
			made = append(made, prev)
		}
		return nil
	})
	if err != nil {
		return FilesAdded{}, err
	}
	return FilesAdded{Result: r, Blocks: made}, nil
}

// parentOf finds block id under bs (whose parent is parent): its parent.
func parentOf(bs []*crdt.Block, parent, id crdt.ID) (crdt.ID, bool) {
	for _, b := range bs {
		if b.ID == id {
			return parent, true
		}
		if p, ok := parentOf(b.Children, b.ID, id); ok {
			return p, true
		}
	}
	return crdt.ID{}, false
}

// PageFile finds the file whose id (the hex SHA-256 of its bytes) is
// fileID among the file blocks of page id: what the web app asks for to
// show an image of the page open, without a look at every page of the
// vault (FindFile's).
func (e *Engine) PageFile(ctx context.Context, id change.ID, fileID string) (File, error) {
	fs, err := e.Files(ctx, id)
	if err != nil {
		return File{}, err
	}
	for _, f := range fs {
		if f.Manifest != nil && f.Manifest.ID() == fileID {
			return f, nil
		}
	}
	return File{}, fmt.Errorf("page %s has no file %s", id.Short(), fileID)
}
