package device

import (
	"context"
	"slices"
	"sync"
	"time"

	"mycel/internal/activity"
	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/syncer"
	"mycel/internal/vault"
)

// The activity log (internal/activity) is fed by the sync service
// (syncer.Config.Activity), on its loop goroutine, and by the file mover.
// What comes within a second is summed per peer, object and kind (a first
// sync of 10,000 objects is some 10,000 lines, not one per batch; past
// maxActivityPending a second, one line per peer sums the rest), and written
// once a second by a goroutine of its own, with the peers named: devices
// by the membership log, nodes as "backup node". A received object whose
// page now has concurrent heads is logged as a merge, naming the devices.

// activityEvery is how often gathered activity is written.
const activityEvery = time.Second

// maxActivityPending bounds the lines gathered between two writes; past
// it, what comes is summed in a line per peer and kind ("N changes of M
// more objects"), and past twice it counted as left out (and said so in
// the sync log).
const maxActivityPending = 4096

// maxFolded bounds the objects the summing lines tell apart (past it, an
// object may be counted twice).
const maxFolded = 1 << 16

type activityKey struct {
	kind   string
	peer   objsync.PeerID
	object change.ID
	reason string
}

// activityLog gathers and writes a device's activity.
type activityLog struct {
	d   *Device
	log *activity.Log

	mu      sync.Mutex
	pending map[activityKey]*activity.Entry
	order   []activityKey
	dropped int
	folded  map[activityKey]bool // what the summing lines count, each once
	// merged: the heads count last logged as a merge, per object, so that
	// the same unmerged branches are told once.
	merged map[change.ID]int
}

func newActivityLog(d *Device) (*activityLog, error) {
	l, err := activity.Open(d.Engine.Dir())
	if err != nil {
		return nil, err
	}
	return &activityLog{d: d, log: l, pending: map[activityKey]*activity.Entry{}, folded: map[activityKey]bool{}, merged: map[change.ID]int{}}, nil
}

// note takes what the sync service did (never blocks for long: a map
// update under a lock).
func (a *activityLog) note(s syncer.Activity) {
	a.add(activityKey{string(s.Kind), s.Peer, s.Object, s.Reason}, s.Changes, "")
}

// pinned tells of files a node confirmed it holds in full.
func (a *activityLog) pinned(node objsync.PeerID, ups []*fileUpload) {
	seen := map[string]bool{}
	for _, u := range ups {
		if u.fileID == "" || seen[u.fileID] || u.partial {
			continue
		}
		seen[u.fileID] = true
		a.add(activityKey{activity.Pinned, node, u.object, u.fileID}, 0, u.fileID)
	}
}

func (a *activityLog) add(k activityKey, n int, file string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.pending[k]; e != nil {
		e.Changes += n
		return
	}
	if len(a.pending) >= maxActivityPending && k.object != (change.ID{}) {
		// Past the bound, a line per peer and kind sums the rest.
		sum := activityKey{kind: k.kind, peer: k.peer}
		fresh := !a.folded[k]
		if fresh && len(a.folded) < maxFolded {
			a.folded[k] = true
		}
		if e := a.pending[sum]; e != nil {
			e.Changes += n
			if fresh {
				e.Objects++
			}
			return
		}
		if len(a.pending) >= 2*maxActivityPending {
			a.dropped++
			return
		}
		a.pending[sum] = &activity.Entry{Time: a.d.Engine.Now().UTC(), Kind: k.kind, Peer: string(k.peer), Changes: n, Objects: 1}
		a.order = append(a.order, sum)
		return
	}
	if len(a.pending) >= 2*maxActivityPending {
		a.dropped++
		return
	}
	e := &activity.Entry{Time: a.d.Engine.Now().UTC(), Kind: k.kind, Peer: string(k.peer), Changes: n, Reason: k.reason, File: file}
	if k.kind == activity.Pinned {
		e.Reason = ""
	}
	if k.object != (change.ID{}) {
		e.Object = k.object.String()
	}
	a.pending[k] = e
	a.order = append(a.order, k)
}

// run writes what gathered every activityEvery, until ctx ends (then
// what is left, and closes the log).
func (a *activityLog) run(ctx context.Context) {
	t := time.NewTicker(activityEvery)
	defer t.Stop()
	defer a.log.Close()
	for {
		select {
		case <-ctx.Done():
			a.flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			a.flush(ctx)
		}
	}
}

// flush names the peers of what gathered, adds the merges, and writes.
func (a *activityLog) flush(ctx context.Context) {
	a.mu.Lock()
	pending, order, dropped := a.pending, a.order, a.dropped
	a.pending, a.order, a.dropped = map[activityKey]*activity.Entry{}, nil, 0
	clear(a.folded)
	a.mu.Unlock()
	if dropped > 0 {
		a.d.cfg.Log.Warn("activity log: too much at once; some left out", "entries", dropped)
	}
	if len(order) == 0 {
		return
	}
	names := a.peerNames(ctx)
	out := make([]activity.Entry, 0, len(order))
	for _, k := range order {
		e := *pending[k]
		who := names[k.peer]
		e.Name, e.Via = who.name, who.via
		out = append(out, e)
		if k.kind == string(syncer.Received) {
			if m, ok := a.merge(ctx, k.object, e.Time); ok {
				out = append(out, m)
			}
		}
	}
	if err := a.log.Append(out...); err != nil {
		a.d.cfg.Log.Warn("write the activity log", "err", err)
	}
}

// merge is a merge entry for obj if its page now merges concurrent edits
// not told before.
func (a *activityLog) merge(ctx context.Context, obj change.ID, at time.Time) (activity.Entry, bool) {
	authors, err := a.d.Engine.ConcurrentAuthors(ctx, obj)
	if err != nil || len(authors) == 0 {
		delete(a.merged, obj)
		return activity.Entry{}, false
	}
	if a.merged[obj] == len(authors) {
		return activity.Entry{}, false
	}
	if len(a.merged) > 100_000 {
		clear(a.merged) // at worst a merge told twice
	}
	a.merged[obj] = len(authors)
	return activity.Entry{Time: at, Kind: activity.Merged, Object: obj.String(), From: authors}, true
}

type peerName struct{ name, via string }

// peerNames names the peers met: nodes as configured, devices by the
// membership log (those not known by it keep their id alone).
func (a *activityLog) peerNames(ctx context.Context) map[objsync.PeerID]peerName {
	out := map[objsync.PeerID]peerName{}
	for _, n := range a.d.Nodes() {
		if n.Peer != "" {
			out[n.Peer] = peerName{"backup node " + n.Addr, "node"}
		}
	}
	devs, err := a.d.Engine.Devices(ctx)
	if err != nil {
		return out
	}
	a.d.mu.Lock()
	var lan []objsync.PeerID
	for _, st := range a.d.peers {
		if st.Device != "" {
			lan = append(lan, st.Device)
		}
	}
	a.d.mu.Unlock()
	for _, p := range lan {
		if _, ok := out[p]; ok {
			continue
		}
		key, err := peerKey(p)
		if err != nil {
			continue
		}
		if i := slices.IndexFunc(devs, func(d vault.DeviceInfo) bool { return d.Key.Equal(key) }); i >= 0 {
			out[p] = peerName{devs[i].Name, "lan"}
		}
	}
	return out
}
