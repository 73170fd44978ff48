package main

import (
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/device"
	"mycel/internal/p2p"
)

// `mycel nodes add` while `mycel up` runs: the running device dials the
// node at once (the CLI pokes it), the object reaches it and is Synced, with
// no restart. `mycel nodes rm`: the device drops the connection (the node
// sees it end) and the vault is No connection.
func TestNodesAddAndRmTakeEffectWhileUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and a device")
	}
	node := runNode(t, filepath.Join(t.TempDir(), "node"), loopbackListen(t))
	addr := nodeAddr(t, node)
	a := newCLI(t)
	a.ok("init", "--show-phrase", "--name", "laptop")
	id := strings.TrimSpace(a.ok("new", "--title", "Late node", "--text", "reaches it without a restart"))
	up := start(t, "--data", a.data, "up", "--no-lan", "--listen", loopbackListen(t))
	// The node knows the device by its device key (the address up prints
	// is its LAN host's, another key).
	devs := jsonOf[struct{ Devices []struct{ Key string } }](t, a.ok("devices", "--json"))
	key, _ := hex.DecodeString(devs.Devices[0].Key)
	peerID, err := p2p.DevicePeer(key)
	if err != nil {
		t.Fatal(err)
	}
	peer := string(peerID)
	waitFor(t, "No connection with no node", func() bool { return objectStatus(t, a, id) == "No connection" }, up)

	a.ok("nodes", "add", addr)
	waitFor(t, "the object Synced on the node added while up runs", func() bool { return objectStatus(t, a, id) == "Synced" }, up, node)

	a.ok("nodes", "rm", addr)
	waitFor(t, "the node to see the device's connection end", func() bool {
		return strings.Contains(node.output(), `msg="connection ended" peer=`+peer[len(peer)-8:])
	}, up, node)
	r := jsonOf[statusReply](t, a.ok("status", "--json"))
	if len(r.Nodes) != 0 || r.Status != "No connection" {
		t.Fatalf("after nodes rm: %s, nodes %+v", r.Status, r.Nodes)
	}
	// Ctrl-C: the API, the device, the host and the engine close in turn,
	// and it exits cleanly.
	up.stop()
	if !up.cmd.ProcessState.Success() || !strings.Contains(up.output(), "Stopped.") {
		t.Fatalf("mycel up did not stop cleanly (%v):\n%s", up.cmd.ProcessState, up.output())
	}
}

// mycel status prints every reason whole, however long.
func TestStatusPrintsReasonsWhole(t *testing.T) {
	reason := "the backup node at /ip4/127.0.0.1/tcp/4001/p2p/12D3KooWExample refused: vault not registered on this node: 0123456789ab (a device registers it with `mycel nodes add`)"
	r := statusReply{Status: "Not syncing", Reason: reason,
		Nodes:   []device.NodeStatus{{Addr: "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWExample", Refused: "vault not registered on this node: 0123456789ab (a device registers it with `mycel nodes add`)"}},
		Objects: []device.ObjectStatus{{ID: strings.Repeat("ab", 32), Title: "T", Status: "Not syncing", Reason: reason}}}
	var b strings.Builder
	printStatus(&b, r, false, false)
	out := b.String()
	if strings.Count(out, reason) != 2 || !strings.Contains(out, "refused: vault not registered on this node: 0123456789ab (a device registers it with `mycel nodes add`)") {
		t.Fatalf("a reason was clipped:\n%s", out)
	}
}
