package device

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/p2p"
	"mycel/internal/syncer"
	"mycel/internal/vault"
)

// What a peer holds of our current version of an object (PeerStatus.Holds;
// or HoldsUnknown: it never said).
const (
	HoldsYes = "yes"
	HoldsNo  = "no" // it said it holds another version
)

// heldAtEvery is how often the words noted are persisted (and once more
// as the device stops), or sooner once heldAtMost are waiting (a first
// sync: each is ~150 bytes in memory). A crash loses at most that much of
// "since": the words themselves are in the held table.
const (
	heldAtEvery = 30 * time.Second
	heldAtMost  = 4096
)

// heldTimes is when peers said which heads they hold, since it was last
// persisted (vault.Engine.NoteHeldAt): the sync loop notes each word
// (Config.Held, only when a peer's word about an object changes), the
// last-seen loop persists them every heldAtEvery.
type heldTimes struct {
	mu    sync.Mutex
	dirty map[string]map[change.ID]vault.HeldWord
	n     int           // words in dirty
	full  chan struct{} // told once n reaches heldAtMost
}

// noteHeld wraps the service's Held callback: the time of each word is
// kept, to say since when a peer holds a version.
func (d *Device) noteHeld(next func(objsync.HeldUpdate)) func(objsync.HeldUpdate) {
	return func(h objsync.HeldUpdate) {
		w := vault.HeldWord{At: time.Now().Truncate(time.Millisecond), Heads: make([]change.ID, len(h.Of))}
		for i, x := range h.Of {
			w.Heads[i] = x
		}
		d.held.mu.Lock()
		if d.held.dirty == nil {
			d.held.dirty = map[string]map[change.ID]vault.HeldWord{}
		}
		m := d.held.dirty[string(h.Peer)]
		if m == nil {
			m = map[change.ID]vault.HeldWord{}
			d.held.dirty[string(h.Peer)] = m
		}
		if _, again := m[change.ID(h.Object)]; !again {
			d.held.n++
		}
		m[change.ID(h.Object)] = w
		full := d.held.n >= heldAtMost
		d.held.mu.Unlock()
		if full {
			select {
			case d.held.full <- struct{}{}:
			default:
			}
		}
		if next != nil {
			next(h)
		}
	}
}

// pendingHeldAt is a copy of the words not yet persisted.
func (d *Device) pendingHeldAt() map[string]map[change.ID]vault.HeldWord {
	d.held.mu.Lock()
	defer d.held.mu.Unlock()
	out := make(map[string]map[change.ID]vault.HeldWord, len(d.held.dirty))
	for p, m := range d.held.dirty {
		out[p] = maps.Clone(m)
	}
	return out
}

// persistHeldAt writes the words noted since the last time.
func (d *Device) persistHeldAt(ctx context.Context) {
	d.held.mu.Lock()
	dirty := d.held.dirty
	d.held.dirty, d.held.n = nil, 0
	d.held.mu.Unlock()
	if len(dirty) == 0 {
		return
	}
	if err := d.Engine.NoteHeldAt(ctx, dirty); err != nil {
		d.cfg.Log.Warn("persist when peers said what they hold", "err", err)
		d.held.mu.Lock() // kept for the next time, unless newer words came
		for p, m := range dirty {
			for o, t := range m {
				if d.held.dirty == nil {
					d.held.dirty = map[string]map[change.ID]vault.HeldWord{}
				}
				if d.held.dirty[p] == nil {
					d.held.dirty[p] = map[change.ID]vault.HeldWord{}
				}
				if _, newer := d.held.dirty[p][o]; !newer {
					d.held.dirty[p][o] = t
					d.held.n++
				}
			}
		}
		d.held.mu.Unlock()
	}
}

