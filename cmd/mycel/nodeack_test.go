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

	// Trusted again (its operator fixed it): the mark is cleared in the
	// running device, and the page, which the node holds again, is Synced.
	if out := a.ok("nodes", "trust", nodeAddr(t, node)); !strings.Contains(out, "cleared on 1 page") {
		t.Fatalf("nodes trust: %s", out)
	}
	waitFor(t, "the page Synced once the node is trusted again", func() bool { return objectStatus(t, a, id) == "Synced" }, node, upA, upB)
	if out := a.ok("nodes", "trust", "--all"); !strings.Contains(out, "nothing to clear") {
		t.Fatalf("nodes trust --all, with nothing marked: %s", out)
	}
}

// twoFacedNode makes one node show two states: laptop a and phone b sync
// a page through it, then the node's data folder is copied and the copy
// served on a second address with the same key (the same node, to the
// devices), b switched to it. a's edit then reaches only the first. It
// returns the page and a's running device, listening on loopback; b is
// not running.
func twoFacedNode(t *testing.T) (id string, a, b *cli, upA *proc, naddr2 string, logs []*proc) {
	t.Helper()
	nodeData, listen, node, a, b := laptopAndPhoneOnANode(t)
	naddr1 := nodeAddr(t, node)
	upA = start(t, "--data", a.data, "up", "--no-lan", "--listen", loopbackListen(t))
	upB := start(t, "--data", b.data, "up", "--no-lan")
	id = strings.TrimSpace(a.ok("new", "--title", "Ledger", "--text", "first entry"))
	waitFor(t, "the page on b", showsText(b, id, "first entry\n"), node, upA, upB)
	waitFor(t, "the page Synced on both", func() bool { return objectStatus(t, a, id) == "Synced" && objectStatus(t, b, id) == "Synced" }, node, upA, upB)
	upB.stop()

	node.stop()
	nodeData2 := t.TempDir() + "/node-copy"
	copyDir(t, nodeData, nodeData2)
	node = runNode(t, nodeData, listen)
	node2 := runNode(t, nodeData2, loopbackListen(t))
	naddr2 = nodeAddr(t, node2)
	if p1, p2 := naddr1[strings.LastIndex(naddr1, "/"):], naddr2[strings.LastIndex(naddr2, "/"):]; p1 != p2 {
		t.Fatalf("the copy is another node: %s, %s", p1, p2)
	}
	nodeAddr(t, node)
	b.ok("nodes", "rm", naddr1)
	b.ok("nodes", "add", naddr2)

	a.ok("append", id, "--text", "second entry, confirmed to the laptop")
	waitFor(t, "a's edit Synced (confirmed)", func() bool { return objectStatus(t, a, id) == "Synced" }, node, upA)
	return id, a, b, upA, naddr2, []*proc{node, node2, upA}
}

// A node that withholds what it confirmed to one device from another is
// caught once they meet: the phone, shown the page without the laptop's
// confirmed edit (after it was confirmed), learns of the confirmation
// from the laptop and finds the node out; it uploads the edit to it.
func TestWithholdingNodeIsCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes and two devices")
	}
	id, a, b, upA, _, logs := twoFacedNode(t)
	// The phone alone with the node's second face: all looks well.
	upB := start(t, "--data", b.data, "up", "--no-lan")
	logs = append(logs, upB)
	waitFor(t, "b Synced with the withheld state", func() bool { return objectStatus(t, b, id) == "Synced" }, logs...)
	if caught(t, b, id)() || caught(t, a, id)() {
		t.Fatal("caught before the devices met")
	}
	upB.stop()
	// They meet on the LAN.
	upB = start(t, "--data", b.data, "up", "--no-lan", "--listen", loopbackListen(t), "--peer", reachAt(t, upA))
	logs = append(logs, upB)
	waitFor(t, "the phone to catch the node", caught(t, b, id), logs...)
	waitFor(t, "the edit on the phone", showsText(b, id, "second entry, confirmed to the laptop\n"), logs...)
	waitFor(t, "the phone to upload it to the node", func() bool { return objectReply(t, b, id).NodeHolds }, logs...)
	if caught(t, a, id)() {
		t.Fatal("the laptop, shown the truth, took the node for a liar")
	}
}

// A node that shows two devices diverged states (a fork: each device's
// edit confirmed to it alone) is caught by both once they meet.
func TestForkingNodeIsCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes and two devices")
	}
	id, a, b, upA, _, logs := twoFacedNode(t)
	upB := start(t, "--data", b.data, "up", "--no-lan")
	logs = append(logs, upB)
	b.ok("append", id, "--text", "an entry confirmed to the phone")
	waitFor(t, "b's edit Synced (confirmed)", func() bool { return objectStatus(t, b, id) == "Synced" }, logs...)
	if caught(t, b, id)() || caught(t, a, id)() {
		t.Fatal("caught before the devices met")
	}
	upB.stop()
	upB = start(t, "--data", b.data, "up", "--no-lan", "--listen", loopbackListen(t), "--peer", reachAt(t, upA))
	logs = append(logs, upB)
	waitFor(t, "the phone to catch the node", caught(t, b, id), logs...)
	waitFor(t, "the laptop to catch the node", caught(t, a, id), logs...)
	for _, c := range []*cli{a, b} {
		out := c.ok("show", id)
		if !strings.Contains(out, "second entry, confirmed to the laptop") || !strings.Contains(out, "an entry confirmed to the phone") {
			t.Fatalf("the edits did not merge:\n%s", out)
		}
	}
}
