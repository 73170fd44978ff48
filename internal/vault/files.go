package vault

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"mycel/internal/change"
	"mycel/internal/chunkstore"
	"mycel/internal/crdt"
	"mycel/internal/files"
	"mycel/internal/store"
)

// FileAttr is the attribute of a file block that holds its manifest.
const FileAttr = "file"

// ErrMissingChunks wraps a file read that needs chunks this device does
// not hold yet.
var ErrMissingChunks = errors.New("file not on this device yet")

// Chunks is the vault's chunk folder (data folder/chunks), opened on first
// use.
func (e *Engine) Chunks() (*chunkstore.Store, error) {
	e.chunkOnce.Do(func() { e.chunkStore, e.chunkErr = chunkstore.Open(filepath.Join(e.dir, "chunks")) })
	return e.chunkStore, e.chunkErr
}

// FileKeys seal and open this vault's file chunks.
func (e *Engine) FileKeys() files.Keys { return files.NewKeys(e.vault.ReadKey) }

// StoreFileOptions say how a file is stored.
type StoreFileOptions struct {
	Name string // the file's name (folders are dropped)
	Type string // MIME type; empty: guessed from the name
	// Limit is the largest file accepted (0: files.DefaultMaxFile).
	Limit int64
	// Progress, when set, is told the bytes stored so far.
	Progress func(done int64)
}

// StoreFile cuts r into sealed chunks in the chunk folder and returns the
// file's manifest, for AddFileBlocks. Chunks stored already are not
// written again, so storing a file twice costs nothing more.
func (e *Engine) StoreFile(ctx context.Context, r io.Reader, opts StoreFileOptions) (*files.Manifest, error) {
	cs, err := e.Chunks()
	if err != nil {
		return nil, err
	}
	if opts.Limit > files.MaxFileLimit {
		return nil, fmt.Errorf("a file limit of %s is over the most mycel allows, %s", files.Bytes(opts.Limit), files.Bytes(files.MaxFileLimit))
	}
	k := e.FileKeys()
	var done atomic.Int64
	var progressMu sync.Mutex
	put := func(ref files.Ref, sealed []byte) error { // on several goroutines
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := cs.PutChecked(ref.Address, sealed); err != nil { // ref.Address was just computed from sealed
			return err
		}
		n := done.Add(int64(ref.Size))
		if opts.Progress != nil {
			progressMu.Lock()
			opts.Progress(n)
			progressMu.Unlock()
		}
		return nil
	}
	refs, size, hash, err := k.Split(r, opts.Limit, put)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", opts.Name, err)
	}
	return k.New(opts.Name, opts.Type, size, hash, refs, put)
}

// AddFileBlocks adds a file block for each manifest at the end of the
// page, in one edit. The change names the chunks in the clear (see seal).
func (e *Engine) AddFileBlocks(ctx context.Context, id change.ID, ms []*files.Manifest) (Result, error) {
	blocks := make([]*crdt.Block, len(ms))
	for i, m := range ms {
		blocks[i] = FileBlock(m)
	}
	return e.Edit(ctx, id, EditOptions{NewVersion: true}, func(t *crdt.Tx) error {
		t.AppendBlocks(blocks)
		return nil
	})
}

// FileBlock is the block that shows a file.
func FileBlock(m *files.Manifest) *crdt.Block {
	return &crdt.Block{Type: crdt.TypeFile, Attrs: map[string]string{FileAttr: base64.RawStdEncoding.EncodeToString(m.Marshal())}}
}

// ManifestOf reads the manifest of a file block (nil, nil for any other
// block).
func ManifestOf(b *crdt.Block) (*files.Manifest, error) {
	if b.Type != crdt.TypeFile {
		return nil, nil
	}
	return parseFileAttr(b.Attrs[FileAttr])
}

func parseFileAttr(v string) (*files.Manifest, error) {
	raw, err := base64.RawStdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("a file block whose manifest is not base64: %w", err)
	}
	return files.ParseManifest(raw)
}

