package files

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"mycel/internal/pb"
)

// Limits on a manifest, checked whenever one is read (it comes from a
// change another device wrote).
const (
	// MaxFileLimit is the largest file limit that can be configured: its
	// chunk list, at the smallest chunk size, still fits one index chunk
	// and one change.
	MaxFileLimit = 16 << 30
	// maxInline chunks are listed in the manifest itself; a file of more
	// lists them in an index chunk, so a page's change stays small.
	maxInlineDefault = 4096
	maxName          = 1024
	maxType          = 255
)

// maxInline is maxInlineDefault but in tests of the index chunk.
var maxInline = maxInlineDefault

// SmallIndexForTests makes files of more than n chunks list them in an
// index chunk, until restore is called: for tests of large files that
// need not be gigabytes. Not safe while files are being made.
func SmallIndexForTests(n int) (restore func()) {
	old := maxInline
	maxInline = n
	return func() { maxInline = old }
}

// Manifest is a file as its page holds it.
type Manifest struct {
	Name   string // the file's name, without folders
	Type   string // MIME type
	Size   uint64
	Hash   [32]byte // WholeHash of the file: its id
	Chunks []Ref    // in order; empty when Index lists them
	Index  *Ref     // the chunk that lists the chunks of a large file
}

// ID is the file's id as people type it: its hash in hex.
func (m *Manifest) ID() string { return fmt.Sprintf("%x", m.Hash) }

// IsImage reports whether the file shows as an image.
func (m *Manifest) IsImage() bool { return strings.HasPrefix(m.Type, "image/") }

// TypeOf guesses the MIME type of a file by its name.
func TypeOf(name string) string {
	if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(name))); t != "" {
		return t
	}
	return "application/octet-stream"
}

// New makes the manifest of a file split into refs. A file of many chunks
// gets an index chunk, sealed with k and handed to put like the others.
func (k Keys) New(name, typ string, size uint64, hash [32]byte, refs []Ref, put func(Ref, []byte) error) (*Manifest, error) {
	m := &Manifest{Name: cleanName(name), Type: typ, Size: size, Hash: hash, Chunks: refs}
	if m.Type == "" {
		m.Type = TypeOf(m.Name)
	}
	if len(refs) > maxInline {
		b, err := pb.MarshalCanonical(&pb.FileChunkList{Chunks: toPB(refs)})
		if err != nil {
			return nil, err
		}
		if len(b) > MaxChunk {
			return nil, fmt.Errorf("%w: %d chunks are more than one file can list", ErrTooLarge, len(refs))
		}
		ref, sealed := k.Seal(nil, b)
		if err := put(ref, sealed); err != nil {
			return nil, err
		}
		m.Chunks, m.Index = nil, &ref
	}
	return m, nil
}

// cleanName keeps a file name's last element, valid UTF-8, bounded.
func cleanName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.ToValidUTF8(name, "_")
	if name == "." || name == "/" || name == "" {
		name = "file"
	}
	for len(name) > maxName {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	return name
}

// Addresses lists every chunk the manifest needs stored, the index first.
func (m *Manifest) Addresses() []Address {
	out := make([]Address, 0, len(m.Chunks)+1)
	if m.Index != nil {
		out = append(out, m.Index.Address)
	}
	for _, r := range m.Chunks {
		out = append(out, r.Address)
	}
	return out
}

// Marshal encodes the manifest.
func (m *Manifest) Marshal() []byte {
	p := &pb.FileManifest{Name: m.Name, Type: m.Type, Size: m.Size, Hash: m.Hash[:], Chunks: toPB(m.Chunks)}
	if m.Index != nil {
		p.Index = toPB([]Ref{*m.Index})[0]
	}
	b, err := pb.MarshalCanonical(p)
	if err != nil {
		panic(err) // a message built here always encodes
	}
	return b
}

