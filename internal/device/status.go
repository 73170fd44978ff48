package device

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/status"
	"mycel/internal/store"
	"mycel/internal/vault"
)

// PeerStatus is one peer's part in an object's status: a node or another
// device of the vault, connected now or not (what it said it holds is
// persisted, so it is known while it is away).
type PeerStatus struct {
	Peer      string `json:"peer"`
	Name      string `json:"name"`
	Key       string `json:"key,omitempty"`  // a device's key, in hex
	Addr      string `json:"addr,omitempty"` // a node's address
	Node      bool   `json:"node,omitempty"`
	Connected bool   `json:"connected,omitempty"`
	HasMine   bool   `json:"holds_our_heads,omitempty"`
	// Holds: whether it holds our current version (HoldsYes, HoldsNo,
	// HoldsUnknown), by its own word; Since: when it last said which
	// version it holds (with HoldsYes, since when it holds it).
	Holds    string    `json:"holds"`
	Since    time.Time `json:"since,omitzero"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Outgoing int       `json:"changes_to_send,omitempty"`
	// OutgoingBytes: what those changes take (connected peers).
	OutgoingBytes int64 `json:"bytes_to_send,omitempty"`
	Incoming      bool  `json:"has_changes_for_us,omitempty"`
	// How many changes we lack that the peer holds, when it has said how
	// many it holds (it does with every batch it sends).
	IncomingCount int `json:"changes_to_receive,omitempty"`
	// While downloading from the peer: how many of the object's changes
	// this device has, of how many in all ("n of m changes").
	Have  int `json:"have,omitempty"`
	Total int `json:"total,omitempty"`
	// Failure is why sync with it fails, if it does: a change from it
	// refused, the node refused this vault or cannot be reached, or
	// refused a file of the page (its quota).
	Failure string `json:"failure,omitempty"`
}

// ObjectStatus is an object's sync status.
type ObjectStatus struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Waiting int    `json:"changes_waiting_for_parents,omitempty"`
	Damaged int    `json:"damaged_changes,omitempty"`
	// Equivocating names the devices that signed different changes of the
	// object at the same counters (one of each such pair is kept out of
	// the page, the same one everywhere).
	Equivocating []Equivocating `json:"equivocating_devices,omitempty"`
	Peers        []PeerStatus   `json:"peers"`
	// Files: where each of the page's files is (files.go).
	Files []FileState `json:"files,omitempty"`
}

// Equivocating is a device that signed overlapping changes of an object.
type Equivocating struct {
	Key   string `json:"key"`
	Name  string `json:"name"`
	Inert int    `json:"changes_kept_out"`
}

// VaultStatus is the status of the whole vault and of its objects.
type VaultStatus struct {
	Status  string         `json:"status"`
	Reason  string         `json:"reason,omitempty"` // why it is Not syncing (or Preparing…)
	Nodes   []NodeStatus   `json:"nodes"`
	Devices []PeerStatus   `json:"devices_connected"`
	Objects []ObjectStatus `json:"objects"`
	// Peers is each node and other device of the vault (connected or
	// not) and how many pages it holds; Summary says it in a line ("on
	// the node as of 12:04; phone has 3 pages to fetch").
	Peers   []PeerSummary `json:"peers"`
	Summary string        `json:"summary,omitempty"`
	// FilesPending counts files no node has pinned yet; Files counts the
	// files by what is left to do of them.
	FilesPending int          `json:"files_pending,omitempty"`
	Files        FilesSummary `json:"files,omitzero"`
}

// FilesSummary counts files by state (FileState.State): what moves, what
// waits, and what is not on this device.
type FilesSummary struct {
	Uploading     int `json:"uploading,omitempty"`
	Waiting       int `json:"waiting_for_pinning,omitempty"` // another device uploads them
	Refused       int `json:"refused,omitempty"`
	Downloading   int `json:"downloading,omitempty"`
	NotDownloaded int `json:"not_downloaded,omitempty"` // pinned, not all here
}

func (s *FilesSummary) count(state string) {
	switch state {
	case "uploading":
		s.Uploading++
	case "waiting for pinning":
		s.Waiting++
	case "refused":
		s.Refused++
	case "downloading":
		s.Downloading++
	case "not downloaded":
		s.NotDownloaded++
	}
}

// NodeStatus is a configured node's reachability.
type NodeStatus struct {
	Addr         string    `json:"addr"`
	Connected    bool      `json:"connected"`
	Incompatible bool      `json:"incompatible,omitempty"`
	Refused      string    `json:"refused,omitempty"` // the node's reason, whole
	LastSeen     time.Time `json:"last_seen,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
}

// Status computes the vault's status; with only set, of that object alone
// (each object listing its connected peers: StatusOf says which).
func (d *Device) Status(ctx context.Context, only *change.ID) (VaultStatus, error) {
	return d.StatusOf(ctx, StatusOptions{Only: only})
}

// PeerList says which peers each object of a status lists.
type PeerList int