// chunkRefs lists the chunks the file blocks that ops set reference: what
// a change shows the node in the clear, so that it pins, counts and keeps
// them. A large file's chunks are listed in its index chunk, which only
// the vault can read: they are read from it here (it is on this device
// whenever the file was stored or imported here), else the index alone is
// named. A manifest that does not parse references nothing (it shows as a
// damaged file block).
func (e *Engine) chunkRefs(ops []crdt.Op) [][32]byte {
	var out [][32]byte
	for i := range ops {
		if ops[i].Kind != crdt.OpSetAttr || ops[i].Key != FileAttr || ops[i].Unset {
			continue
		}
		m, err := parseFileAttr(ops[i].Value)
		if err != nil {
			continue
		}
		for _, a := range m.Addresses() {
			out = append(out, a)
		}
		if m.Index != nil {
			if cs, err := e.Chunks(); err == nil {
				if refs, err := e.FileKeys().Refs(m, cs.Get); err == nil {
					for _, r := range refs {
						out = append(out, r.Address)
					}
				}
			}
		}
	}
	return out
}

// File is a file block of a page.
type File struct {
	Object   change.ID
	Block    crdt.ID
	Manifest *files.Manifest
	// Err says why the block's manifest could not be read (Manifest nil).
	Err error
}

// Files lists the file blocks of a page, in page order.
func (e *Engine) Files(ctx context.Context, id change.ID) ([]File, error) {
	p, err := e.Page(ctx, id)
	if err != nil {
		return nil, err
	}
	return filesOf(id, p.Blocks), nil
}

func filesOf(id change.ID, blocks []*crdt.Block) []File {
	var out []File
	var walk func([]*crdt.Block)
	walk = func(bs []*crdt.Block) {
		for _, b := range bs {
			if b.Type == crdt.TypeFile {
				m, err := ManifestOf(b)
				out = append(out, File{Object: id, Block: b.ID, Manifest: m, Err: err})
			}
			walk(b.Children)
		}
	}
	walk(blocks)
	return out
}

// FindFile finds a file by its id (the hex SHA-256 of its bytes, or a
// prefix of 8 or more of it) in the vault's pages.
func (e *Engine) FindFile(ctx context.Context, prefix string) (File, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	if len(prefix) < 8 {
		return File{}, fmt.Errorf("a file id is 8 or more hex characters (from 'mycel files ls'), not %q", prefix)
	}
	objs, err := e.List(ctx, ListOptions{All: true})
	if err != nil {
		return File{}, err
	}
	var found []File
	seen := map[string]bool{}
	for _, o := range objs {
		fs, err := e.Files(ctx, o.ID)
		if err != nil {
			return File{}, err
		}
		for _, f := range fs {
			if f.Manifest != nil && strings.HasPrefix(f.Manifest.ID(), prefix) && !seen[f.Manifest.ID()] {
				seen[f.Manifest.ID()] = true
				found = append(found, f)
			}
		}
	}
	switch len(found) {
	case 0:
		return File{}, fmt.Errorf("no file %s in this vault ('mycel files ls' lists them)", prefix)
	case 1:
		return found[0], nil
	}
	return File{}, fmt.Errorf("%d files start with %s: type more of the id", len(found), prefix)
}

// FileHere says how much of a file this device holds.
type FileHere struct {
	Chunks, Have int    // chunks of the file; of them, stored here
	Bytes, Had   uint64 // the same in bytes of plaintext
	// Missing are the addresses not stored here (the index chunk alone
	// when a large file's list is not here yet).
	Missing []files.Address
	// MissingSizes are their sizes in plaintext, in the same order (a
	// fetch bounds what it holds in flight by them).
	MissingSizes []uint32
}

// Complete reports whether the whole file is here.
func (h FileHere) Complete() bool { return h.Have == h.Chunks }

