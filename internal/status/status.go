// Package status turns what a running device knows about its peers into
// the sync status people see, with the exact meanings of DESIGN.md:
//
//   - Preparing…: warming up, from start until the first dial attempt to
//     every configured node has ended and the first reconciliation with
//     every node connected then has finished (the device decides when, see
//     Facts.WarmingUp; a device that joins later never brings it back);
//   - Syncing…: something of the object is being uploaded or downloaded,
//     with a node or a device (its changes, or a file's chunks), or it
//     waits for a node to acknowledge it;
//   - Synced: a backup node said it holds the object's current heads (its
//     own Heads or Changes message, this session or an earlier one), and
//     nothing is pending: no change waits for its parents, none is damaged;
//   - No connection: no backup node can be reached (devices may still sync
//     directly);
//   - Not syncing: sync fails (a change was refused, the store fails, a node
//     refused this vault or speaks another protocol version) or is off.
//
// It is pure: facts in, labels out. Reasons are whole sentences and are
// never clipped.
package status

import (
	"fmt"

	"mycel/internal/objsync"
)

// Labels, exactly as shown.
const (
	Preparing    = "Preparing…"
	Syncing      = "Syncing…"
	Synced       = "Synced"
	NoConnection = "No connection"
	NotSyncing   = "Not syncing"
)

// Facts is what the device knows of one object.
type Facts struct {
	Peers  []objsync.PeerObject // connected peers
	IsNode func(objsync.PeerID) bool
	Parked int // changes received whose parents have not arrived
	// Damaged counts the object's stored changes found damaged (moved
	// aside until a peer gives them back).
	Damaged int
	// Failure, when set, stops sync for every object (a storage error, a
	// node that refused this vault or speaks another protocol version)
	// and says why.
	Failure string
	// WarmingUp, when set, says the device is still warming up and why
	// ("connecting to …", "comparing with …"): every object is Preparing….
	WarmingUp string
	// Files are the object's files: it is Synced only once a node pinned
	// every one.
	Files []FileFacts
}

// FileFacts is what the device knows of one file of an object.
type FileFacts struct {
	Name       string
	Size, Done int64 // Done: bytes a node holds
	Pinned     bool  // a node said it holds every chunk
	Here       bool  // this device holds it whole (so it uploads it)
	// Downloading: a fetch of it is under way, HereBytes of Size here.
	Downloading bool
	HereBytes   int64
	// Refused is a node's whole reason for refusing its upload.
	Refused string
}

// Object returns an object's status and, for anything but Synced, why.
func Object(f Facts) (string, string) {
	if f.Failure != "" {
		return NotSyncing, f.Failure
	}
	nodes := 0
	for _, p := range f.Peers {
		if p.Failed {
			return NotSyncing, fmt.Sprintf("a change from %s was refused", short(p.Peer))
		}
		if f.IsNode(p.Peer) {
			nodes++
		}
	}
	if f.WarmingUp != "" {
		return Preparing, f.WarmingUp
	}
	if f.Damaged > 0 {
		if len(f.Peers) == 0 {
			return NotSyncing, fmt.Sprintf("%d damaged changes, and no peer is connected to fetch them again from", f.Damaged)
		}
		return Syncing, fmt.Sprintf("fetching %d damaged changes again", f.Damaged)
	}
	if f.Parked > 0 {
		return Syncing, fmt.Sprintf("%d changes wait for earlier ones to arrive", f.Parked)
	}
	for _, fl := range f.Files {
		if !fl.Pinned && fl.Refused != "" {
			return NotSyncing, fl.Refused
		}
	}
	for _, p := range f.Peers {
		switch {
		case p.Incoming && p.Total > 0:
			return Syncing, fmt.Sprintf("downloading from %s: %d of %d changes", short(p.Peer), p.Have, p.Total)
		case p.Incoming:
			return Syncing, "downloading from " + short(p.Peer)
		case p.Outgoing > 0:
			return Syncing, fmt.Sprintf("uploading %d changes to %s", p.Outgoing, short(p.Peer))
		}
	}
	// A download is Syncing… with or without a node: a device nearby may
	// be giving the file.
	for _, fl := range f.Files {
		if fl.Downloading {
			return Syncing, fmt.Sprintf("downloading %s: %s", fl.Name, OfBytes(fl.HereBytes, fl.Size))
		}
	}
	if nodes == 0 {
		return NoConnection, "no backup node can be reached"
	}
	for _, fl := range f.Files {
		switch {
		case fl.Pinned:
		case fl.Here:
			return Syncing, fmt.Sprintf("uploading %s: %s", fl.Name, OfBytes(fl.Done, fl.Size))
		default:
			return Syncing, "waiting for the backup node to pin " + fl.Name
		}
	}
	for _, p := range f.Peers {
		if f.IsNode(p.Peer) && p.HasMine {
			return Synced, ""
		}
	}
	for _, p := range f.Peers {
		if f.IsNode(p.Peer) && !p.Reconciled {
			return Syncing, "comparing with " + short(p.Peer)
		}
	}
	return Syncing, "waiting for a backup node to acknowledge"
}

// Vault folds object statuses into the vault's: the first of Not syncing,
// Preparing…, Syncing…, No connection that any object has, else Synced
// (No connection when no node is reachable, or being connected to).
func Vault(objects []string, nodesReachable bool) string {
	rank := map[string]int{NotSyncing: 0, Preparing: 1, Syncing: 2, NoConnection: 3, Synced: 4}
	best := Synced
	if !nodesReachable {
		best = NoConnection
	}
	for _, s := range objects {
		if rank[s] < rank[best] {
			best = s
		}
	}
	return best
}

func short(p objsync.PeerID) string {
	s := string(p)
	if len(s) > 8 {
		return "…" + s[len(s)-6:]
	}
	return s
}

// OfBytes says done of total in total's unit: "12 of 40 MB", "0.5 of 3.2 GB".
func OfBytes(done, total int64) string {
	unit, name := 1.0, "B"
	for _, u := range []struct {
		n    float64
		name string
	}{{1e12, "TB"}, {1e9, "GB"}, {1e6, "MB"}, {1e3, "kB"}} {
		if float64(total) >= u.n {
			unit, name = u.n, u.name
			break
		}
	}
	num := func(n int64) string {
		v := float64(n) / unit
		if v >= 10 || v == float64(int64(v)) {
			return fmt.Sprintf("%d", int64(v))
		}
		return fmt.Sprintf("%.1f", float64(int64(v*10))/10)
	}
	return num(done) + " of " + num(total) + " " + name
}