const (
	ConnectedPeers PeerList = iota // those connected now
	AllPeers                       // every node and other device, connected or not
	PendingPeers                   // of all, those that lack our version, have changes for us, or fail
	NoPeers                        // none: the vault's line and its Peers say enough
)

// ParsePeerList reads the API's ?peers= ("", "1" or "all", "pending", "none").
func ParsePeerList(s string) (PeerList, error) {
	switch s {
	case "":
		return ConnectedPeers, nil
	case "1", "all":
		return AllPeers, nil
	case "pending":
		return PendingPeers, nil
	case "none":
		return NoPeers, nil
	}
	return 0, fmt.Errorf("peers=%q: want all, pending or none", s)
}

// StatusOptions says what a status holds.
type StatusOptions struct {
	Only  *change.ID // one object's, not the vault's
	Peers PeerList   // which peers each object lists
}

// StatusOf computes the vault's status, or one object's.
func (d *Device) StatusOf(ctx context.Context, opt StatusOptions) (VaultStatus, error) {
	only := opt.Only
	vs := VaultStatus{Nodes: []NodeStatus{}, Devices: []PeerStatus{}, Objects: []ObjectStatus{}, Peers: []PeerSummary{}}
	nodePeers := map[objsync.PeerID]bool{}
	reachable := false
	nodes := d.Nodes()
	for _, n := range nodes {
		vs.Nodes = append(vs.Nodes, NodeStatus{Addr: n.Addr, Connected: n.Connected, Incompatible: n.Incompatible,
			Refused: n.Refused, LastSeen: n.LastSeen, LastError: n.LastError})
		if n.Peer != "" {
			nodePeers[n.Peer] = true
		}
		reachable = reachable || n.Connected
	}
	if d.NodesOff() {
		// The mode dials no node: those configured are listed, and why.
		if addrs, err := d.Engine.Nodes(ctx); err == nil {
			for _, a := range addrs {
				vs.Nodes = append(vs.Nodes, NodeStatus{Addr: a, LastError: "not dialed: this device's sync mode is " + d.Mode()})
			}
		}
	}
	isNode := func(p objsync.PeerID) bool { return nodePeers[p] }
	warm := d.warmingUp()
	// Failures that stop sync for every object.
	d.mu.Lock()
	mode := d.mode
	d.mu.Unlock()
	if err := d.Service.StoreError(); err != nil {
		vs.Reason = "storage error: " + err.Error()
	} else if mode.err != "" {
		vs.Reason = mode.err + ": 'mycel sync mode all' sets it again"
	} else if !mode.nodes && !mode.devices {
		vs.Reason = "this device's sync mode is " + d.Mode() + ": nothing leaves it ('mycel sync mode all' syncs again)"
	} else if !reachable {
		for _, n := range nodes {
			switch {
			case vs.Reason != "":
			case n.Refused != "":
				vs.Reason = "the backup node at " + n.Addr + " refused: " + n.Refused
			case n.Incompatible:
				vs.Reason = "the node at " + n.Addr + " speaks another version of the sync protocol: upgrade mycel on whichever side is older"
			}
		}
	}
	names := d.deviceNames(ctx)
	pv, err := d.peerView(ctx, nodes)
	if err != nil {
		return vs, err
	}
	for p := range d.Service.Peers() {
		if !isNode(p) {
			ps := PeerStatus{Peer: string(p), Name: names[p]}
			if k, err := peerKey(p); err == nil {
				ps.Key = hex.EncodeToString(k)
			}
			vs.Devices = append(vs.Devices, ps)
		}
	}
	slices.SortFunc(vs.Devices, func(a, b PeerStatus) int { return strings.Compare(a.Peer, b.Peer) })
	var objs []store.Object
	if only != nil { // its row alone, not the vault's
		o, err := d.Engine.ObjectInfo(ctx, *only)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return vs, err
		}
		if err == nil {
			objs = append(objs, o)
		}
	} else if objs, err = d.Engine.List(ctx, vault.ListOptions{All: true}); err != nil {
		return vs, err
	}
	off, err := d.Engine.SyncOff(ctx)
	if err != nil {
		return vs, err
	}
	// What sync knows of each object, asked of the loop in batches with
	// our heads read in one query (pv), and the store's facts by set: a
	// query or two for the vault, not five an object.
	var ids []change.ID
	var mine [][]change.ID
	for _, o := range objs {
		if (only == nil || o.ID == *only) && !off[o.ID] {
			ids = append(ids, o.ID)
			mine = append(mine, pv.held.Mine[o.ID])
		}
	}
	live, liveErr := d.Service.Objects(ctx, ids, mine)
	if liveErr == nil && (opt.Peers == AllPeers || opt.Peers == PendingPeers) {
		// What peers away lack, when they are listed.
		liveErr = pv.countLacks(ctx, d.Service, ids)
	}
	if liveErr != nil {
		if ctx.Err() != nil {
			return vs, liveErr
		}
		if vs.Reason == "" {
			vs.Reason = liveErr.Error() // the store failed: "storage error: …"
		}
	}
	facts, err := d.Engine.StatusFacts(ctx)
	if err != nil {
		return vs, err
	}
	var labels []string
	next := 0
	for _, o := range objs {
		if only != nil && o.ID != *only {
			continue
		}
		if off[o.ID] {
			// Not a failure: not counted in the vault's status either.
			vs.Objects = append(vs.Objects, ObjectStatus{ID: o.ID.String(), Title: o.Title, Status: status.NotSyncing,
				Reason: "sync is off for this page ('mycel sync on " + o.ID.Short() + "' shares it again)", Peers: []PeerStatus{}})
			continue
		}
		failure := d.nodeLied(o.ID, vs.Reason) // a node caught lying about it (nodeacks.go)
		var peers []objsync.PeerObject
		if liveErr == nil {
			peers = live[next]
		}
		next++
		if failure == "" {
			failure = d.refusedBy(peers, isNode, names, o.ID)
		}
		parked, damaged := facts.Parked[o.ID], facts.Damaged[o.ID]
		var fstates []FileState
		var ffacts []status.FileFacts
		if facts.Chunked[o.ID] {
			if fstates, ffacts, err = d.fileFacts(ctx, o.ID); err != nil {
				return vs, err
			}
		}
		for _, f := range fstates {
			if !f.Pinned {
				vs.FilesPending++
			}
			vs.Files.count(f.State)
		}
		label, reason := status.Object(status.Facts{Peers: peers, IsNode: isNode, Parked: parked, Damaged: damaged,
			Failure: failure, WarmingUp: warm, Files: ffacts})
		var eqs []vault.Equivocator
		if facts.Inert[o.ID] {
			if eqs, err = d.Engine.Equivocators(ctx, o.ID); err != nil {
				return vs, err
			}
		}
		os := ObjectStatus{ID: o.ID.String(), Title: o.Title, Status: label, Reason: reason, Waiting: parked, Damaged: damaged, Peers: []PeerStatus{}, Files: fstates}
		for _, q := range eqs {
			os.Equivocating = append(os.Equivocating, Equivocating{Key: hex.EncodeToString(q.Key), Name: q.Name, Inert: q.Inert})
		}
		refused := ""
		for _, f := range ffacts {
			if !f.Pinned && f.Refused != "" {
				refused = f.Refused
			}
		}
		for _, ps := range pv.object(o.ID, peers, names, isNode, refused) {
			if only == nil {
				// The peer's own facts are said once, in vs.Peers.
				ps.Key, ps.Addr, ps.LastSeen = "", "", time.Time{}
			}
			if opt.Peers.lists(ps, pv.failureOf(objsync.PeerID(ps.Peer))) {
				os.Peers = append(os.Peers, ps)
			}
		}
		vs.Objects = append(vs.Objects, os)
		labels = append(labels, label)
	}
	sortSummary(pv.sum)
	vs.Peers = pv.sum
	vs.Summary = summary(pv.sum, time.Now())
	vs.Status = status.Vault(labels, reachable || warm != "")
	switch {
	case vs.Reason != "": // a failure that stops sync for every object
		vs.Status = status.NotSyncing
	case warm != "" && vs.Status != status.NotSyncing:
		vs.Status, vs.Reason = status.Preparing, warm
	}
	return vs, nil
}

