package node

import (
	"bytes"
	"crypto/sha256"
	"sync"

	"google.golang.org/protobuf/proto"

	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/pb"
)

// maxProofTries bounds the signatures checked to find, among a Hello's
// records, the one adding the device that sent it.
const maxProofTries = 4

// proofCacheSize bounds the records remembered as proofs (a few hundred
// bytes each).
const proofCacheSize = 1 << 14

// Proves reports whether records prove that device is a member of vault
// id: they hold a record adding it, signed by the vault's account. Every
// device's Hello carries its own record, so a Hello without one comes from
// a stranger (or a device of another vault): it is answered ErrNotServed
// before the node looks at whether the vault is registered, with the same
// work either way, so neither the answer nor its time tells a stranger
// which vaults the node holds. A record that proved once is remembered:
// a device reconnecting costs a hash, not a signature check.
//
// This only picks the device's own records out (they are decoded here,
// never trusted): member.Log verifies them, and the vault's log decides
// membership (a removed device passes this and is refused after).
func (n *Node) proves(id keys.VaultID, device []byte, records [][]byte) bool {
	if checkRecordCount(len(records)) != nil {
		return false
	}
	hashes := make([][32]byte, len(records))
	for i, r := range records {
		hashes[i] = sha256.Sum256(r)
		if n.proof.has(hashes[i], id, device) {
			return true
		}
	}
	tries := 0
	for i, r := range records {
		if tries == maxProofTries {
			return false
		}
		if !addsDevice(r, id, device) {
			continue
		}
		tries++
		if member.NewLog(id).Add(r) == nil {
			n.proof.put(hashes[i], id, device)
			return true
		}
	}
	return false
}

// addsDevice reports whether raw decodes as a record adding device to
// vault id (not whether it is signed: member.Log checks that).
func addsDevice(raw []byte, id keys.VaultID, device []byte) bool {
	if len(raw) > member.MaxRecordSize {
		return false
	}
	var sr pb.SignedRecord
	var rec pb.MemberRecord
	if proto.Unmarshal(raw, &sr) != nil || proto.Unmarshal(sr.Body, &rec) != nil {
		return false
	}
	return rec.Kind == member.Add && bytes.Equal(rec.Device, device) &&
		len(rec.Account) == 32 && keys.VaultIDOf(rec.Account) == id
}

// proofCache remembers records that proved a device a member of a vault.
type proofCache struct {
	mu sync.Mutex
	m  map[[32]byte]proofOf
}

type proofOf struct {
	vault  keys.VaultID
	device [32]byte
}

func newProofCache() *proofCache { return &proofCache{m: map[[32]byte]proofOf{}} }

func (c *proofCache) has(h [32]byte, id keys.VaultID, device []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[h]
	return ok && p.vault == id && bytes.Equal(p.device[:], device)
}

func (c *proofCache) put(h [32]byte, id keys.VaultID, device []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= proofCacheSize {
		clear(c.m) // simple and bounded; the devices that reconnect refill it
	}
	p := proofOf{vault: id}
	copy(p.device[:], device)
	c.m[h] = p
}
