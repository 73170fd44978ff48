package main

import (
	"os"
	"strings"
	"testing"

	"mycel/internal/device"
)

// copyDir copies a stopped node's data folder: what it held then.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	os.RemoveAll(to)
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// objectReply is one object's status as c's running device reports it.
func objectReply(t *testing.T, c *cli, id string) (o struct {
	Status, Reason string
	NodeHolds      bool
}) {
	out, _, err := c.run("", "status", id, "--json")
	if err != nil {
		return o
	}
	r := jsonOf[statusReply](t, out)
	if len(r.Objects) != 1 {
		return o
	}
	o.Status, o.Reason = r.Objects[0].Status, r.Objects[0].Reason
	for _, p := range r.Objects[0].Peers {
		o.NodeHolds = o.NodeHolds || p.Node && p.HasMine
	}
	return o
}

// caught says whether c's device found the node lying about id.
func caught(t *testing.T, c *cli, id string) func() bool {
	return func() bool {
		o := objectReply(t, c, id)
		return o.Status == "Not syncing" && o.Reason == device.NodeLiedReason
	}
}

// A node that rolls back (its data folder put back as it was before it
// confirmed an edit) is caught: the page is Not syncing with the reason,
// and the device uploads the edit again, so the node holds it once more
// (a device that syncs only with it gets it).
func TestRollingBackNodeIsCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two devices")
	}
	nodeData, listen, node, a, b := laptopAndPhoneOnANode(t)
	upA := start(t, "--data", a.data, "up", "--no-lan")
	id := strings.TrimSpace(a.ok("new", "--title", "Ledger", "--text", "first entry"))
	waitFor(t, "the page Synced", func() bool { return objectStatus(t, a, id) == "Synced" }, node, upA)

	node.stop()
	old := t.TempDir() + "/node-before"
	copyDir(t, nodeData, old)
	node = runNode(t, nodeData, listen)
	nodeAddr(t, node)
	a.ok("append", id, "--text", "second entry, confirmed")
	waitFor(t, "the edit Synced (confirmed by the node)", func() bool { return objectStatus(t, a, id) == "Synced" }, node, upA)
	if caught(t, a, id)() {
		t.Fatal("an honest node was taken for a liar")
	}

	// The node forgets what it confirmed.
	node.stop()
	copyDir(t, old, nodeData)
	node = runNode(t, nodeData, listen)
	nodeAddr(t, node)
	waitFor(t, "the rollback caught", caught(t, a, id), node, upA)
	if r := vaultStatus(t, a); r.Status != "Not syncing" {
		t.Fatalf("vault status %q, want Not syncing", r.Status)
	}
	waitFor(t, "the edit uploaded again and confirmed", func() bool { return objectReply(t, a, id).NodeHolds }, node, upA)
	if !strings.Contains(upA.output(), "lost or hid changes it had confirmed") {
		t.Fatalf("the device's log does not say what the node did:\n%s", upA.output())
	}
	// It stays caught (a restart of the device keeps it).
	upA.stop()
	upA = start(t, "--data", a.data, "up", "--no-lan")
	waitFor(t, "still caught after a restart", caught(t, a, id), node, upA)

	// The node holds the edit again: the phone, which syncs only with
	// it, gets it.
	upB := start(t, "--data", b.data, "up", "--no-lan")
	waitFor(t, "the phone to get the edit from the node", showsText(b, id, "second entry, confirmed\n"), node, upA, upB)
	if caught(t, b, id)() {
		t.Fatal("the phone took the node for a liar without evidence")
	}
}
