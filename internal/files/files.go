// Package files cuts a file into sealed, content-addressed chunks and puts
// it back together. It does no I/O of its own: bytes come from a reader and
// go to the caller's functions, so the engine, the node and tests store
// chunks wherever they like.
//
// A file is cut where its content says (content-defined chunking: keyed
// JC, a FastCDC variant, 256 KiB to 8 MiB, ~1 MiB on average), so an edit
// in a large file changes the chunks around it only. Each chunk is sealed
// with XChaCha20-Poly1305 under a key derived from the vault's chunk key
// and the SHA-256 of its plaintext: the same bytes seal to the same chunk
// within a vault (stored once), and to unrelated ones in any other vault,
// so nobody can confirm that a vault holds a known file. The cut points are
// keyed by the vault too, so the sizes of a known file's chunks do not give
// it away either. A chunk's address is the SHA-256 of its sealed bytes:
// anyone (the node) can check a chunk against its address, and only the
// vault can open it.
package files

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"

	"mycel/internal/keys"
)

// Chunk sizes. The bounds are part of the format: the same file cuts alike
// on every device only while they stay.
const (
	MinChunk = 256 << 10
	AvgChunk = 1 << 20
	MaxChunk = 8 << 20
	// Overhead is what sealing adds to a chunk (the Poly1305 tag).
	Overhead = chacha20poly1305.Overhead
	// MaxSealed is the largest sealed chunk.
	MaxSealed = MaxChunk + Overhead
)

// DefaultMaxFile is the largest file added unless configured otherwise.
const DefaultMaxFile = 4 << 30

// Address names a sealed chunk: the SHA-256 of its bytes.
type Address [32]byte

// AddressOf is the address of sealed bytes.
func AddressOf(sealed []byte) Address { return sha256.Sum256(sealed) }

func (a Address) String() string { return hex.EncodeToString(a[:]) }

// Short is the first 12 hex characters, for messages.
func (a Address) Short() string { return a.String()[:12] }

// ParseAddress reads an address written by String.
func ParseAddress(s string) (Address, error) {
	var a Address
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(a) {
		return a, fmt.Errorf("%q is not a chunk address (64 hex characters)", s)
	}
	copy(a[:], b)
	return a, nil
}

// Ref is one chunk of a file, as its manifest lists it.
type Ref struct {
	Address Address  // of the sealed chunk
	Hash    [32]byte // SHA-256 of the plaintext: derives the chunk's key
	Size    uint32   // bytes of plaintext
}

// Keys seal and open the chunks of one vault.
type Keys struct {
	seal [32]byte
	cut  []byte
}

// NewKeys derives a vault's chunk keys from its read key.
func NewKeys(readKey [32]byte) Keys {
	cut := keys.ChunkCutKey(readKey)
	return Keys{seal: keys.ChunkKey(readKey), cut: cut[:]}
}

// ErrDamaged is wrapped when a chunk does not match what names it.
var ErrDamaged = errors.New("damaged chunk")

// chunkAD binds a sealed chunk to its purpose: the same key could not open
// anything else mycel seals.
var chunkAD = []byte("mycel/file-chunk/v1")

// key is the key of a chunk whose plaintext hashes to h. Each key seals one
// plaintext only (the same every time), so a fixed nonce is safe.
func (k Keys) key(h [32]byte) []byte {
	b, err := hkdf.Key(sha256.New, k.seal[:], h[:], "mycel/v1/file-chunk", chacha20poly1305.KeySize)
	if err != nil {
		panic(err) // only for lengths out of range
	}
	return b
}

var zeroNonce = make([]byte, chacha20poly1305.NonceSizeX)

// Seal seals one chunk's plaintext, appending to dst. plain[:0] as dst
// seals it in place (its hash is taken first), so that a chunk needs one
// buffer, not two.
func (k Keys) Seal(dst, plain []byte) (Ref, []byte) {
	if len(plain) > MaxChunk {
		panic(fmt.Sprintf("files: chunk of %d bytes, over %d", len(plain), MaxChunk))
	}
	h := sha256.Sum256(plain)
	aead, err := chacha20poly1305.NewX(k.key(h))
	if err != nil {
		panic(err)
	}
	start := len(dst)
	dst = aead.Seal(dst, zeroNonce, plain, chunkAD)
	return Ref{Address: AddressOf(dst[start:]), Hash: h, Size: uint32(len(plain))}, dst
}

// Open checks sealed against ref (its address, then its plaintext's hash
// and size) and returns the plaintext, appended to dst.
func (k Keys) Open(dst []byte, ref Ref, sealed []byte) ([]byte, error) {
	if AddressOf(sealed) != ref.Address {
		return nil, fmt.Errorf("%w: chunk %s: its bytes hash to another address", ErrDamaged, ref.Address.Short())
	}
	if len(sealed) != int(ref.Size)+Overhead {
		return nil, fmt.Errorf("%w: chunk %s: %d bytes sealed for %d of plaintext", ErrDamaged, ref.Address.Short(), len(sealed), ref.Size)
	}
	aead, err := chacha20poly1305.NewX(k.key(ref.Hash))
	if err != nil {
		panic(err)
	}
	start := len(dst)
	out, err := aead.Open(dst, zeroNonce, sealed, chunkAD)
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %s does not open with this vault's key", ErrDamaged, ref.Address.Short())
	}
	if h := sha256.Sum256(out[start:]); !bytes.Equal(h[:], ref.Hash[:]) {
		return nil, fmt.Errorf("%w: chunk %s opens to other bytes than its manifest names", ErrDamaged, ref.Address.Short())
	}
	return out, nil
}