// PeerSummary is one peer's part in the vault's status: how many pages it
// holds our current version of, as it said (connected now or not).
type PeerSummary struct {
	Peer      string    `json:"peer"`
	Name      string    `json:"name"`
	Key       string    `json:"key,omitempty"`  // a device's, in hex
	Addr      string    `json:"addr,omitempty"` // a node's
	Node      bool      `json:"node"`
	Connected bool      `json:"connected"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// Holding counts pages it said it holds our current version of;
	// ToFetch those it said it holds another version of (for a node, or
	// never acknowledged: what it lacks until it says otherwise);
	// Unknown those a device never said anything of (it syncs through
	// the node, say: what a device holds is known only from what it tells
	// this one directly); ForUs those it holds changes of that we lack
	// (connected).
	Holding int `json:"pages_held"`
	ToFetch int `json:"pages_to_fetch"`
	Unknown int `json:"pages_unknown,omitempty"`
	ForUs   int `json:"pages_for_us,omitempty"`
	// ChangesToSend, BytesToSend: what we hold that it lacks (connected).
	ChangesToSend int   `json:"changes_to_send,omitempty"`
	BytesToSend   int64 `json:"bytes_to_send,omitempty"`
	// AsOf is the latest word it gave of a page it holds: with ToFetch 0,
	// since when it holds the whole vault.
	AsOf    time.Time `json:"as_of,omitzero"`
	Failure string    `json:"failure,omitempty"`
}

// knownPeer is a peer of the vault, connected now or not: the configured
// nodes and the vault's other devices.
type knownPeer struct {
	id        objsync.PeerID
	name      string
	key, addr string
	node      bool
	connected bool
	lastSeen  time.Time
	failure   string
}

// peerView is what a status is computed from, per peer: who they are and
// what they said they hold.
type peerView struct {
	peers []knownPeer
	index map[objsync.PeerID]int
	held  vault.PeerHeld
	mine  map[change.ID][32]byte // hash of each object's heads, as held compares
	sum   []PeerSummary          // by index
	// lacks is what each peer not connected lacks of the objects it said
	// other heads of, by the heads it named (see countLacks).
	lacks map[lackKey]syncer.Lack
}

type lackKey struct {
	peer objsync.PeerID
	obj  change.ID
}

// countLacks asks the sync machine what each peer not connected lacks of
// each of objs it said other heads of than ours: a walk of the object's
// graph from the heads it named, 512 objects an ask of the loop.
func (v *peerView) countLacks(ctx context.Context, svc *syncer.Service, objs []change.ID) error {
	var keys []lackKey
	var qs []syncer.LackQuery
	for _, k := range v.peers {
		if k.connected {
			continue // the machine knows what it lacks now
		}
		held, at := v.held.Held[string(k.id)], v.held.At[string(k.id)]
		for _, o := range objs {
			if h, ok := held[o]; ok && h != v.mine[o] && at[o].Heads != nil {
				keys = append(keys, lackKey{k.id, o})
				qs = append(qs, syncer.LackQuery{Object: o, Theirs: at[o].Heads, Mine: v.held.Mine[o]})
			}
		}
	}
	if len(qs) == 0 {
		return nil
	}
	ls, err := svc.Lacks(ctx, qs)
	if err != nil {
		return err
	}
	v.lacks = make(map[lackKey]syncer.Lack, len(ls))
	for i, l := range ls {
		v.lacks[keys[i]] = l
	}
	return nil
}

// peerView reads the peers' facts: one read transaction for the store,
// one ask of the sync loop for the connections' last frames.
func (d *Device) peerView(ctx context.Context, nodes []NodeState) (*peerView, error) {
	v := &peerView{index: map[objsync.PeerID]int{}}
	connected := d.Service.Peers()
	frames, _ := d.Service.LastFrames(ctx)
	add := func(k knownPeer) {
		if _, dup := v.index[k.id]; dup || k.id == "" {
			return
		}
		_, k.connected = connected[k.id]
		if t, ok := frames[k.id]; ok && t.After(k.lastSeen) {
			k.lastSeen = t
		}
		v.index[k.id] = len(v.peers)
		v.peers = append(v.peers, k)
	}
	for _, n := range nodes {
		id := n.Peer
		if id == "" { // not connected this run: named by its address
			if ai, err := peer.AddrInfoFromString(n.Addr); err == nil {
				id = objsync.PeerID(ai.ID.String())
			}
		}
		k := knownPeer{id: id, name: nodeName(n.Addr, len(nodes)), addr: n.Addr, node: true, lastSeen: n.LastSeen}
		switch {
		case n.Connected:
		case n.Refused != "":
			k.failure = "refused: " + n.Refused
		case n.Incompatible:
			k.failure = "speaks another version of the sync protocol"
		case n.LastError != "":
			k.failure = "not reachable: " + n.LastError
		}
		add(k)
	}
	devs, err := d.Engine.Devices(ctx)
	if err != nil {
		return nil, err
	}
	live := d.LastSeen(ctx)
	for _, dv := range devs {
		if dv.This || dv.Removed {
			continue
		}
		id, err := p2p.DevicePeer(dv.Key)
		if err != nil {
			continue
		}
		hk := hex.EncodeToString(dv.Key)
		seen := dv.LastSeen
		if t := live[hk]; t.After(seen) {
			seen = t
		}
		add(knownPeer{id: id, name: dv.Name, key: hk, lastSeen: seen})
	}
	ids := make([]string, len(v.peers))
	for i, p := range v.peers {
		ids[i] = string(p.id)
	}
	if v.held, err = d.Engine.PeerHeld(ctx, ids); err != nil {
		return nil, err
	}
	for p, m := range d.pendingHeldAt() {
		if v.held.At[p] == nil {
			continue
		}
		for o, t := range m {
			v.held.At[p][o] = t
		}
	}
	v.mine = make(map[change.ID][32]byte, len(v.held.Mine))
	var hids []objsync.ID
	for o, hs := range v.held.Mine {
		hids = hids[:0]
		for _, h := range hs {
			hids = append(hids, h)
		}
		v.mine[o] = objsync.HeadsHash(hids)
	}
	v.sum = make([]PeerSummary, len(v.peers))
	for i, p := range v.peers {
		v.sum[i] = PeerSummary{Peer: string(p.id), Name: p.name, Key: p.key, Addr: p.addr, Node: p.node, Connected: p.connected,
			LastSeen: p.lastSeen, Failure: p.failure}
	}
	return v, nil
}

// failureOf is why sync with peer p fails, whatever the object ("" when
// it does not, or p is not known).
func (v *peerView) failureOf(p objsync.PeerID) string {
	if i, ok := v.index[p]; ok {
		return v.peers[i].failure
	}
	return ""
}

// nodeName is how a node is named: "the node" when it is the only one,
// else by its host.
func nodeName(addr string, nodes int) string {
	if nodes <= 1 {
		return "the node"
	}
	parts := strings.Split(addr, "/")
	if len(parts) > 2 {
		return "node " + parts[2]
	}
	return "node " + addr
}

// object is every known peer's part in obj's status, from what connected
// peers hold now (live, from the sync machine) and what the others said
// (persisted); it counts each in the vault's summary.
func (v *peerView) object(obj change.ID, live []objsync.PeerObject, names map[objsync.PeerID]string, isNode func(objsync.PeerID) bool, fileRefused string) []PeerStatus {
	out := make([]PeerStatus, 0, len(v.peers))
	seen := map[objsync.PeerID]bool{}
	mine, hasMine := v.mine[obj]
	for _, p := range live {
		seen[p.Peer] = true
		ps := PeerStatus{Peer: string(p.Peer), Name: names[p.Peer], Node: isNode(p.Peer), Connected: true,
			HasMine: p.HasMine, Outgoing: p.Outgoing, OutgoingBytes: p.OutgoingBytes, Incoming: p.Incoming,
			IncomingCount: p.IncomingCount, Have: p.Have, Total: p.Total, Holds: HoldsUnknown}
		switch {
		case p.HasMine:
			ps.Holds = HoldsYes
		case p.Known:
			ps.Holds = HoldsNo
		}
		if p.Failed {
			ps.Failure = "a change from it was refused: it is not asked for again until the next comparison"
		}
		i, known := v.index[p.Peer]
		if known {
			k := v.peers[i]
			ps.Name, ps.Key, ps.Addr, ps.LastSeen = k.name, k.key, k.addr, k.lastSeen
			if ps.Failure == "" {
				ps.Failure = k.failure
			}
			ps.Since = v.held.At[string(p.Peer)][obj].At
		}
		if ps.Node && ps.Failure == "" {
			ps.Failure = fileRefused
		}
		out = append(out, ps)
		if known {
			v.count(i, ps)
		}
	}
	for i, k := range v.peers {
		if seen[k.id] {
			continue
		}
		ps := PeerStatus{Peer: string(k.id), Name: k.name, Key: k.key, Addr: k.addr, Node: k.node, Connected: k.connected,
			LastSeen: k.lastSeen, Failure: k.failure, Holds: HoldsUnknown}
		if h, ok := v.held.Held[string(k.id)][obj]; ok {
			w := v.held.At[string(k.id)][obj]
			ps.Since, ps.Holds = w.At, HoldsNo
			if hasMine && h == mine {
				ps.Holds, ps.HasMine = HoldsYes, true
			} else if l, ok := v.lacks[lackKey{k.id, obj}]; ok {
				ps.Outgoing, ps.OutgoingBytes = l.Changes, l.Bytes // by the heads it last named
			}
		}
		if ps.Node && ps.Failure == "" {
			ps.Failure = fileRefused
		}
		out = append(out, ps)
		v.count(i, ps)
	}
	return out
}

// count adds one object's part of peer i to its summary.
func (v *peerView) count(i int, ps PeerStatus) {
	s := &v.sum[i]
	switch {
	case ps.Holds == HoldsYes:
		s.Holding++
		if ps.Since.After(s.AsOf) {
			s.AsOf = ps.Since
		}
	case ps.Holds == HoldsNo || ps.Node:
		s.ToFetch++
	default:
		s.Unknown++
	}
	if ps.Incoming {
		s.ForUs++
	}
	s.ChangesToSend += ps.Outgoing
	s.BytesToSend += ps.OutgoingBytes
}

// summary says where the vault is, from the peers' counts: "on the node as
// of 12:04; phone has 3 pages to fetch".
func summary(sum []PeerSummary, now time.Time) string {
	var parts []string
	for _, s := range sum {
		var p string
		switch {
		case s.Node && s.ToFetch == 0 && s.Holding > 0:
			p = "on " + s.Name + asOf(s.AsOf, now)
		case s.Node && s.ToFetch > 0:
			p = fmt.Sprintf("%s lacks %s", s.Name, pages(s.ToFetch))
			if s.Holding > 0 {
				p += fmt.Sprintf(" (holds %d%s)", s.Holding, asOf(s.AsOf, now))
			}
		case s.ToFetch > 0:
			p = fmt.Sprintf("%s has %s to fetch", s.Name, pages(s.ToFetch))
		case s.Holding > 0 && s.Unknown == 0:
			p = s.Name + " has everything" + asOf(s.AsOf, now)
		}
		if !s.Node && s.Unknown > 0 && s.Holding+s.ToFetch > 0 {
			if p == "" {
				p = s.Name + " holds " + pages(s.Holding) + asOf(s.AsOf, now)
			}
			p += fmt.Sprintf(" (%d not known)", s.Unknown)
		}
		if s.ForUs > 0 {
			if p != "" {
				p += ", "
			} else {
				p = s.Name + " "
			}
			p += fmt.Sprintf("has changes of %s for us", pages(s.ForUs))
		}
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "; ")
}

func pages(n int) string {
	if n == 1 {
		return "1 page"
	}
	return fmt.Sprintf("%d pages", n)
}

// asOf is " as of 15:04" (today; else with the date), or "" when the time
// is not known (a word persisted before times were).
func asOf(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	t, now = t.Local(), now.Local()
	if y, m, dd := t.Date(); y == now.Year() && m == now.Month() && dd == now.Day() {
		return " as of " + t.Format("15:04")
	}
	return " as of " + t.Format("2 Jan 15:04")
}

// sortSummary orders peers as status lists them: nodes, then devices by name.
func sortSummary(sum []PeerSummary) {
	slices.SortStableFunc(sum, func(a, b PeerSummary) int {
		if a.Node != b.Node {
			if a.Node {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
}