// ParseManifest decodes and checks a manifest.
func ParseManifest(b []byte) (*Manifest, error) {
	var p pb.FileManifest
	if err := pb.UnmarshalCanonical(b, &p); err != nil {
		return nil, fmt.Errorf("file manifest does not decode: %w", err)
	}
	if len(p.Hash) != 32 {
		return nil, errors.New("file manifest without its file's hash")
	}
	if len(p.Name) > maxName || !utf8.ValidString(p.Name) || len(p.Type) > maxType || !utf8.ValidString(p.Type) {
		return nil, errors.New("file manifest with a name or type that is too long or not text")
	}
	if p.Size > MaxFileLimit {
		return nil, fmt.Errorf("file manifest of %d bytes, over the limit of %s", p.Size, Bytes(MaxFileLimit))
	}
	m := &Manifest{Name: p.Name, Type: p.Type, Size: p.Size, Hash: [32]byte(p.Hash)}
	var err error
	if m.Chunks, err = fromPB(p.Chunks, maxInline); err != nil {
		return nil, err
	}
	if p.Index != nil {
		if len(m.Chunks) > 0 {
			return nil, errors.New("file manifest with both a chunk list and an index")
		}
		ix, err := fromPB([]*pb.FileChunk{p.Index}, 1)
		if err != nil {
			return nil, err
		}
		m.Index = &ix[0]
	} else if err := checkList(m.Chunks, m.Size, m.Hash); err != nil {
		return nil, err
	}
	return m, nil
}

// Refs lists the file's chunks, reading its index chunk through get when
// it has one.
func (k Keys) Refs(m *Manifest, get func(Address) ([]byte, error)) ([]Ref, error) {
	if m.Index == nil {
		return m.Chunks, nil
	}
	sealed, err := get(m.Index.Address)
	if err != nil {
		return nil, err
	}
	b, err := k.Open(nil, *m.Index, sealed)
	if err != nil {
		return nil, err
	}
	var l pb.FileChunkList
	if err := pb.UnmarshalCanonical(b, &l); err != nil {
		return nil, fmt.Errorf("%w: the chunk list of %s does not decode", ErrDamaged, m.Name)
	}
	refs, err := fromPB(l.Chunks, MaxFileLimit/MinChunk+1)
	if err != nil {
		return nil, err
	}
	return refs, checkList(refs, m.Size, m.Hash)
}

// checkList: chunks that add up to the file's size and hash.
func checkList(refs []Ref, size uint64, hash [32]byte) error {
	var sum uint64
	for _, r := range refs {
		sum += uint64(r.Size)
	}
	if sum != size {
		return fmt.Errorf("file manifest of %d bytes lists chunks of %d", size, sum)
	}
	if WholeHash(size, refs) != hash {
		return fmt.Errorf("%w: a file's chunk list does not match its hash", ErrDamaged)
	}
	return nil
}

func toPB(refs []Ref) []*pb.FileChunk {
	out := make([]*pb.FileChunk, len(refs))
	for i, r := range refs {
		out[i] = &pb.FileChunk{Address: r.Address[:], Hash: r.Hash[:], Size: r.Size}
	}
	return out
}

func fromPB(cs []*pb.FileChunk, max int) ([]Ref, error) {
	if len(cs) > max {
		return nil, fmt.Errorf("file manifest lists %d chunks, over %d", len(cs), max)
	}
	out := make([]Ref, len(cs))
	for i, c := range cs {
		if len(c.Address) != 32 || len(c.Hash) != 32 || c.Size == 0 || c.Size > MaxChunk {
			return nil, fmt.Errorf("file manifest with a malformed chunk (%d)", i)
		}
		out[i] = Ref{Address: Address(c.Address), Hash: [32]byte(c.Hash), Size: c.Size}
	}
	return out, nil
}

// Join writes the file refs make to w, reading each sealed chunk through
// get, and checks the whole against hash: a file is never handed out
// partly or wrong without an error.
func (k Keys) Join(w io.Writer, refs []Ref, hash [32]byte, get func(Address) ([]byte, error)) error {
	// The list is checked against the file's hash before a byte is
	// written, each chunk against its hash as it is opened.
	var size uint64
	for _, r := range refs {
		size += uint64(r.Size)
	}
	if WholeHash(size, refs) != hash {
		return fmt.Errorf("%w: the file's chunk list does not match its manifest", ErrDamaged)
	}
	var buf []byte
	for _, r := range refs {
		sealed, err := get(r.Address)
		if err != nil {
			return err
		}
		if buf, err = k.Open(buf[:0], r, sealed); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}
