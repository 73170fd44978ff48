// Package member is a vault's membership log: a grow-only set of statements
// signed by the account key that add, rename and remove devices. Its state
// is a function of the set (a device is a member once added and until
// removed; its name is the latest by time, then hash), so devices that add
// records offline merge without conflict. Devices and nodes check every
// change's author against it. Names are sealed with a key from the vault read
// key: a node storing the log sees device keys, never names.
package member

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"mycel/internal/keys"
	"mycel/internal/pb"
)

const signContext = "mycel/member/v1\n"

// maxTimeMs is the last millisecond of year 9999.
var maxTimeMs = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()

// MaxRecordSize bounds one signed record.
const MaxRecordSize = 4096

// ErrInvalid is wrapped by every rejected record.
var ErrInvalid = errors.New("invalid membership record")

// Kind is what a record does.
type Kind = pb.MemberRecord_Kind

// Record kinds.
const (
	Add    = pb.MemberRecord_ADD_DEVICE
	Rename = pb.MemberRecord_RENAME_DEVICE
	Remove = pb.MemberRecord_REMOVE_DEVICE
)

// Record is one verified statement.
type Record struct {
	Kind   Kind
	Device ed25519.PublicKey
	Time   time.Time
	Raw    []byte
	Hash   [32]byte

	nameNonce, sealedName []byte
}

// later orders records for last-writer-wins: by time, then hash.
func (r *Record) later(o *Record) bool {
	if !r.Time.Equal(o.Time) {
		return r.Time.After(o.Time)
	}
	return bytes.Compare(r.Hash[:], o.Hash[:]) > 0
}

// Device is a device as the log describes it.
type Device struct {
	Key     ed25519.PublicKey
	Added   time.Time
	Removed *time.Time // when removed, if it was

	name *Record // the Add or Rename whose name wins
}

// Name opens the device's sealed name.
func (d *Device) Name(readKey [32]byte) (string, error) {
	if d.name == nil {
		return "", errors.New("device name: no name recorded")
	}
	b, err := keys.Open(keys.NameKey(readKey), d.name.nameNonce, d.name.sealedName, d.Key)
	if err != nil {
		return "", fmt.Errorf("device name: %w", err)
	}
	return string(bytes.TrimRight(b, "\x00")), nil
}

// NamedAt is the time of the record whose name wins (zero if none): a
// rename dated no later than it would not take effect.
func (d *Device) NamedAt() time.Time {
	if d.name == nil {
		return time.Time{}
	}
	return d.name.Time
}

// nameBlock is what a sealed name's length is a multiple of: a node
// storing the log sees 32 or 64 bytes, not how long a device's name is.
const nameBlock = 32

// padName is name with zero bytes up to a multiple of nameBlock (names
// have no zero bytes of their own: Name trims them).
func padName(name string) []byte {
	n := max(nameBlock, (len(name)+nameBlock-1)/nameBlock*nameBlock)
	b := make([]byte, n)
	copy(b, name)
	return b
}

// Log is the verified membership of one vault.
type Log struct {
	Vault   keys.VaultID
	seen    map[[32]byte]bool
	records []*Record
	devices map[string]*Device
	order   []string
}

// NewLog returns an empty log for a vault.
func NewLog(vault keys.VaultID) *Log {
	return &Log{Vault: vault, seen: map[[32]byte]bool{}, devices: map[string]*Device{}}
}

// Clone returns a copy that later Adds do not share.
func (l *Log) Clone() *Log {
	c := &Log{Vault: l.Vault, seen: make(map[[32]byte]bool, len(l.seen)), records: slices.Clone(l.records),
		devices: make(map[string]*Device, len(l.devices)), order: slices.Clone(l.order)}
	for k, v := range l.seen {
		c.seen[k] = v
	}
	for k, d := range l.devices {
		dc := *d
		c.devices[k] = &dc
	}
	return c
}

// MaxRecords bounds a vault's log: adds, renames and removals of devices
// are few, and every Hello carries the log, so a log of 60,000 valid
// records (any device can sign them) would cost whoever checks it seconds
// of CPU per connection.
const MaxRecords = 4096

// Has reports whether the record with these bytes is in the log: a record
// seen before needs no second signature check.
func (l *Log) Has(raw []byte) bool { return l.seen[sha256.Sum256(raw)] }

// Len is the number of records.
func (l *Log) Len() int { return len(l.records) }

// Records returns the records in the order they were added.
func (l *Log) Records() []*Record { return l.records }

// IsMember reports whether key is a device that was added and not removed.
func (l *Log) IsMember(key ed25519.PublicKey) bool {
	d := l.devices[string(key)]
	return d != nil && !d.Added.IsZero() && d.Removed == nil
}

