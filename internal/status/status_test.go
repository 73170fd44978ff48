package status

import (
	"strings"
	"testing"

	"mycel/internal/objsync"
)

func TestObject(t *testing.T) {
	isNode := func(p objsync.PeerID) bool { return p == "node" }
	node := func(po objsync.PeerObject) objsync.PeerObject {
		po.Peer = "node"
		po.Reconciled = true
		po.Known = true
		return po
	}
	dev := func(po objsync.PeerObject) objsync.PeerObject {
		po.Peer = "phone"
		po.Reconciled = true
		po.Known = true
		return po
	}
	for _, tc := range []struct {
		name   string
		peers  []objsync.PeerObject
		parked int
		want   string
	}{
		{"nobody", nil, 0, NoConnection},
		{"node holds it", []objsync.PeerObject{node(objsync.PeerObject{HasMine: true})}, 0, Synced},
		{"node not compared yet", []objsync.PeerObject{{Peer: "node"}}, 0, Syncing},
		{"node not compared yet, acknowledged before", []objsync.PeerObject{{Peer: "node", Known: true, HasMine: true}}, 0, Synced},
		{"a device joins late", []objsync.PeerObject{node(objsync.PeerObject{HasMine: true}), {Peer: "phone"}}, 0, Synced},
		{"uploading", []objsync.PeerObject{node(objsync.PeerObject{Outgoing: 3})}, 0, Syncing},
		{"downloading", []objsync.PeerObject{node(objsync.PeerObject{Incoming: true, HasMine: true})}, 0, Syncing},
		{"waiting for parents", []objsync.PeerObject{node(objsync.PeerObject{HasMine: true})}, 2, Syncing},
		{"node has not acknowledged", []objsync.PeerObject{node(objsync.PeerObject{})}, 0, Syncing},
		{"refused", []objsync.PeerObject{node(objsync.PeerObject{HasMine: true, Failed: true})}, 0, NotSyncing},
		{"only a device, in sync", []objsync.PeerObject{dev(objsync.PeerObject{HasMine: true})}, 0, NoConnection},
		{"only a device, uploading", []objsync.PeerObject{dev(objsync.PeerObject{Outgoing: 1})}, 0, Syncing},
		{"device holds it, node not", []objsync.PeerObject{dev(objsync.PeerObject{HasMine: true}), node(objsync.PeerObject{})}, 0, Syncing},
	} {
		if got, _ := Object(Facts{Peers: tc.peers, IsNode: isNode, Parked: tc.parked}); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	if got, why := Object(Facts{Peers: []objsync.PeerObject{node(objsync.PeerObject{HasMine: true})}, IsNode: isNode, Failure: "storage error: disk full"}); got != NotSyncing || why != "storage error: disk full" {
		t.Errorf("a failure: %s (%s), want Not syncing with its reason", got, why)
	}
	if got, _ := Object(Facts{IsNode: isNode, WarmingUp: "connecting to node"}); got != Preparing {
		t.Errorf("first dial under way: %s, want Preparing", got)
	}
	synced := []objsync.PeerObject{node(objsync.PeerObject{HasMine: true})}
	if got, why := Object(Facts{Peers: synced, IsNode: isNode, Damaged: 2}); got != Syncing || why != "fetching 2 damaged changes again" {
		t.Errorf("damaged, a peer connected: %s (%s)", got, why)
	}
	if got, why := Object(Facts{IsNode: isNode, Damaged: 1}); got != NotSyncing || !strings.Contains(why, "1 damaged changes") || !strings.Contains(why, "no peer") {
		t.Errorf("damaged, nobody connected: %s (%s)", got, why)
	}
	long := "storage error: " + strings.Repeat("a very long reason ", 20)
	if _, why := Object(Facts{IsNode: isNode, Failure: long}); why != long {
		t.Errorf("reason clipped: %q", why)
	}
	down := node(objsync.PeerObject{Incoming: true, HasMine: true, IncomingCount: 28, Have: 12, Total: 40})
	if got, why := Object(Facts{Peers: []objsync.PeerObject{down}, IsNode: isNode}); got != Syncing || !strings.Contains(why, "12 of 40 changes") {
		t.Errorf("a download under way: %s (%s), want Syncing with 12 of 40 changes", got, why)
	}
}

func TestVault(t *testing.T) {
	if Vault([]string{Synced, Syncing}, true) != Syncing || Vault([]string{Synced}, false) != NoConnection ||
		Vault(nil, true) != Synced || Vault([]string{NotSyncing, Preparing}, true) != NotSyncing {
		t.Fatal("vault status wrong")
	}
}

// A page with files is Synced only once a node pinned every one; until
// then it says what moves, and a refusal stops it with the node's reason.
func TestObjectFiles(t *testing.T) {
	isNode := func(p objsync.PeerID) bool { return p == "node" }
	synced := []objsync.PeerObject{{Peer: "node", Reconciled: true, Known: true, HasMine: true}}
	photo := FileFacts{Name: "photo.jpg", Size: 40e6, Done: 12e6, Here: true}
	quota := "the backup node's limit for this vault is reached: 9.9 of 10 GiB"
	for _, c := range []struct {
		name       string
		files      []FileFacts
		want, why  string
		noNodeWant string
	}{
		{"pinned", []FileFacts{{Name: "a.png", Pinned: true}}, Synced, "", NoConnection},
		{"uploading", []FileFacts{{Name: "a.png", Pinned: true}, photo}, Syncing, "uploading photo.jpg: 12 of 40 MB", NoConnection},
		{"another device uploads it", []FileFacts{{Name: "b.pdf", Size: 3e6}}, Syncing, "waiting for the backup node to pin b.pdf", NoConnection},
		{"refused", []FileFacts{func() FileFacts { f := photo; f.Refused = quota; return f }()}, NotSyncing, quota, NotSyncing},
		// A download is Syncing… even with no node: a device nearby gives it.
		{"downloading", []FileFacts{{Name: "a.png", Pinned: true}, {Name: "film.mkv", Size: 40e6, Pinned: true, Downloading: true, HereBytes: 12e6}},
			Syncing, "downloading film.mkv: 12 of 40 MB", Syncing},
		// Pinned, not here and not being fetched: nothing moves, Synced.
		{"not downloaded", []FileFacts{{Name: "film.mkv", Size: 40e6, Pinned: true}}, Synced, "", NoConnection},
	} {
		got, why := Object(Facts{Peers: synced, IsNode: isNode, Files: c.files})
		if got != c.want || why != c.why {
			t.Errorf("%s: %s (%s), want %s (%s)", c.name, got, why, c.want, c.why)
		}
		if got, _ := Object(Facts{IsNode: isNode, Files: c.files}); got != c.noNodeWant {
			t.Errorf("%s, no node: %s, want %s", c.name, got, c.noNodeWant)
		}
	}
	for _, c := range []struct {
		done, total int64
		want        string
	}{{12e6, 40e6, "12 of 40 MB"}, {5e8, 32e8, "0.5 of 3.2 GB"}, {0, 1000, "0 of 1 kB"}, {10, 100, "10 of 100 B"}} {
		if got := OfBytes(c.done, c.total); got != c.want {
			t.Errorf("OfBytes(%d, %d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
}
