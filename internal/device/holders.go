package device

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/change"
	"mycel/internal/files"
	"mycel/internal/objsync"
	"mycel/internal/p2p"
)

// Which devices nearby hold a file is not recorded anywhere (they never
// confirm chunks as a node does): a detail status asks them, bounded.
const (
	// nearbyAsks bounds the Has requests to one device for one status
	// (each up to p2p.MaxChunkBatch addresses): the files past it are
	// unknown.
	nearbyAsks = 16
	// nearbyWait bounds the whole asking: a device slow to answer is
	// unknown rather than a status that hangs.
	nearbyWait = 3 * time.Second
)

// AskNearby adds to a status, for each file of its objects, which devices
// connected on the LAN hold it: it asks each (Has, on a chunk stream of
// its own, so a download under way does not hold the question up). What
// it could not ask, or was not answered in time, is unknown. Meant for one
// object's status (`mycel status ID`): it costs requests to every device.
func (d *Device) AskNearby(ctx context.Context, vs *VaultStatus) {
	type nearby struct {
		dev  objsync.PeerID
		link *nodeLink
	}
	var devs []nearby
	peers := d.Service.Peers()
	d.mu.Lock()
	byLAN := map[peer.ID]objsync.PeerID{}
	for dev, st := range d.latestLAN() {
		if _, ok := peers[dev]; ok && !st.Foreign {
			byLAN[st.ID] = dev
		}
	}
	d.mu.Unlock()
	for _, l := range d.lanLinks() {
		if dev, ok := byLAN[l.id]; ok {
			devs = append(devs, nearby{dev, l})
		}
	}
	if len(devs) == 0 {
		return
	}
	names := d.deviceNames(ctx)
	ctx, cancel := context.WithTimeout(ctx, nearbyWait)
	defer cancel()
	wants := map[string]fileWant{}
	cs, err := d.Engine.Chunks()
	if err != nil {
		return
	}
	for _, o := range vs.Objects {
		id, err := change.ParseID(o.ID)
		if err != nil || len(o.Files) == 0 {
			continue
		}
		fs, err := d.Engine.Files(ctx, id)
		if err != nil {
			continue
		}
		for _, f := range fs {
			if f.Manifest == nil {
				continue
			}
			w := fileWant{addrs: f.Manifest.Addresses(), sizes: map[files.Address]int64{}}
			if rs, err := d.Engine.FileKeys().Refs(f.Manifest, cs.Get); err == nil {
				w.known = true
				for _, r := range rs {
					w.sizes[r.Address] += int64(r.Size)
					w.addrs = append(w.addrs, r.Address)
				}
			}
			wants[f.Manifest.ID()] = w
		}
	}
	for _, n := range devs {
		held := d.askHas(ctx, n.link, wants)
		for oi := range vs.Objects {
			o := &vs.Objects[oi]
			for fi := range o.Files {
				f := &o.Files[fi]
				h := FileHolder{Peer: string(n.dev), Name: names[n.dev], Holds: HoldsUnknown}
				w, ok := wants[f.ID]
				if has, asked := held[f.ID]; ok && asked {
					var bytes int64
					all := w.known
					for i, a := range w.addrs {
						if has[i] {
							bytes += w.sizes[a]
						} else {
							all = false
						}
					}
					h.Holds, h.Bytes = holds(bytes, f.Size, all), bytes
					if all {
						h.Bytes = f.Size
					} else if !w.known && slices.Contains(has, true) {
						h.Holds = HoldsUnknown // it has the list; of the rest this device cannot tell
					}
				}
				f.Holders = append(f.Holders, h)
			}
		}
	}
}

// fileWant is what to ask of a file: its chunks' addresses and sizes.
type fileWant struct {
	addrs []files.Address
	sizes map[files.Address]int64
	known bool // its whole list is here (else only its index is asked)
}

// askHas asks one device which of each file's chunks it holds, in at most
// nearbyAsks requests: by file id, one answer per address; a file not in
// the answer was not asked, or not answered.
func (d *Device) askHas(ctx context.Context, l *nodeLink, wants map[string]fileWant) map[string][]bool {
	out := map[string][]bool{}
	if l.dial == nil {
		return out
	}
	c, err := l.dial(ctx)
	if err != nil {
		return out
	}
	defer c.Close()
	ids := slices.Sorted(maps.Keys(wants))
	asks := 0
	for _, id := range ids {
		w := wants[id]
		var has []bool
		for batch := range slices.Chunk(w.addrs, p2p.MaxChunkBatch) {
			if asks++; asks > nearbyAsks {
				return out
			}
			h, _, err := c.Has(ctx, batch)
			if err != nil || len(h) != len(batch) {
				return out
			}
			has = append(has, h...)
		}
		out[id] = has
	}
	return out
}
