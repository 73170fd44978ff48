package vault

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/files"
	"mycel/internal/member"
	"mycel/internal/pb"
	"mycel/internal/store"
)

// Sync control: with whom this device syncs (its sync mode) and which
// pages it keeps to itself (sync off). Both are settings of this device,
// not of the vault's other devices: a phone may sync on the local network
// only while the laptop uses the node, and a page kept off one device's
// sync may be another's to share. A running `mycel up` reads them when
// poked (the mode) and at every tick, in the very read that finds new
// local changes (the pages kept off), so that a page written with sync
// off is never offered, not even for the moment between two writes.

// SyncMode says with whom a device syncs.
type SyncMode string

// The sync modes.
const (
	SyncAll       SyncMode = "all"        // backup nodes and devices directly
	SyncLANOnly   SyncMode = "lan-only"   // devices directly, never a node
	SyncNodeOnly  SyncMode = "node-only"  // backup nodes, never a device directly
	SyncLocalOnly SyncMode = "local-only" // nothing: every edit stays here
)

// SyncModes lists the modes, in the order --help gives them.
var SyncModes = []SyncMode{SyncAll, SyncLANOnly, SyncNodeOnly, SyncLocalOnly}

// Nodes reports whether the mode syncs with backup nodes.
func (m SyncMode) Nodes() bool { return m == SyncAll || m == SyncNodeOnly }

// Devices reports whether the mode syncs with devices directly.
func (m SyncMode) Devices() bool { return m == SyncAll || m == SyncLANOnly }

// ParseSyncMode reads a mode's name.
func ParseSyncMode(s string) (SyncMode, error) {
	m := SyncMode(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(SyncModes, m) {
		return m, nil
	}
	names := make([]string, len(SyncModes))
	for i, m := range SyncModes {
		names[i] = string(m)
	}
	return "", fmt.Errorf("%q is not a sync mode: one of %s", s, strings.Join(names, ", "))
}

const (
	syncModeSetting = "sync_mode"
	// syncOffSetting holds the ids of the pages kept off sync, sorted,
	// 32 bytes each; syncOffRevSetting counts its writes, so that a
	// running device reads the list again only when it changed.
	syncOffSetting    = "sync_off"
	syncOffRevSetting = "sync_off_rev"
)

// SyncMode is this device's sync mode ("all" until set).
func (e *Engine) SyncMode(ctx context.Context) (SyncMode, error) {
	b, err := e.Setting(ctx, syncModeSetting)
	if err != nil {
		return SyncLocalOnly, fmt.Errorf("read this device's sync mode: %w", err) // syncing less is the safe reading
	}
	if b == nil {
		return SyncAll, nil
	}
	m, err := ParseSyncMode(string(b))
	if err != nil {
		// Written by a newer mycel, say: syncing less is the safe reading.
		return SyncLocalOnly, fmt.Errorf("this device's sync mode: %w", err)
	}
	return m, nil
}

// SetSyncMode sets this device's sync mode (a running `mycel up`, poked,
// takes it at once).
func (e *Engine) SetSyncMode(ctx context.Context, m SyncMode) error {
	if _, err := ParseSyncMode(string(m)); err != nil {
		return err
	}
	return e.SetSetting(ctx, syncModeSetting, []byte(m))
}

// SyncOffRev is the count of writes to the list of pages kept off sync,
// read in tx: what a running device compares before reading the list.
func SyncOffRev(tx store.Tx) (uint64, error) {
	b, err := tx.Setting(syncOffRevSetting)
	if err != nil || len(b) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(b), nil
}

// SyncOffIn reads, in tx, the pages kept off sync.
func SyncOffIn(tx store.Tx) (map[change.ID]bool, error) {
	b, err := tx.Setting(syncOffSetting)
	if err != nil {
		return nil, err
	}
	out, whole := parseSyncOff(b)
	if !whole {
		return nil, fmt.Errorf("the list of pages kept off sync is damaged (%d bytes): run 'mycel sync off ID' on a page kept off to write it again (the whole ids in it are kept)", len(b))
	}
	return out, nil
}

// parseSyncOff reads the list's whole ids; whole is false when bytes are
// left over (the list is damaged: what it still says is kept).
func parseSyncOff(b []byte) (ids map[change.ID]bool, whole bool) {
	out := make(map[change.ID]bool, len(b)/32)
	for ; len(b) >= 32; b = b[32:] {
		out[change.ID(b[:32])] = true
	}
	return out, len(b) == 0
}

// setSyncOffIn keeps, in tx, pages off sync (off) or takes them back.
func setSyncOffIn(tx store.Tx, ids []change.ID, off bool) error {
	// A damaged list is written again from its whole ids, so that no
	// page kept off is shared by the repair (and while it is damaged,
	// the running device withholds everything).
	b, err := tx.Setting(syncOffSetting)
	if err != nil {
		return err
	}
	cur, _ := parseSyncOff(b)
	for _, id := range ids {
		if off {
			cur[id] = true
		} else {
			delete(cur, id)
		}
	}
	list := idsOf(cur)
	b = make([]byte, 0, 32*len(list))
	for _, id := range list {
		b = append(b, id[:]...)
	}
	if err := tx.SetSetting(syncOffSetting, b); err != nil {
		return err
	}
	rev, err := SyncOffRev(tx)
	if err != nil {
		return err
	}
	return tx.SetSetting(syncOffRevSetting, binary.BigEndian.AppendUint64(nil, rev+1))
}

// SyncOff lists the pages kept off sync.
func (e *Engine) SyncOff(ctx context.Context) (map[change.ID]bool, error) {
	var out map[change.ID]bool
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		out, err = SyncOffIn(tx)
		return err
	})
	return out, err
}

