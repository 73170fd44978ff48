package node

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/member"
	"mycel/internal/objsync"
	"mycel/internal/p2p"
	"mycel/internal/pb"
	"mycel/internal/store"
)

// A device that keeps a page off sync may ask the node to forget it
// ('mycel sync off ID --from-nodes'): a request signed by a member device
// (member.SignRemoval). The node purges the object from its store and
// refuses its changes from then on, from every device, so that another
// device that still syncs the page does not put it back; a restore request
// (sync turned on again) lifts that. The later request wins, by the time
// its device signed (a request older than the last one does nothing).

// removedPrefix keys, per object asked about (removedPrefix + hex id),
// the time of its last request and whether it removed: one setting each,
// so a request writes its own, not all of them. removedSetting is where
// they were all kept in one, before: still read (an entry of its own wins).
const (
	removedPrefix  = "removed_object/"
	removedSetting = "removed_objects"
)

// maxRemovals bounds the objects a vault's devices may have had removed
// (and perhaps restored since; a restore of one never removed is not
// kept): each costs the node memory and a row for good,
// and a member could otherwise ask about random ids without end.
var maxRemovals = 10_000

type removal struct {
	TimeMs  int64 `json:"time_ms"`
	Removed bool  `json:"removed"`
	// Request is the device's signed request (pb.RemoveObject, its
	// device set).
	Request []byte `json:"request,omitempty"`
	// RemovedBy is the last removal request carried out (Request while
	// removed), kept through a restore: passed on with the object's
	// Heads, it is the reason the node once dropped what it had
	// confirmed, which a device that did not see the object removed
	// learns only once it is back (internal/device/nodeacks.go).
	RemovedBy []byte `json:"removed_by,omitempty"`
	// gen counts the requests carried out (in this process: a Heads
	// queued before one is signed after it with no heads; see
	// syncer.AckSigner).
	gen uint64
}

// loadRemovals reads the requests carried out (at open).
func (v *Vault) loadRemovals(tx store.Tx) error {
	v.removed = map[change.ID]removal{}
	put := func(k string, b []byte) error {
		id, err := change.ParseID(k)
		if err != nil {
			return fmt.Errorf("the objects removed on request: %w", err)
		}
		var r removal
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("the objects removed on request: %w", err)
		}
		v.removed[id] = r
		return nil
	}
	if b, err := tx.Setting(removedSetting); err != nil {
		return err
	} else if len(b) > 0 {
		var old map[string]json.RawMessage
		if err := json.Unmarshal(b, &old); err != nil {
			return fmt.Errorf("the objects removed on request: %w", err)
		}
		for k, r := range old {
			if err := put(k, r); err != nil {
				return err
			}
		}
	}
	own, err := tx.SettingsWithPrefix(removedPrefix, 0)
	if err != nil {
		return err
	}
	for k, b := range own {
		if err := put(strings.TrimPrefix(k, removedPrefix), b); err != nil {
			return err
		}
	}
	return nil
}

// saveRemoval persists what is known of obj (v.mu held).
func (v *Vault) saveRemoval(tx store.Tx, obj change.ID) error {
	b, err := json.Marshal(v.removed[obj])
	if err != nil {
		return err
	}
	return tx.SetSetting(removedPrefix+hex.EncodeToString(obj[:]), b)
}

// isRemoved reports whether a device asked that obj be removed (and no
// restore came since).
func (v *Vault) isRemoved(obj change.ID) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.removed[obj].Removed
}

// RemoveObject carries out a member device's request to remove an object
// from the node's store, or to restore it (see the comment above).
func (v *Vault) RemoveObject(ctx context.Context, device ed25519.PublicKey, req *pb.RemoveObject) error {
	if err := member.VerifyRemoval(device, v.ID, req); err != nil {
		return err
	}
	if !v.IsMember(device) {
		return fmt.Errorf("device %x is not a member of this vault", device[:6])
	}
	obj := change.ID(req.Object)
	v.mu.Lock()
	last, known := v.removed[obj]
	if known && req.TimeMs <= last.TimeMs {
		v.mu.Unlock()
		return nil // a later request was carried out already
	}
	if !known && req.Restore {
		v.mu.Unlock()
		return nil // never removed: nothing to take back, nothing kept
	}
	if !known && len(v.removed) >= maxRemovals {
		v.mu.Unlock()
		return fmt.Errorf("this backup node keeps at most %d pages removed or restored on request per vault, and this vault has reached that", maxRemovals)
	}
	prev := last
	proof := proto.Clone(req).(*pb.RemoveObject)
	proof.Device = device
	raw, err := proto.Marshal(proof)
	if err != nil {
		v.mu.Unlock()
		return err
	}
	by := raw
	if req.Restore {
		by = last.RemovedBy
		if by == nil && last.Removed {
			by = last.Request // kept before RemovedBy was
		}
	}
	v.removed[obj] = removal{TimeMs: req.TimeMs, Removed: !req.Restore, Request: raw, RemovedBy: by, gen: last.gen + 1}
	v.mu.Unlock()
	// From here every receive refuses the object's changes; one under way
	// holds gcMu shared: the purge waits for it, so none stores after it.
	v.gcMu.Lock()
	defer v.gcMu.Unlock()
	err = v.db.Update(ctx, func(tx store.Tx) error {
		if !req.Restore {
			if _, err := tx.PurgeObject(obj); err != nil {
				return err
			}
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.saveRemoval(tx, obj)
	})
	if err != nil && req.Restore {
		v.mu.Lock()
		v.removed[obj] = prev // not restored: still refused
		v.mu.Unlock()
	}
	return err
}

// RemovalProof is the last signed request by which a device had obj
// removed (nil if none ever did), whether it is removed now, and the
// count of requests carried out for it since the node started.
func (v *Vault) RemovalProof(obj change.ID) (proof *pb.RemoveObject, removed bool, gen uint64) {
	v.mu.Lock()
	r := v.removed[obj]
	v.mu.Unlock()
	by := r.RemovedBy
	if by == nil && r.Removed {
		by = r.Request
	}
	if len(by) == 0 {
		return nil, r.Removed, r.gen
	}
	var req pb.RemoveObject
	if proto.Unmarshal(by, &req) != nil {
		return nil, r.Removed, r.gen
	}
	return &req, r.Removed, r.gen
}

// refuseRemoved is the admit.Applier check of a node: changes of an object
// removed on request are refused, with the way back.
func (v *Vault) refuseRemoved(c *change.Change) error {
	if v != nil && v.isRemoved(c.Object) {
		return fmt.Errorf("%w: a device of the vault removed page %s from this backup node (it comes back when that device turns its sync on again)", admit.ErrRejected, c.Object.Short())
	}
	return nil
}

// removeFrom is the syncer's RemoveObject for vault v: the request's
// device is the connection's.
func removeFrom(v *Vault) func(context.Context, objsync.PeerID, *pb.RemoveObject) error {
	return func(ctx context.Context, from objsync.PeerID, req *pb.RemoveObject) error {
		id, err := peer.Decode(string(from))
		if err != nil {
			return err
		}
		key, err := p2p.PeerKey(id)
		if err != nil {
			return err
		}
		return v.RemoveObject(ctx, key, req)
	}
}
