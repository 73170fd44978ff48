// Package node is a backup node's store of vaults. A node keeps, for each
// vault registered with it, the membership log and the changes, as exact
// bytes, in a store of its own. It verifies every change as far as it can
// without keys (id, signature, author a member device, parents present,
// else parked) and can never read content: it holds no key.
//
// A node must stay up whatever strangers and members send it (issue 10):
// registering new vaults is limited (see Options and registrar), a vault's
// store is open only while something uses it (so a node starts, and runs,
// whatever number of vaults its folder holds), membership records are
// bounded per vault and verified once, and a stranger gets the same answer
// whether or not a vault is registered.
package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"mycel/internal/files"
	"mycel/internal/keys"
)

// ErrNotRegistered is returned for a vault this node does not store, to a
// device proven a member of it (a stranger gets ErrNotServed).
var ErrNotRegistered = errors.New("vault not registered on this node")

// ErrNotServed is the one answer to a device that did not prove it is a
// member of the vault it names: the same whether or not the vault is
// registered here, so that a stranger learns nothing of which vaults a
// node holds.
var ErrNotServed = errors.New("this node serves the vault only to its member devices: this device is not one, or the vault is not registered here")

var errClosed = errors.New("the node is shutting down")

// Node is the set of vaults a node stores. Only the list of registered
// vaults is kept in memory; a vault's store is opened on first use and
// closed when its last user releases it (see acquire and release).
type Node struct {
	dir   string
	opts  Options
	reg   *registrar
	proof *proofCache

	regMu sync.Mutex // serializes registrations, so the vault count is exact

	mu     sync.Mutex
	known  map[keys.VaultID]bool // registered: a folder under vaults/
	open   map[keys.VaultID]*opened
	closed bool
	sweep  sweepState // gc.go
}

// opened is a vault whose store is open, with how many users hold it.
type opened struct {
	v     *Vault
	err   error
	refs  int
	ready chan struct{} // closed once the open finished (v or err set)
	// closing is closed once the store, released by its last user, is
	// closed: an acquire meanwhile waits for it, then opens it again.
	closing chan struct{}
}

// Open opens the node's data folder, creating it if needed, with the
// default options.
func Open(dir string) (*Node, error) { return OpenWith(dir, Options{}) }

// OpenWith opens the node's data folder, creating it if needed. It lists
// the registered vaults and opens none of their stores: a start costs the
// same whatever number of vaults the folder holds.
func OpenWith(dir string, opts Options) (*Node, error) {
	opts = opts.withDefaults()
	if err := opts.check(); err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "vaults")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("open node: %w", err)
	}
	n := &Node{dir: dir, opts: opts, reg: newRegistrar(opts), proof: newProofCache(),
		known: map[keys.VaultID]bool{}, open: map[keys.VaultID]*opened{},
		sweep: sweepState{cursor: map[keys.VaultID]files.Address{}, rest: map[keys.VaultID]time.Time{}}}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if id, ok := parseVaultDir(e.Name()); ok && e.IsDir() {
			n.known[id] = true
		}
	}
	return n, nil
}