// SyncOffList is SyncOff in the order of ids.
func (e *Engine) SyncOffList(ctx context.Context) ([]change.ID, error) {
	off, err := e.SyncOff(ctx)
	return idsOf(off), err
}

// idsOf is the ids of a set, in order.
func idsOf(set map[change.ID]bool) []change.ID { return slices.SortedFunc(maps.Keys(set), compareIDs) }

// SetSyncOff keeps pages to this device (off) — their changes and files
// go to no node and no device, and reconciliation does not name them —
// or gives them back to sync, which then sends their whole history. Each
// must be an object of this store.
func (e *Engine) SetSyncOff(ctx context.Context, ids []change.ID, off bool) error {
	return e.db.Update(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			if ok, err := tx.HasChange(id); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("no object %s here", id.Short())
			}
		}
		return setSyncOffIn(tx, ids, off)
	})
}

// Shareable keeps of as the chunks that some page not kept off sync
// references: the chunks that only pages with sync off name go to no
// node and no device.
func (e *Engine) Shareable(ctx context.Context, as []files.Address) ([]files.Address, error) {
	var out []files.Address
	err := e.db.View(ctx, func(tx store.Tx) error {
		off, err := SyncOffIn(tx)
		if err != nil {
			return err
		}
		if len(off) == 0 {
			out = as
			return nil
		}
		if len(as) <= 8 { // a chunk a peer asks for: its objects, not every page's chunks
			for _, a := range as {
				objs, err := tx.ChunkObjects(a)
				if err != nil {
					return err
				}
				if len(objs) == 0 || slices.ContainsFunc(objs, func(o change.ID) bool { return !off[o] }) {
					out = append(out, a)
				}
			}
			return nil
		}
		theirs := map[files.Address]bool{} // named by a page kept off
		for id := range off {
			cs, err := tx.ObjectChunks(id)
			if err != nil {
				return err
			}
			for _, c := range cs {
				theirs[c] = true
			}
		}
		for _, a := range as {
			if !theirs[a] {
				out = append(out, a)
				continue
			}
			objs, err := tx.ChunkObjects(a)
			if err != nil {
				return err
			}
			if slices.ContainsFunc(objs, func(o change.ID) bool { return !off[o] }) {
				out = append(out, a)
			}
		}
		return nil
	})
	return out, err
}

