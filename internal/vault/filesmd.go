package vault

import (
	"context"
	"maps"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/files"
	"mycel/internal/markdown"
)

// Files through Markdown. Parsing leaves a file reference
// (markdown.AttrFileRef: mycel:file/HASH, or in an import a path in the
// folder) where a file block was written; the engine makes it the file
// block again. A reference to a file of the page being written is that
// page's block with its attributes as they are (so show then write gives
// the same block, byte for byte: the same manifest, never one remade);
// else a file of any page of the vault; else, for an import, the file in
// its folder. One that none of these resolves stays as the person wrote
// it (markdown.Unresolved): never dropped.

// fileResolver resolves the file references of parsed Markdown.
type fileResolver struct {
	e   *Engine
	ctx context.Context
	// page holds the file blocks of the page being written, by file id,
	// in page order; used counts those already matched, so two blocks of
	// one file keep their own attributes.
	page map[string][]*crdt.Block
	used map[*crdt.Block]bool
	// vault is every file of the vault by id (its first block), read on
	// the first reference the page does not hold.
	vault map[string]*crdt.Block
	// local resolves a reference that is not a mycel: link (an import's
	// folder); nil: none is.
	local func(b *crdt.Block) (*files.Manifest, error)
	// noRaw refuses mycel:file/raw/ references (an import: a folder from
	// anywhere must not make up manifests naming chunks at will).
	noRaw bool
}

func (e *Engine) newFileResolver(ctx context.Context, page []*crdt.Block) *fileResolver {
	r := &fileResolver{e: e, ctx: ctx, page: map[string][]*crdt.Block{}, used: map[*crdt.Block]bool{}}
	walkBlocks(page, func(b *crdt.Block) {
		if m, err := ManifestOf(b); err == nil && m != nil {
			r.page[m.ID()] = append(r.page[m.ID()], b)
		}
	})
	return r
}

// pageBlocks is the blocks of object id, or none when it cannot be read
// (then references resolve through the vault).
func (e *Engine) pageBlocks(ctx context.Context, id change.ID) []*crdt.Block {
	p, err := e.Page(ctx, id)
	if err != nil {
		return nil
	}
	return p.Blocks
}

func walkBlocks(bs []*crdt.Block, f func(*crdt.Block)) {
	for _, b := range bs {
		f(b)
		walkBlocks(b.Children, f)
	}
}

// hasFileRefs reports whether parsing left any file reference in blocks.
func hasFileRefs(bs []*crdt.Block) bool {
	found := false
	walkBlocks(bs, func(b *crdt.Block) { found = found || isFileRef(b) })
	return found
}

func isFileRef(b *crdt.Block) bool {
	_, ok := b.Attrs[markdown.AttrFileRef]
	return b.Type == crdt.TypeFile && ok
}

// resolveFiles makes each file reference in blocks a file block, or what
// was written; unresolved lists those left as written.
func (r *fileResolver) resolveFiles(blocks []*crdt.Block) (unresolved []string, err error) {
	walkBlocks(blocks, func(b *crdt.Block) {
		if err != nil || !isFileRef(b) {
			return
		}
		var ok bool
		if ok, err = r.resolve(b); err == nil && !ok {
			unresolved = append(unresolved, b.Attrs[markdown.AttrFileRef])
			*b = *markdown.Unresolved(b)
		}
	})
	return unresolved, err
}

// resolve turns reference b into its file block in place.
func (r *fileResolver) resolve(b *crdt.Block) (bool, error) {
	ref := b.Attrs[markdown.AttrFileRef]
	size := b.Attrs["size"]
	var attrs map[string]string
	var m *files.Manifest
	if raw, ok := markdown.FileRawAttr(ref); ok {
		if r.noRaw {
			return false, nil
		}
		attrs = map[string]string{FileAttr: raw}
	} else if hash, ok := markdown.FileHash(ref); ok {
		from, err := r.find(hash, b.Text)
		if err != nil || from == nil {
			return false, err
		}
		attrs = maps.Clone(from.Attrs)
		m, _ = ManifestOf(from)
	} else if r.local != nil {
		var err error
		if m, err = r.local(b); err != nil || m == nil {
			return false, err
		}
		attrs = FileBlock(m).Attrs
	} else {
		return false, nil
	}
	delete(attrs, "size")
	if size != "" {
		attrs["size"] = size
	}
	if m != nil && b.Text == m.Name || m == nil && b.Text == markdown.UnknownFileLabel {
		// The label shown when there is no caption.
		b.Text, b.Marks = "", nil
	}
	b.Attrs = attrs
	return true, nil
}

// find gives the block whose attributes a reference to file hash takes:
// one of the page's (the first not taken yet, one named as the label
// first), else the vault's.
func (r *fileResolver) find(hash, label string) (*crdt.Block, error) {
	var pick *crdt.Block
	for _, cand := range r.page[hash] {
		if r.used[cand] {
			continue
		}
		if m, _ := ManifestOf(cand); m != nil && m.Name == label {
			pick = cand
			break
		}
		if pick == nil {
			pick = cand
		}
	}
	if pick == nil && len(r.page[hash]) > 0 {
		pick = r.page[hash][0] // the same file written twice
	}
	if pick != nil {
		r.used[pick] = true
		return pick, nil
	}
	if r.vault == nil {
		if err := r.readVault(); err != nil {
			return nil, err
		}
	}
	return r.vault[hash], nil
}

func (r *fileResolver) readVault() error {
	r.vault = map[string]*crdt.Block{}
	objs, err := r.e.List(r.ctx, ListOptions{All: true})
	if err != nil {
		return err
	}
	for _, o := range objs {
		walkBlocks(r.e.pageBlocks(r.ctx, o.ID), func(b *crdt.Block) {
			if m, err := ManifestOf(b); err == nil && m != nil && r.vault[m.ID()] == nil {
				r.vault[m.ID()] = b
			}
		})
	}
	return nil
}

// resolveMarkdownFiles resolves the file references of blocks parsed to
// be written into object id (zero: a new object) on top of version base
// (nil: the current one). The blocks of the version the person saw come
// first: a file block removed meanwhile on another device is still the
// block they wrote back, so the merge removes it cleanly instead of
// leaving its reference as text.
func (e *Engine) resolveMarkdownFiles(ctx context.Context, id change.ID, base []change.ID, blocks []*crdt.Block) error {
	if !hasFileRefs(blocks) {
		return nil
	}
	var page []*crdt.Block
	if id != (change.ID{}) {
		if len(base) > 0 {
			if doc, err := e.stateAt(ctx, id, base); err == nil {
				page = doc.Blocks()
			}
		}
		page = append(page, e.pageBlocks(ctx, id)...)
	}
	_, err := e.newFileResolver(ctx, page).resolveFiles(blocks)
	return err
}
