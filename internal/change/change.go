// Package change is the change envelope: a signed, encrypted step of an
// object's history. It builds changes, parses and verifies them (id = SHA-256
// of the exact signed bytes, ed25519 signature by the author, structure and
// size limits) and seals and opens their payload. Whether the author is a
// member and the parents are known is for the caller, which has that context.
package change

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"mycel/internal/crdt"
	"mycel/internal/keys"
	"mycel/internal/pb"
)

// Limits on what a change may be. A change over them is rejected on arrival.
const (
	MaxSize    = 8 << 20 // bytes of a signed change; a snapshot of a very large page fits
	MaxParents = 256
	// MaxChunks bounds the file chunks one change references: a file at the
	// largest limit (16 GiB), cut at the smallest chunk size (256 KiB), is
	// 65,536 chunks and its list; 131,072 addresses are 4 MiB.
	MaxChunks = 1 << 17
)

const signContext = "mycel/change/v1\n"

// ID names a change: the SHA-256 of its signed bytes.
type ID [32]byte

// String is the lowercase hex form.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short is the 12-character prefix used in listings.
func (id ID) Short() string { return id.String()[:12] }

// ParseID reads the hex form.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%q is not a change or object id (64 hex characters)", s)
	}
	copy(id[:], b)
	return id, nil
}

