// Package member is a vault's membership log: an append-only chain of
// records, each signed by the account key, that add, rename and remove
// devices. Devices and nodes check every change's author against it. Device
// names are sealed with a key from the vault read key, so a node storing the
// log learns the device keys but not their names.
package member

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"mycel/internal/keys"
	"mycel/internal/pb"
)

const signContext = "mycel/member/v1\n"

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

// Record is one verified entry.
type Record struct {
	Seq    uint64
	Kind   Kind
	Device ed25519.PublicKey
	Time   time.Time
	Raw    []byte
	Hash   [32]byte

	nameNonce, sealedName []byte
}

// Device is a device as the log currently describes it.
type Device struct {
	Key     ed25519.PublicKey
	Added   time.Time
	Removed bool

	nameNonce, sealedName []byte
}

// Name opens the device's sealed name.
func (d *Device) Name(readKey [32]byte) (string, error) {
	b, err := keys.Open(keys.NameKey(readKey), d.nameNonce, d.sealedName, d.Key)
	if err != nil {
		return "", fmt.Errorf("device name: %w", err)
	}
	return string(b), nil
}

// Log is a verified membership log.
type Log struct {
	Vault   keys.VaultID
	account ed25519.PublicKey
	records []*Record
	devices map[string]*Device
	order   []string
}

// NewLog returns an empty log for a vault; the first record appended must
// carry the account key whose hash is the vault id.
func NewLog(vault keys.VaultID) *Log {
	return &Log{Vault: vault, devices: map[string]*Device{}}
}

// Len is the number of records.
func (l *Log) Len() int { return len(l.records) }

// Records returns the records in order.
func (l *Log) Records() []*Record { return l.records }

// IsMember reports whether key is a current (added, not removed) device.
func (l *Log) IsMember(key ed25519.PublicKey) bool {
	d := l.devices[string(key)]
	return d != nil && !d.Removed
}

// Device returns what the log says of a device key.
func (l *Log) Device(key ed25519.PublicKey) (*Device, bool) {
	d, ok := l.devices[string(key)]
	return d, ok
}

// Devices lists every device ever added, in order of addition.
func (l *Log) Devices() []*Device {
	out := make([]*Device, len(l.order))
	for i, k := range l.order {
		out[i] = l.devices[k]
	}
	return out
}

// Next signs a new record for the end of the log. For Add and Rename, name
// is sealed.
func (l *Log) Next(v *keys.Vault, kind Kind, device ed25519.PublicKey, name string, at time.Time) ([]byte, error) {
	rec := &pb.MemberRecord{
		VaultId:     v.ID[:],
		Seq:         uint64(len(l.records) + 1),
		Kind:        kind,
		Device:      device,
		TimestampMs: at.UnixMilli(),
	}
	if len(l.records) == 0 {
		rec.Account = v.AccountPublic()
	} else {
		prev := l.records[len(l.records)-1].Hash
		rec.Prev = prev[:]
	}
	if kind == Add || kind == Rename {
		nonce, sealed, err := keys.Seal(keys.NameKey(v.ReadKey), []byte(name), device)
		if err != nil {
			return nil, err
		}
		rec.NameNonce, rec.SealedName = nonce, sealed
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(v.Account, append([]byte(signContext), body...))
	return proto.MarshalOptions{Deterministic: true}.Marshal(&pb.SignedRecord{Body: body, Signature: sig})
}

// Append verifies raw as the next record and adds it. On error the log is
// unchanged.
func (l *Log) Append(raw []byte) error {
	r, err := l.verify(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(l.records) == 0 {
		l.account = ed25519.PublicKey(mustAccount(raw))
	}
	l.records = append(l.records, r)
	key := string(r.Device)
	switch r.Kind {
	case Add:
		l.devices[key] = &Device{Key: r.Device, Added: r.Time, nameNonce: r.nameNonce, sealedName: r.sealedName}
		l.order = append(l.order, key)
	case Rename:
		d := l.devices[key]
		d.nameNonce, d.sealedName = r.nameNonce, r.sealedName
	case Remove:
		l.devices[key].Removed = true
	}
	return nil
}

func mustAccount(raw []byte) []byte {
	var sr pb.SignedRecord
	var rec pb.MemberRecord
	_ = proto.Unmarshal(raw, &sr)
	_ = proto.Unmarshal(sr.Body, &rec)
	return rec.Account
}

func (l *Log) verify(raw []byte) (*Record, error) {
	if len(raw) > MaxRecordSize {
		return nil, fmt.Errorf("%d bytes, over the %d-byte limit", len(raw), MaxRecordSize)
	}
	var sr pb.SignedRecord
	if err := proto.Unmarshal(raw, &sr); err != nil {
		return nil, fmt.Errorf("does not decode: %v", err)
	}
	var rec pb.MemberRecord
	if err := proto.Unmarshal(sr.Body, &rec); err != nil {
		return nil, fmt.Errorf("body does not decode: %v", err)
	}
	if string(rec.VaultId) != string(l.Vault[:]) {
		return nil, errors.New("record of another vault")
	}
	account := l.account
	if len(l.records) == 0 {
		if len(rec.Account) != ed25519.PublicKeySize || keys.VaultIDOf(rec.Account) != l.Vault {
			return nil, errors.New("first record does not carry the vault's account key")
		}
		account = rec.Account
		if len(rec.Prev) != 0 {
			return nil, errors.New("first record names a previous record")
		}
	} else {
		if len(rec.Account) != 0 {
			return nil, errors.New("account key outside the first record")
		}
		prev := l.records[len(l.records)-1].Hash
		if string(rec.Prev) != string(prev[:]) {
			return nil, errors.New("record does not follow the last one (previous hash differs)")
		}
	}
	if rec.Seq != uint64(len(l.records)+1) {
		return nil, fmt.Errorf("record %d where %d comes next", rec.Seq, len(l.records)+1)
	}
	if len(sr.Signature) != ed25519.SignatureSize || !ed25519.Verify(account, append([]byte(signContext), sr.Body...), sr.Signature) {
		return nil, errors.New("signature is not the account's")
	}
	if len(rec.Device) != ed25519.PublicKeySize {
		return nil, errors.New("device key has the wrong size")
	}
	d := l.devices[string(rec.Device)]
	switch rec.Kind {
	case Add:
		if d != nil {
			return nil, errors.New("device added twice")
		}
	case Rename, Remove:
		if d == nil || d.Removed {
			return nil, errors.New("record for a device that is not a member")
		}
	default:
		return nil, fmt.Errorf("unknown record kind %d", rec.Kind)
	}
	if (rec.Kind == Remove) != (len(rec.SealedName) == 0) || (len(rec.SealedName) > 0 && len(rec.NameNonce) != keys.NonceSize) {
		return nil, errors.New("device name missing or misplaced")
	}
	return &Record{
		Seq: rec.Seq, Kind: rec.Kind, Device: ed25519.PublicKey(rec.Device),
		Time: time.UnixMilli(rec.TimestampMs).UTC(), Raw: raw, Hash: sha256.Sum256(raw),
		nameNonce: rec.NameNonce, sealedName: rec.SealedName,
	}, nil
}