// Requests to backup nodes to remove pages from their stores, or to take
// them back ('mycel sync off ID --from-nodes', then 'sync on'): kept in a
// setting until each configured node has carried one out, and sent by the
// running device whenever it connects to a node or is poked. Each is
// signed by this device when sent (member.SignRemoval), with the time it
// was asked, so a node carries out the latest alone.
const nodeRemovalsSetting = "node_removals"

// NodeRemoval is one request, and the nodes that carried it out.
type NodeRemoval struct {
	Object  change.ID `json:"-"`
	Restore bool      `json:"restore"`
	TimeMs  int64     `json:"time_ms"`
	Done    []string  `json:"done,omitempty"` // node addresses
}

func nodeRemovalsIn(tx store.Tx) (map[change.ID]NodeRemoval, error) {
	out := map[change.ID]NodeRemoval{}
	b, err := tx.Setting(nodeRemovalsSetting)
	if err != nil || b == nil {
		return out, err
	}
	var m map[string]NodeRemoval
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("the requests to backup nodes: %w", err)
	}
	for k, r := range m {
		id, err := change.ParseID(k)
		if err != nil {
			return nil, fmt.Errorf("the requests to backup nodes: %w", err)
		}
		r.Object = id
		out[id] = r
	}
	return out, nil
}

func setNodeRemovalsIn(tx store.Tx, rs map[change.ID]NodeRemoval) error {
	m := make(map[string]NodeRemoval, len(rs))
	for id, r := range rs {
		m[id.String()] = r
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return tx.SetSetting(nodeRemovalsSetting, b)
}

// RemoveFromNodes asks the backup nodes to remove pages from their stores
// (restore: to take them back). A page removed must be kept off sync
// here first, or this device would upload it again at once.
func (e *Engine) RemoveFromNodes(ctx context.Context, ids []change.ID, restore bool) error {
	return e.db.Update(ctx, func(tx store.Tx) error {
		off, err := SyncOffIn(tx)
		if err != nil {
			return err
		}
		rs, err := nodeRemovalsIn(tx)
		if err != nil {
			return err
		}
		now := e.Now().UnixMilli()
		for _, id := range ids {
			if !restore && !off[id] {
				return fmt.Errorf("page %s syncs: keep it off sync first ('mycel sync off %s --from-nodes' does both)", id.Short(), id.Short())
			}
			if r, ok := rs[id]; ok && r.Restore == restore {
				continue // asked already
			}
			if _, ok := rs[id]; !ok && restore {
				continue // never removed: nothing to take back
			}
			rs[id] = NodeRemoval{Object: id, Restore: restore, TimeMs: max(now, rs[id].TimeMs+1)}
		}
		return setNodeRemovalsIn(tx, rs)
	})
}

// NodeRemovals lists the requests to backup nodes, by page.
func (e *Engine) NodeRemovals(ctx context.Context) (map[change.ID]NodeRemoval, error) {
	var out map[change.ID]NodeRemoval
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		out, err = nodeRemovalsIn(tx)
		return err
	})
	return out, err
}

// SignNodeRemoval is r as this device sends it to a node.
func (e *Engine) SignNodeRemoval(r NodeRemoval) *pb.RemoveObject {
	return member.SignRemoval(e.device, e.vault.ID, r.Object, r.Restore, time.UnixMilli(r.TimeMs))
}

// NodeRemovalDone records that the node at addr carried out the request
// of that time (a later request since is still to send).
func (e *Engine) NodeRemovalDone(ctx context.Context, obj change.ID, timeMs int64, addr string) error {
	return e.db.Update(ctx, func(tx store.Tx) error {
		rs, err := nodeRemovalsIn(tx)
		if err != nil {
			return err
		}
		r, ok := rs[obj]
		if !ok || r.TimeMs != timeMs || slices.Contains(r.Done, addr) {
			return nil
		}
		r.Done = append(r.Done, addr)
		rs[obj] = r
		return setNodeRemovalsIn(tx, rs)
	})
}
