package device

import (
	"context"
	"encoding/hex"
	"sync"
	"time"

	"mycel/internal/admit"
	"mycel/internal/objsync"
	"mycel/internal/syncer"
)

// lastSeenEvery is how often what the device heard from other devices is
// persisted (vault.Engine.NoteLastSeen): not at every message. The
// connections' last frames are sampled every lastSeenSample, so what is
// persisted as the device stops (when the service may be gone) is at most
// that old.
const (
	lastSeenEvery  = 5 * time.Second
	lastSeenSample = time.Second
)

// lastSeen is when this device last heard from each other device (hex
// key): by a change it authored arriving, through a node or a device, and
// by the last frame of its direct connection, as last sampled.
type lastSeen struct {
	mu               sync.Mutex
	authored, frames map[string]time.Time
}

// note keeps t as k's time in m if later.
func note(m *map[string]time.Time, k string, t time.Time) {
	if *m == nil {
		*m = map[string]time.Time{}
	}
	if t.After((*m)[k]) {
		(*m)[k] = t
	}
}

// merged is the later of both times of each device.
func (s *lastSeen) merged() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]time.Time{}
	for _, m := range []map[string]time.Time{s.authored, s.frames} {
		for k, t := range m {
			note(&out, k, t)
		}
	}
	return out
}

// noteAuthors wraps a receiver: the author of each change it stores has
// been heard from now (a device met only through a node is known by its
// changes).
func (d *Device) noteAuthors(receive syncer.Receiver) syncer.Receiver {
	self := string(d.Engine.DeviceKey())
	return func(ctx context.Context, in []admit.Incoming) ([]admit.Outcome, []error, error) {
		outs, errs, err := receive(ctx, in)
		if err != nil {
			return outs, errs, err
		}
		now := time.Now()
		d.seen.mu.Lock()
		defer d.seen.mu.Unlock()
		for i, c := range in {
			ch := c.Verified.Change()
			if i >= len(outs) || errs[i] != nil || outs[i] != admit.Stored || ch == nil || string(ch.Author) == self {
				continue
			}
			note(&d.seen.authored, hex.EncodeToString(ch.Author), now)
		}
		return outs, errs, nil
	}
}

// LastSeen is when this device last heard from each other device, by hex
// key, as the running device knows it now: the last frame of a direct
// (LAN) connection, or the arrival of a change the device authored,
// whichever is later. Not what was persisted before this run (see
// vault.DeviceInfo.LastSeen).
func (d *Device) LastSeen(ctx context.Context) map[string]time.Time {
	if frames, err := d.Service.LastFrames(ctx); err == nil {
		got := map[string]time.Time{}
		for p, t := range frames {
			if d.isNodePeer(p) {
				continue
			}
			if k, err := peerKey(p); err == nil {
				got[hex.EncodeToString(k)] = t
			}
		}
		d.seen.mu.Lock()
		for k, t := range got {
			note(&d.seen.frames, k, t)
		}
		d.seen.mu.Unlock()
	}
	return d.seen.merged()
}

// isNodePeer reports whether p is one of the configured nodes.
func (d *Device) isNodePeer(p objsync.PeerID) bool {
	for _, n := range d.Nodes() {
		if n.Peer == p {
			return true
		}
	}
	return false
}

// keepLastSeen samples the connections' last frames every
// lastSeenSample and persists what the device heard every lastSeenEvery,
// and once more as the device stops, so that `mycel devices` shows it
// while the device is not running.
func (d *Device) keepLastSeen() {
	t := time.NewTicker(lastSeenSample)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-t.C:
			d.LastSeen(d.ctx)
			if n%int(lastSeenEvery/lastSeenSample) == 0 {
				d.persistLastSeen(d.ctx)
			}
			if n%int(heldAtEvery/lastSeenSample) == 0 {
				d.persistHeldAt(d.ctx)
			}
		case <-d.held.full:
			d.persistHeldAt(d.ctx)
		case <-d.ctx.Done():
			// The store is open until the caller closes the engine,
			// after Close (which waits for this).
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			d.persistLastSeen(ctx)
			d.persistHeldAt(ctx)
			cancel()
			return
		}
	}
}

// persistLastSeen writes what the device heard, of the vault's other
// devices (not nodes), to the store.
func (d *Device) persistLastSeen(ctx context.Context) {
	seen := d.seen.merged()
	devs, err := d.Engine.Devices(ctx)
	if err != nil {
		return
	}
	members := map[string]bool{}
	for _, dv := range devs {
		if !dv.This {
			members[hex.EncodeToString(dv.Key)] = true
		}
	}
	for k := range seen {
		if !members[k] {
			delete(seen, k)
		}
	}
	if err := d.Engine.NoteLastSeen(ctx, seen); err != nil {
		d.cfg.Log.Warn("persist when devices were last seen", "err", err)
	}
}