// deviceNames maps connected peers to device names from the membership log.
func (d *Device) deviceNames(ctx context.Context) map[objsync.PeerID]string {
	out := map[objsync.PeerID]string{}
	devs, err := d.Engine.Devices(ctx)
	if err != nil {
		return out
	}
	for p := range d.Service.Peers() {
		key, err := peerKey(p)
		if err != nil {
			continue
		}
		for _, dv := range devs {
			if dv.Key.Equal(key) {
				out[p] = dv.Name
			}
		}
	}
	return out
}

// refusedBy is why a peer that lacks our heads of obj said it refused a
// change of it ("" if none did): a node's reason first.
func (d *Device) refusedBy(peers []objsync.PeerObject, isNode func(objsync.PeerID) bool, names map[objsync.PeerID]string, obj change.ID) string {
	why := ""
	for _, p := range peers {
		if p.HasMine {
			continue
		}
		r := d.Service.Refusal(p.Peer, obj)
		switch {
		case r == "":
		case isNode(p.Peer):
			return "the backup node refused a change: " + r
		case why == "":
			who := names[p.Peer]
			if who == "" {
				who = "a device"
			}
			why = who + " refused a change: " + r
		}
	}
	return why
}

// lists says whether an object's status lists peer ps. Pending: one that
// is known to lack our version (a device that never said is not: it syncs
// through the node, say), has changes for us, or fails with this object
// (beyond what fails with the peer itself, peerFailure, said once).
func (l PeerList) lists(ps PeerStatus, peerFailure string) bool {
	switch l {
	case AllPeers:
		return true
	case PendingPeers:
		return ps.Holds == HoldsNo || (ps.Holds == HoldsUnknown && ps.Node) || ps.Outgoing > 0 || ps.Incoming ||
			(ps.Failure != "" && ps.Failure != peerFailure)
	case NoPeers:
		return false
	}
	return ps.Connected
}
