// Package node is a backup node's store of vaults. A node keeps, for each
// vault registered with it, the membership log and the changes, as exact
// bytes, in a store of its own. It verifies every change as far as it can
// without keys (id, signature, author a member device, parents present,
// else parked) and can never read content: it holds no key.
package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
)

// ErrNotRegistered is returned for a vault this node does not store.
var ErrNotRegistered = errors.New("vault not registered on this node")

// Node is the set of vaults a node stores.
type Node struct {
	dir    string
	mu     sync.Mutex
	vaults map[keys.VaultID]*Vault
}

// Open opens the node's data folder, creating it if needed, and every
// vault registered in it.
func Open(dir string) (*Node, error) {
	root := filepath.Join(dir, "vaults")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("open node: %w", err)
	}
	n := &Node{dir: dir, vaults: map[keys.VaultID]*Vault{}}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		b, err := hex.DecodeString(e.Name())
		if err != nil || len(b) != 32 {
			continue
		}
		var id keys.VaultID
		copy(id[:], b)
		v, err := openVault(filepath.Join(root, e.Name()), id)
		if err != nil {
			n.Close()
			return nil, err
		}
		n.vaults[id] = v
	}
	return n, nil
}

// Close closes every vault's store.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var first error
	for _, v := range n.vaults {
		if err := v.db.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Vault returns a registered vault.
func (n *Node) Vault(id keys.VaultID) (*Vault, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	v := n.vaults[id]
	if v == nil {
		return nil, fmt.Errorf("%w: %s (a device registers it with `mycel nodes add`)", ErrNotRegistered, id.Short())
	}
	return v, nil
}

// Vaults counts the registered vaults.
func (n *Node) Vaults() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.vaults)
}

// Register stores a vault, given its membership records; device must be a
// member (the caller has authenticated it as its peer). Registering again
// only adds records.
func (n *Node) Register(ctx context.Context, id keys.VaultID, device []byte, records [][]byte) (*Vault, error) {
	l := member.NewLog(id)
	for _, r := range records {
		if err := l.Add(r); err != nil {
			return nil, err
		}
	}
	if !l.IsMember(device) {
		return nil, fmt.Errorf("device %x is not a member of vault %s", device[:6], id.Short())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	v := n.vaults[id]
	if v == nil {
		var err error
		if v, err = openVault(filepath.Join(n.dir, "vaults", hex.EncodeToString(id[:])), id); err != nil {
			return nil, err
		}
		n.vaults[id] = v
	}
	return v, v.AddMembers(ctx, records)
}

// Vault is one vault on the node.
type Vault struct {
	ID keys.VaultID
	db store.Store

	mu      sync.Mutex
	members *member.Log
}

func openVault(dir string, id keys.VaultID) (*Vault, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := sqlite.Open(filepath.Join(dir, "mycel.db"))
	if err != nil {
		return nil, err
	}
	v := &Vault{ID: id, db: db, members: member.NewLog(id)}
	err = db.View(context.Background(), func(tx store.Tx) error {
		raws, err := tx.MemberRecords()
		for _, r := range raws {
			if err := v.members.Add(r); err != nil {
				return err
			}
		}
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open vault %s: %w", id.Short(), err)
	}
	return v, nil
}

// Store is the vault's store.
func (v *Vault) Store() store.Store { return v.db }

// AddMembers verifies and stores membership records.
func (v *Vault) AddMembers(ctx context.Context, records [][]byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	l := v.members.Clone()
	for _, r := range records {
		if err := l.Add(r); err != nil {
			return err
		}
	}
	err := v.db.Update(ctx, func(tx store.Tx) error {
		for _, r := range records {
			if err := tx.PutMemberRecord(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		v.members = l
	}
	return err
}

// IsMember reports whether a device key belongs to the vault now.
func (v *Vault) IsMember(device []byte) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.members.IsMember(device)
}

// MemberRecords returns the stored membership records.
func (v *Vault) MemberRecords() [][]byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out [][]byte
	for _, r := range v.members.Records() {
		out = append(out, r.Raw)
	}
	return out
}

// Outcome of Receive, as in the device engine.
type Outcome = admit.Outcome

// Outcomes.
const (
	Stored    = admit.Stored
	Duplicate = admit.Stale
	Parked    = admit.Waiting
)

// ErrRejected is wrapped by every refused change.
var ErrRejected = admit.ErrRejected

// Receive verifies a change's envelope and stores it (or parks it until its
// parents arrive). Once it returns, the change is durable: that is what the
// node's acknowledgement means.
func (v *Vault) Receive(ctx context.Context, id change.ID, raw []byte) (Outcome, error) {
	outs, errs, err := v.ReceiveBatch(ctx, []Incoming{{ID: id, Raw: raw}})
	if err != nil {
		return 0, err
	}
	return outs[0], errs[0]
}

// Incoming is a change to receive.
type Incoming = admit.Incoming

// ReceiveBatch receives changes in one transaction, through the pipeline
// every store shares (package admit); errs[i] says why change i was
// refused, err is a storage error (and then nothing is stored).
func (v *Vault) ReceiveBatch(ctx context.Context, in []Incoming) (outs []Outcome, errs []error, err error) {
	v.mu.Lock()
	l := v.members
	v.mu.Unlock()
	err = v.db.Update(ctx, func(tx store.Tx) (err error) {
		outs, errs, err = admit.Receive(tx, v.ID, l, keeper{}, in)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return outs, errs, nil
}

// keeper is a node's admit.Applier: it cannot read a change, so it only
// keeps it (and an index row for each object, which lists it).
type keeper struct{}

func (keeper) Apply(store.Tx, *change.Change, bool) (bool, error) { return false, nil }

func (keeper) Stored(tx store.Tx, c *change.Change, _ int64) error {
	if c.IsRoot() {
		return tx.PutObject(store.Object{ID: c.ID, Created: c.Time, Updated: c.Time, Changes: 1})
	}
	return nil
}

func (keeper) Finish(store.Tx, map[change.ID][]change.ID) error { return nil }
