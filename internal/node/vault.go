package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
)

// MaxRecords bounds a vault's membership log on a node, and the records
// one Hello or Members message may carry. A person's devices, renamed and
// removed over years, make tens of records; a log of thousands is an
// attack on the node's CPU (each new record costs a signature check).
const MaxRecords = 4096

// maxBad bounds the refused records a vault remembers, so that a replayed
// bad record is refused without checking its signature again.
const maxBad = 256

func checkRecordCount(n int) error {
	if n > MaxRecords {
		return fmt.Errorf("%d membership records, over this node's limit of %d a vault", n, MaxRecords)
	}
	return nil
}

// verifyLog verifies records into a new log of vault id.
func verifyLog(id keys.VaultID, records [][]byte) (*member.Log, error) {
	if err := checkRecordCount(len(records)); err != nil {
		return nil, err
	}
	l := member.NewLog(id)
	for _, r := range records {
		if err := l.Add(r); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Vault is one vault on the node.
type Vault struct {
	ID  keys.VaultID
	db  store.Store
	dir string

	chunks vaultChunks      // chunks.go
	quota  int64            // the node's Options.Quota (0: none)
	now    func() time.Time // the node's clock, which stamps chunks
	grace  time.Duration    // the node's Options.ChunkGrace (< 0: no collection)
	// gcMu is held shared by every receive and exclusively by a chunk
	// collection's reading of names and its removals (gc.go), so that no
	// change naming a chunk is stored between the two.
	gcMu sync.RWMutex

	mu      sync.Mutex
	members *member.Log
	// hashes are the SHA-256 of the records in members, and bad those of
	// records refused: a Hello carrying records already judged costs a
	// map lookup each, not a signature check.
	hashes map[[32]byte]bool
	bad    map[[32]byte]error
	// removed: the objects devices asked the node to remove (remove.go).
	removed map[change.ID]removal
}

func openVault(dir string, id keys.VaultID) (*Vault, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := sqlite.Open(filepath.Join(dir, "mycel.db"))
	if err != nil {
		return nil, err
	}
	v := &Vault{ID: id, db: db, dir: dir, hashes: map[[32]byte]bool{}, bad: map[[32]byte]error{}}
	err = db.View(context.Background(), func(tx store.Tx) error {
		raws, err := tx.MemberRecords()
		if err != nil {
			return err
		}
		// Not bounded by MaxRecords: what the node stored, it opens.
		v.members = member.NewLog(id)
		for _, r := range raws {
			if err := v.members.Add(r); err != nil {
				return err
			}
		}
		return v.loadRemovals(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open vault %s: %w", id.Short(), err)
	}
	for _, r := range v.members.Records() {
		v.hashes[r.Hash] = true
	}
	if err := store.IndexOldChunkRefs(context.Background(), db); err != nil { // a format-4 store's
		db.Close()
		return nil, fmt.Errorf("open vault %s: index its file chunks: %w", id.Short(), err)
	}
	return v, nil
}

// Store is the vault's store.
func (v *Vault) Store() store.Store { return v.db }

// AddMembers verifies and stores membership records. Records the vault
// holds already are skipped unverified (known by hash), and so is the
// refusal of a record refused before. Records are checked in order; those
// before the first bad one are kept (each stands on its own: the log is a
// set), so that replaying a long message with a bad record at its end does
// not cost every signature check again. The log stays within MaxRecords.
func (v *Vault) AddMembers(ctx context.Context, records [][]byte) error {
	if err := checkRecordCount(len(records)); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	var fresh [][]byte
	var freshHashes [][32]byte
	inBatch := map[[32]byte]bool{}
	for _, r := range records {
		h := sha256.Sum256(r)
		if v.hashes[h] || inBatch[h] {
			continue
		}
		if err := v.bad[h]; err != nil {
			return err
		}
		inBatch[h] = true
		fresh, freshHashes = append(fresh, r), append(freshHashes, h)
	}
	if len(fresh) == 0 {
		return nil
	}
	if have := v.members.Len(); have+len(fresh) > MaxRecords {
		return fmt.Errorf("vault %s holds %d membership records; %d more would pass this node's limit of %d", v.ID.Short(), have, len(fresh), MaxRecords)
	}
	l := v.members.Clone()
	var refused error
	good := 0
	for i, r := range fresh {
		if err := l.Add(r); err != nil {
			if len(v.bad) >= maxBad {
				clear(v.bad)
			}
			v.bad[freshHashes[i]] = err
			refused = err
			break
		}
		good++
	}
	if good == 0 {
		return refused
	}
	err := v.db.Update(ctx, func(tx store.Tx) error {
		for _, r := range fresh[:good] {
			if err := tx.PutMemberRecord(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	v.members = l
	for _, h := range freshHashes[:good] {
		v.hashes[h] = true
	}
	return refused
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
	v.gcMu.RLock()
	defer v.gcMu.RUnlock()
	err = v.db.Update(ctx, func(tx store.Tx) (err error) {
		outs, errs, err = admit.Receive(tx, v.ID, l, keeper{v}, in)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return outs, errs, nil
}

// keeper is a node's admit.Applier: it cannot read a change, so it only
// keeps it (and an index row for each object, which lists it).
type keeper struct{ v *Vault }

func (keeper) Apply(store.Tx, *change.Change, bool) (bool, error) { return false, nil }

// Admit refuses the changes of an object removed on request (remove.go),
// parked or not.
func (k keeper) Admit(c *change.Change) error { return k.v.refuseRemoved(c) }

func (keeper) Stored(tx store.Tx, c *change.Change, _ int64) error {
	if c.IsRoot() {
		return tx.PutObject(store.Object{ID: c.ID, Created: c.Time, Updated: c.Time, Changes: 1})
	}
	return nil
}

func (keeper) Finish(store.Tx, map[change.ID][]change.ID) error { return nil }
