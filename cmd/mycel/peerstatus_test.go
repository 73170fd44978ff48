package main

import (
	"strings"
	"testing"

	"mycel/internal/device"
)

// peersOf is each peer's part in object id's status on c, by name.
func peersOf(t *testing.T, c *cli, id string) map[string]device.PeerStatus {
	out, _, err := c.run("", "status", id, "--json")
	if err != nil {
		return nil
	}
	r := jsonOf[statusReply](t, out)
	m := map[string]device.PeerStatus{}
	for _, o := range r.Objects {
		for _, p := range o.Peers {
			m[p.Name] = p
		}
	}
	return m
}

// Per-peer status on real processes: the laptop names the node and the
// phone, says each holds its latest changes and since when; once the
// phone is stopped and the laptop edits, the phone lacks them (its word
// of when it last said, last seen, 1 change to send), the node holds
// them, and the vault's line says so.
func TestStatusPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two devices")
	}
	_, _, node, a, b := laptopAndPhoneOnANode(t)
	aListen := loopbackListen(t)
	upA := start(t, "--data", a.data, "up", "--no-lan", "--listen", aListen)
	upB := start(t, "--data", b.data, "up", "--no-lan", "--peer", reachAt(t, upA))
	id := strings.TrimSpace(a.ok("new", "--title", "Plans", "--text", "One."))
	waitFor(t, "the node and the phone to hold the page", func() bool {
		ps := peersOf(t, a, id)
		return ps["the node"].Holds == device.HoldsYes && ps["phone"].Holds == device.HoldsYes && ps["phone"].Connected
	}, node, upA, upB)
	out := a.ok("status", id, "--peers")
	for _, want := range []string{"node the node", "device phone", "holds our latest changes since ", "connected"} {
		if !strings.Contains(out, want) {
			t.Errorf("status ID --peers lacks %q:\n%s", want, out)
		}
	}

	upB.stop()
	waitFor(t, "the phone to be gone", func() bool { return !peersOf(t, a, id)["phone"].Connected }, upA)
	a.ok("append", id, "--text", "Two.")
	waitFor(t, "the node to hold the edit, the phone to lack it", func() bool {
		ps := peersOf(t, a, id)
		return ps["the node"].Holds == device.HoldsYes && ps["phone"].Holds == device.HoldsNo
	}, node, upA)
	p := peersOf(t, a, id)["phone"]
	if p.Outgoing != 1 || p.OutgoingBytes <= 0 || p.Since.IsZero() || p.LastSeen.IsZero() {
		t.Errorf("the phone, away: %+v", p)
	}
	out = a.ok("status", id, "--peers")
	for _, want := range []string{"node the node", "holds our latest changes since ", "device phone", "lacks our latest changes (its word of ", "last seen ", "1 change (", ") to send"} {
		if !strings.Contains(out, want) {
			t.Errorf("status ID --peers lacks %q:\n%s", want, out)
		}
	}
	if out := a.ok("status"); !strings.Contains(out, "Peers: on the node as of ") || !strings.Contains(out, "phone has 1 page to fetch") {
		t.Errorf("the vault's status does not say where the vault is:\n%s", out)
	}
	out = a.ok("status", "--peers")
	for _, want := range []string{"node the node\t", "holds 1 of 1 pages as of ", "device phone", "holds 0 of 1 pages", "last seen ", "1 change ("} {
		if !strings.Contains(strings.ReplaceAll(out, "  ", "\t"), strings.ReplaceAll(want, "  ", "\t")) && !strings.Contains(out, strings.TrimSuffix(want, "\t")) {
			t.Errorf("status --peers lacks %q:\n%s", want, out)
		}
	}
	t.Logf("status --peers:\n%s", out)
}