// MayAuthor reports whether key authors changes of the vault: a device the
// log ever added, removed since or not.
//
// A removal does not reach back into history. It used to void the changes
// a device dated after the removal's time, but both times are their
// authors' claims: any member could sign a removal dated 1970 and wipe a
// device's whole history on every new replica. What a removal does now is
// keep the device out: no node or device accepts a connection from it
// (IsMember), so its later changes have no way in but through a replica
// that took them before it learned of the removal, and those every replica
// keeps alike. (Refusing a removed device's later changes by a rule it
// cannot game, with key epochs so it cannot read them either, is the
// device-removal design of docs/security.md.)
func (l *Log) MayAuthor(key ed25519.PublicKey) bool {
	d := l.devices[string(key)]
	return d != nil && !d.Added.IsZero()
}

// Device returns what the log says of a device key.
func (l *Log) Device(key ed25519.PublicKey) (*Device, bool) {
	d, ok := l.devices[string(key)]
	return d, ok && !d.Added.IsZero()
}

// Devices lists the devices ever added, in the order their first record came.
func (l *Log) Devices() []*Device {
	var out []*Device
	for _, k := range l.order {
		if d := l.devices[k]; !d.Added.IsZero() {
			out = append(out, d)
		}
	}
	return out
}

// NewRecord signs a statement. For Add and Rename, name is sealed.
func NewRecord(v *keys.Vault, kind Kind, device ed25519.PublicKey, name string, at time.Time) ([]byte, error) {
	rec := &pb.MemberRecord{Account: v.AccountPublic(), Kind: kind, Device: device, TimestampMs: at.UnixMilli()}
	if kind == Add || kind == Rename {
		nonce, sealed, err := keys.Seal(keys.NameKey(v.ReadKey), padName(name), device)
		if err != nil {
			return nil, err
		}
		rec.NameNonce, rec.SealedName = nonce, sealed
	}
	body, err := pb.MarshalCanonical(rec)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(v.Account, append([]byte(signContext), body...))
	return pb.MarshalCanonical(&pb.SignedRecord{Body: body, Signature: sig})
}

// Add verifies a record and adds it to the set; a record already there is
// accepted again without effect. On error the log is unchanged.
func (l *Log) Add(raw []byte) error {
	r, err := l.verify(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if l.seen[r.Hash] {
		return nil
	}
	l.seen[r.Hash] = true
	l.records = append(l.records, r)
	key := string(r.Device)
	d := l.devices[key]
	if d == nil {
		d = &Device{Key: r.Device}
		l.devices[key] = d
		l.order = append(l.order, key)
	}
	switch r.Kind {
	case Add:
		if d.Added.IsZero() || r.Time.Before(d.Added) {
			d.Added = r.Time
		}
		fallthrough
	case Rename:
		if d.name == nil || r.later(d.name) {
			d.name = r
		}
	case Remove:
		if d.Removed == nil || r.Time.Before(*d.Removed) {
			t := r.Time
			d.Removed = &t
		}
	}
	return nil
}

func (l *Log) verify(raw []byte) (*Record, error) {
	if len(raw) > MaxRecordSize {
		return nil, fmt.Errorf("%d bytes, over the %d-byte limit", len(raw), MaxRecordSize)
	}
	// Canonical encodings only: a record is known by the hash of its bytes.
	var sr pb.SignedRecord
	if err := pb.UnmarshalCanonical(raw, &sr); err != nil {
		return nil, fmt.Errorf("does not decode: %v", err)
	}
	var rec pb.MemberRecord
	if err := pb.UnmarshalCanonical(sr.Body, &rec); err != nil {
		return nil, fmt.Errorf("body does not decode: %v", err)
	}
	if len(rec.Account) != ed25519.PublicKeySize || keys.VaultIDOf(rec.Account) != l.Vault {
		return nil, errors.New("signed by the account of another vault")
	}
	if len(sr.Signature) != ed25519.SignatureSize || !ed25519.Verify(rec.Account, append([]byte(signContext), sr.Body...), sr.Signature) {
		return nil, errors.New("signature is not the account's")
	}
	if len(rec.Device) != ed25519.PublicKeySize {
		return nil, errors.New("device key has the wrong size")
	}
	switch rec.Kind {
	case Add, Rename, Remove:
	default:
		return nil, fmt.Errorf("unknown record kind %d", rec.Kind)
	}
	// Times are the signer's claims; outside 1970–9999 they are refused,
	// not read: year 1 is Go's zero time, which the log takes as "never
	// added", and an Add dated so made a device a member or not
	// depending on which record came first.
	if rec.TimestampMs < 0 || rec.TimestampMs > maxTimeMs {
		return nil, fmt.Errorf("its time (%d ms since 1970) is outside the years 1970 to 9999", rec.TimestampMs)
	}
	if (rec.Kind == Remove) != (len(rec.SealedName) == 0) || (len(rec.SealedName) > 0 && len(rec.NameNonce) != keys.NonceSize) {
		return nil, errors.New("device name missing or misplaced")
	}
	return &Record{
		Kind: rec.Kind, Device: ed25519.PublicKey(rec.Device),
		Time: time.UnixMilli(rec.TimestampMs).UTC(), Raw: raw, Hash: sha256.Sum256(raw),
		nameNonce: rec.NameNonce, sealedName: rec.SealedName,
	}, nil
}