func parseVaultDir(name string) (keys.VaultID, bool) {
	var id keys.VaultID
	b, err := hex.DecodeString(name)
	if err != nil || len(b) != len(id) {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

func (n *Node) vaultDir(id keys.VaultID) string {
	return filepath.Join(n.dir, "vaults", hex.EncodeToString(id[:]))
}

// Close closes every open vault's store. The node's server must be
// closed first (nothing may use a vault after).
func (n *Node) Close() error {
	n.mu.Lock()
	n.closed = true
	all := n.open
	n.open = map[keys.VaultID]*opened{}
	n.mu.Unlock()
	var first error
	for _, o := range all {
		<-o.ready
		if o.v != nil {
			if err := o.v.db.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// Vaults counts the registered vaults.
func (n *Node) Vaults() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.known)
}

// OpenVaults counts the vaults whose store is open now.
func (n *Node) OpenVaults() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.open)
}

// Registered reports whether a vault is registered.
func (n *Node) Registered(id keys.VaultID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.known[id]
}

// acquire opens a registered vault's store (or shares the open one) for a
// user, who must release it.
func (n *Node) acquire(id keys.VaultID) (*Vault, error) {
	for {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return nil, errClosed
		}
		if !n.known[id] {
			n.mu.Unlock()
			return nil, fmt.Errorf("%w: %s (a device registers it with `mycel nodes add`)", ErrNotRegistered, id.Short())
		}
		o := n.open[id]
		if o != nil && o.closing != nil {
			ch := o.closing
			n.mu.Unlock()
			<-ch // its last user is closing it; then open it again
			continue
		}
		if o == nil {
			o = &opened{refs: 1, ready: make(chan struct{})}
			n.open[id] = o
			n.mu.Unlock()
			o.v, o.err = openVault(n.vaultDir(id), id)
			if o.err == nil {
				o.v.quota, o.v.now, o.v.grace = n.opts.Quota, n.opts.Now, n.opts.ChunkGrace
			}
			if o.err != nil {
				n.mu.Lock()
				if n.open[id] == o {
					delete(n.open, id)
				}
				n.mu.Unlock()
			}
			close(o.ready)
			return o.v, o.err
		}
		o.refs++
		n.mu.Unlock()
		<-o.ready
		if o.err != nil {
			return nil, o.err
		}
		return o.v, nil
	}
}

// release gives back a vault acquired; the last user closes its store.
func (n *Node) release(v *Vault) {
	n.mu.Lock()
	o := n.open[v.ID]
	if o == nil || o.v != v {
		n.mu.Unlock() // the node closed it already
		return
	}
	if o.refs--; o.refs > 0 {
		n.mu.Unlock()
		return
	}
	o.closing = make(chan struct{})
	n.mu.Unlock()
	v.db.Close()
	n.mu.Lock()
	if n.open[v.ID] == o {
		delete(n.open, v.ID)
	}
	n.mu.Unlock()
	close(o.closing)
}

// Register stores a vault, given its membership records; device must be a
// member (the caller has authenticated it as its peer). Registering again
// only adds records. The vault returned stays open until the node closes
// (for tests and benchmarks, which use it directly); it goes through the
// node's limits as a device's registration from an unnamed peer would.
func (n *Node) Register(ctx context.Context, id keys.VaultID, device []byte, records [][]byte) (*Vault, error) {
	return n.register(ctx, "", id, device, records, n.opts.Invite)
}

// register registers a vault for peer (or, if it is registered already,
// adds the records) and returns it acquired.
func (n *Node) register(ctx context.Context, peer string, id keys.VaultID, device []byte, records [][]byte, invite string) (*Vault, error) {
	if err := checkRecordCount(len(records)); err != nil {
		return nil, err
	}
	n.regMu.Lock()
	defer n.regMu.Unlock()
	if !n.Registered(id) {
		if err := n.create(peer, id, device, records, invite); err != nil {
			return nil, err
		}
	}
	v, err := n.acquire(id)
	if err != nil {
		return nil, err
	}
	if err := v.AddMembers(ctx, records); err != nil {
		n.release(v)
		return nil, err
	}
	if !v.IsMember(device) {
		n.release(v)
		return nil, notMember(device, id)
	}
	return v, nil
}

// create makes a new vault's folder and store, once the node's policy and
// limits allow it and the records make device a member. Called with regMu.
func (n *Node) create(peer string, id keys.VaultID, device []byte, records [][]byte, invite string) error {
	if err := n.reg.allow(peer, n.Vaults(), invite); err != nil {
		return err
	}
	// Verified before anything is written: a refused registration leaves
	// nothing behind.
	l, err := verifyLog(id, records)
	if err != nil {
		return err
	}
	if !l.IsMember(device) {
		return notMember(device, id)
	}
	n.reg.take(peer)
	dir := n.vaultDir(id)
	v, err := openVault(dir, id)
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	v.db.Close()
	n.mu.Lock()
	n.known[id] = true
	n.mu.Unlock()
	return nil
}

func notMember(device []byte, id keys.VaultID) error {
	return fmt.Errorf("device %x is not a member of vault %s", device[:min(6, len(device))], id.Short())
}