// Here says which of a file's chunks this device holds.
func (e *Engine) Here(m *files.Manifest) (FileHere, error) {
	cs, err := e.Chunks()
	if err != nil {
		return FileHere{}, err
	}
	refs, err := e.FileKeys().Refs(m, cs.Get)
	if errors.Is(err, chunkstore.ErrNotFound) {
		return FileHere{Chunks: 1, Bytes: m.Size, Missing: []files.Address{m.Index.Address}, MissingSizes: []uint32{m.Index.Size}}, nil
	}
	if err != nil {
		return FileHere{}, err
	}
	h := FileHere{Chunks: len(refs), Bytes: m.Size}
	if m.Index != nil {
		h.Chunks++
		h.Have++
	}
	for _, r := range refs {
		if cs.Has(r.Address) {
			h.Have++
			h.Had += uint64(r.Size)
		} else {
			h.Missing = append(h.Missing, r.Address)
			h.MissingSizes = append(h.MissingSizes, r.Size)
		}
	}
	return h, nil
}

// ReadFile writes the file's bytes to w from the chunks here, checked
// against the manifest. A file not all here is ErrMissingChunks, saying how
// much is missing, before anything is written.
func (e *Engine) ReadFile(ctx context.Context, m *files.Manifest, w io.Writer) error {
	h, err := e.Here(m)
	if err != nil {
		return err
	}
	if !h.Complete() {
		return fmt.Errorf("%w: %s has %d of %d chunks here (%s of %s); a running 'mycel up' fetches the rest from the node or a device nearby",
			ErrMissingChunks, m.Name, h.Have, h.Chunks, files.Bytes(int64(h.Had)), files.Bytes(int64(m.Size)))
	}
	cs, _ := e.Chunks()
	k := e.FileKeys()
	refs, err := k.Refs(m, cs.Get)
	if err != nil {
		return err
	}
	return k.Join(w, refs, m.Hash, func(a files.Address) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return cs.Get(a)
	})
}

// ReferencedChunks lists every chunk the vault's stored changes name, by
// object (ascending within one): what this device must keep, and offers to
// others. It reads the store's index of references, written as each
// change is stored, so no change is decoded.
func (e *Engine) ReferencedChunks(ctx context.Context, f func(object change.ID, a files.Address) error) error {
	return e.db.View(ctx, func(tx store.Tx) error {
		objs, err := tx.ChangeObjects()
		if err != nil {
			return err
		}
		for _, o := range objs {
			cs, err := tx.ObjectChunks(o)
			if err != nil {
				return err
			}
			for _, a := range cs {
				if err := f(o, a); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// ChunksNotHeld lists, in pages of at most limit above after, the chunks
// the vault's changes reference that peer (a node) has not said it holds.
func (e *Engine) ChunksNotHeld(ctx context.Context, peer string, after files.Address, limit int) ([]files.Address, error) {
	var out []files.Address
	err := e.db.View(ctx, func(tx store.Tx) error {
		cs, err := tx.ChunksNotHeld(peer, after, limit)
		for _, c := range cs {
			out = append(out, c)
		}
		return err
	})
	return out, err
}

// ObjectChunks lists the chunks an object's changes reference.
func (e *Engine) ObjectChunks(ctx context.Context, object change.ID) ([]files.Address, error) {
	var out []files.Address
	err := e.db.View(ctx, func(tx store.Tx) error {
		cs, err := tx.ObjectChunks(object)
		for _, c := range cs {
			out = append(out, c)
		}
		return err
	})
	return out, err
}

// ChunkHeld says which of as peer said it holds.
func (e *Engine) ChunkHeld(ctx context.Context, peer string, as []files.Address) ([]bool, error) {
	var out []bool
	err := e.db.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ChunkHeld(peer, addrs(as))
		return err
	})
	return out, err
}

// SetChunkHeld records peer's word on chunks: held (it said they are
// durable there) or lost (it said they are missing).
func (e *Engine) SetChunkHeld(ctx context.Context, peer string, as []files.Address, held bool) error {
	if len(as) == 0 {
		return nil
	}
	return e.db.Update(ctx, func(tx store.Tx) error {
		if held {
			return tx.PutChunkHeld(peer, addrs(as))
		}
		return tx.DropChunkHeld(peer, addrs(as))
	})
}

func addrs(as []files.Address) [][32]byte {
	out := make([][32]byte, len(as))
	for i, a := range as {
		out[i] = a
	}
	return out
}
