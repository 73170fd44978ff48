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