// ParseIDs parses each of hex as ParseID does.
func ParseIDs(hex []string) ([]ID, error) {
	var out []ID
	for _, h := range hex {
		id, err := ParseID(h)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// ErrInvalid is wrapped by every rejection of a malformed or forged change.
var ErrInvalid = errors.New("invalid change")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Change is a parsed, verified change.
type Change struct {
	ID         ID
	Raw        []byte // exact signed bytes
	VaultID    keys.VaultID
	Object     ID // the object; for a root change, its own ID
	Parents    []ID
	Author     ed25519.PublicKey
	Lamport    uint64
	Time       time.Time
	Snapshot   bool
	NewVersion bool // history starts a new version at this change
	// SealedCounter says Lamport is the change's depth (one above its
	// parents') and its first operation counter is sealed in the payload
	// (Payload.Start): counter steps told a node how many characters each
	// edit typed. Changes written before it carry the counter as Lamport.
	SealedCounter bool
	KeyEpoch      uint32
	Nonce         []byte
	Ciphertext    []byte
	// Chunks are the addresses of the file chunks the change's new file
	// blocks reference (sorted, unique), in the clear for the node.
	Chunks [][32]byte
}

// IsRoot reports whether the change creates its object.
func (c *Change) IsRoot() bool { return c.Object == c.ID }

// NewRoot makes the change that creates an object. It carries no content
// (the object key derives from the object id, which is this change's hash),
// only the vault and a random nonce that makes the object unique.
func NewRoot(vault keys.VaultID, author ed25519.PrivateKey, at time.Time) (*Change, error) {
	nonce := make([]byte, keys.NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("new root: %w", err)
	}
	body := &pb.ChangeBody{
		VaultId:     vault[:],
		Author:      author.Public().(ed25519.PublicKey),
		TimestampMs: at.UnixMilli(),
		Nonce:       nonce,
	}
	return sign(body, author)
}

// Draft is a change to be sealed and signed.
type Draft struct {
	Object  ID
	Parents []ID
	// Lamport is the change's first operation counter.
	Lamport uint64
	// Depth, when set, is one above the greatest Lamport of the parents:
	// the change then shows Depth in the clear and seals Lamport in its
	// payload (SealedCounter).
	Depth    uint64
	Time     time.Time
	Snapshot bool
	// NewVersion makes history start a new version at this change.
	NewVersion bool
	Payload    *Payload
	// Chunks are the file chunks the change's new file blocks reference.
	Chunks [][32]byte
}

// New seals the draft's payload with the object key and signs it.
func New(d Draft, objectKey [32]byte, author ed25519.PrivateKey) (*Change, error) {
	if len(d.Parents) == 0 {
		return nil, errors.New("new change: a non-root change needs parents")
	}
	start := uint64(0)
	if d.Depth > 0 {
		start = d.Lamport
	}
	pt, err := d.Payload.marshal(author.Public().(ed25519.PublicKey), start)
	if err != nil {
		return nil, fmt.Errorf("new change: %w", err)
	}
	pub := author.Public().(ed25519.PublicKey)
	nonce, ct, err := keys.Seal(objectKey, pt, ad(d.Object, pub))
	if err != nil {
		return nil, err
	}
	parents := slices.Clone(d.Parents)
	slices.SortFunc(parents, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	parents = slices.Compact(parents)
	body := &pb.ChangeBody{
		ObjectId:    d.Object[:],
		Author:      pub,
		Lamport:     d.Lamport,
		TimestampMs: d.Time.UnixMilli(),
		Snapshot:    d.Snapshot,
		NewVersion:  d.NewVersion,
		Nonce:       nonce,
		Ciphertext:  ct,
	}
	if d.Depth > 0 {
		body.Lamport, body.SealedCounter = d.Depth, true
	}
	if len(d.Chunks) > MaxChunks {
		return nil, fmt.Errorf("new change: %d file chunks, over the limit of %d", len(d.Chunks), MaxChunks)
	}
	chunks := slices.Clone(d.Chunks)
	slices.SortFunc(chunks, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	for _, c := range slices.Compact(chunks) {
		body.Chunks = append(body.Chunks, c[:])
	}
	for _, p := range parents {
		body.Parents = append(body.Parents, p[:])
	}
	return sign(body, author)
}

// ad binds a payload to its object and author, so a ciphertext cannot be
// moved to another object or claimed by another device.
func ad(object ID, author ed25519.PublicKey) []byte {
	return append(append([]byte("mycel/payload/v1\n"), object[:]...), author...)
}

func sign(body *pb.ChangeBody, author ed25519.PrivateKey) (*Change, error) {
	b, err := pb.MarshalCanonical(body)
	if err != nil {
		return nil, fmt.Errorf("encode change: %w", err)
	}
	sig := ed25519.Sign(author, append([]byte(signContext), b...))
	raw, err := pb.MarshalCanonical(&pb.SignedChange{Body: b, Signature: sig})
	if err != nil {
		return nil, fmt.Errorf("encode change: %w", err)
	}
	// Decoded (every structural check) but its signature not checked
	// again: it was made just now with a key derived from its seed (no
	// device holds a key whose halves could disagree), and verifying it
	// was a sixth of the cost of a local write. Every change that arrives
	// is verified (Parse).
	return parse(raw, false)
}

// verifications counts signatures checked, for tests.
var verifications atomic.Int64

// Parse decodes and verifies a change: size, structure, signature. The id is
// computed from raw; ParseWithID also checks a claimed id.
func Parse(raw []byte) (*Change, error) {
	return parse(raw, true)
}

// Decode reads a change this store verified when it arrived: it checks the
// bytes still hash to id and decodes them, but skips the signature (the id
// is the hash of the very bytes whose signature was checked). Opening the
// payload still authenticates it.
func Decode(id ID, raw []byte) (*Change, error) {
	if got := ID(sha256.Sum256(raw)); got != id {
		return nil, invalid("stored bytes of %s hash to %s: the store is damaged", id.Short(), got.Short())
	}
	return parse(raw, false)
}

func parse(raw []byte, verify bool) (*Change, error) {
	return parseAs(sha256.Sum256(raw), raw, verify)
}

// parseAs parses raw, whose hash is id.
func parseAs(id ID, raw []byte, verify bool) (*Change, error) {
	e, err := decodeEnvelope(raw)
	if err != nil {
		return nil, err
	}
	if verify {
		verifications.Add(1)
		if len(e.sc.Signature) != ed25519.SignatureSize || !ed25519.Verify(e.body.Author, append([]byte(signContext), e.sc.Body...), e.sc.Signature) {
			return nil, e.badSignature()
		}
	}
	return e.check(id)
}

// envelope is a change's two layers decoded, its signature not checked
// yet: the checks before the signature's are decodeEnvelope, those after
// it check, so that a change checked alone (parse) and one checked with
// others (VerifyBatch) fail for the same reason.
type envelope struct {
	raw  []byte
	sc   pb.SignedChange
	body pb.ChangeBody
}

func decodeEnvelope(raw []byte) (*envelope, error) {
	if len(raw) > MaxSize {
		return nil, invalid("%d bytes, over the %d-byte limit", len(raw), MaxSize)
	}
	// Canonical encodings only: the id hashes raw, so a change that parsed
	// from more than one encoding would have more than one id.
	e := &envelope{raw: raw}
	if err := pb.UnmarshalCanonical(raw, &e.sc); err != nil {
		return nil, invalid("not a signed change: %v", err)
	}
	if err := pb.UnmarshalCanonical(e.sc.Body, &e.body); err != nil {
		return nil, invalid("body does not decode: %v", err)
	}
	if len(e.body.Author) != ed25519.PublicKeySize {
		return nil, invalid("author key is %d bytes, want %d", len(e.body.Author), ed25519.PublicKeySize)
	}
	return e, nil
}

func (e *envelope) badSignature() error {
	return invalid("signature does not verify for author %x", e.body.Author[:4])
}

// check makes the change of a decoded envelope (whose raw bytes hash to
// id), checking its fields.
func (e *envelope) check(id ID) (*Change, error) {
	raw, body := e.raw, &e.body
	c := &Change{
		ID:            id,
		Raw:           raw,
		Author:        ed25519.PublicKey(body.Author),
		Lamport:       body.Lamport,
		Time:          clampTime(body.TimestampMs),
		Snapshot:      body.Snapshot,
		NewVersion:    body.NewVersion,
		SealedCounter: body.SealedCounter,
		KeyEpoch:      body.KeyEpoch,
		Nonce:         body.Nonce,
		Ciphertext:    body.Ciphertext,
	}
	if len(body.Nonce) != keys.NonceSize {
		return nil, invalid("nonce is %d bytes, want %d", len(body.Nonce), keys.NonceSize)
	}
	if len(body.ObjectId) == 0 {
		// Root change.
		if len(body.VaultId) != len(c.VaultID) {
			return nil, invalid("root change without a vault id")
		}
		if len(body.Parents) != 0 || len(body.Ciphertext) != 0 || body.Snapshot || body.NewVersion || body.SealedCounter || len(body.Chunks) != 0 {
			return nil, invalid("root change with parents, content or snapshot flag")
		}
		copy(c.VaultID[:], body.VaultId)
		c.Object = c.ID
		return c, nil
	}
	if len(body.ObjectId) != len(c.Object) {
		return nil, invalid("object id is %d bytes, want %d", len(body.ObjectId), len(c.Object))
	}
	if len(body.VaultId) != 0 {
		return nil, invalid("vault id outside a root change")
	}
	copy(c.Object[:], body.ObjectId)
	if len(body.Parents) == 0 || len(body.Parents) > MaxParents {
		return nil, invalid("%d parents (a change has 1 to %d)", len(body.Parents), MaxParents)
	}
	for i, p := range body.Parents {
		if len(p) != len(ID{}) {
			return nil, invalid("parent %d is %d bytes", i, len(p))
		}
		if i > 0 && bytes.Compare(body.Parents[i-1], p) >= 0 {
			return nil, invalid("parents are not sorted and unique")
		}
		var id ID
		copy(id[:], p)
		if id == c.ID {
			return nil, invalid("change is its own parent")
		}
		c.Parents = append(c.Parents, id)
	}
	if c.Lamport == 0 {
		return nil, invalid("lamport counter is 0")
	}
	if len(body.Chunks) > MaxChunks {
		return nil, invalid("%d file chunks, over the limit of %d", len(body.Chunks), MaxChunks)
	}
	for i, a := range body.Chunks {
		if len(a) != 32 {
			return nil, invalid("file chunk address %d is %d bytes, want 32", i, len(a))
		}
		if i > 0 && bytes.Compare(body.Chunks[i-1], a) >= 0 {
			return nil, invalid("file chunk addresses are not sorted and unique")
		}
		c.Chunks = append(c.Chunks, [32]byte(a))
	}
	if c.Lamport > crdt.MaxCounter {
		return nil, invalid("lamport counter %d is over the limit of %d", c.Lamport, uint64(crdt.MaxCounter))
	}
	return c, nil
}

// Times a change can show. A change's time is what its author's clock
// said: it orders nothing that decides validity (see member), it is only
// shown and sorted. Out-of-range values (a clock at year 292278994, or
// before 1970) are clamped so that formatting them never fails; the engine
// further shows no received change as later than its arrival.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

func clampTime(ms int64) time.Time {
	switch {
	case ms < minTime.UnixMilli():
		return minTime
	case ms > maxTime.UnixMilli():
		return maxTime
	}
	return time.UnixMilli(ms).UTC()
}

// Verified is a change whose envelope was checked: its bytes hash to its
// id, its structure and sizes are within limits and its signature verifies
// for its author. Only this package makes one (Verify, VerifyBatch), so
// holding one is proof of the check, not a claim anyone can fill in; the
// zero value holds nothing.
type Verified struct{ c *Change }

// Verify parses raw as the change id and checks it (see ParseWithID).
func Verify(id ID, raw []byte) (Verified, error) {
	c, err := ParseWithID(id, raw)
	if err != nil {
		return Verified{}, err
	}
	return Verified{c}, nil
}

// Change is the verified change (nil for the zero Verified).
func (v Verified) Change() *Change { return v.c }

// ParseWithID parses raw and checks that it hashes to id.
func ParseWithID(id ID, raw []byte) (*Change, error) {
	if got := ID(sha256.Sum256(raw)); got != id {
		return nil, invalid("bytes hash to %s, not to the claimed id %s", got.Short(), id.Short())
	}
	return parseAs(id, raw, true)
}

// Open decrypts and decodes the payload.
func (c *Change) Open(objectKey [32]byte) (*Payload, error) {
	if c.IsRoot() {
		return &Payload{}, nil
	}
	pt, err := keys.Open(objectKey, c.Nonce, c.Ciphertext, ad(c.Object, c.Author))
	if err != nil {
		return nil, fmt.Errorf("%w: payload of %s: %v", ErrInvalid, c.ID.Short(), err)
	}
	p, err := unmarshalPayload(pt, c)
	if err != nil {
		return nil, fmt.Errorf("%w: payload of %s: %v", ErrInvalid, c.ID.Short(), err)
	}
	return p, nil
}
