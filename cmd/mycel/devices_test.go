package main

import (
	"strings"
	"testing"
	"time"
)

type devicesReply struct {
	Devices []struct {
		Key          string     `json:"key"`
		Name         string     `json:"name"`
		This         bool       `json:"this_device"`
		LastSeen     *time.Time `json:"last_seen"`
		Connected    bool       `json:"connected"`
		ConnectedVia string     `json:"connected_via"`
	} `json:"devices"`
}

// devicesOf is c's devices by name, or nil if the command fails.
func devicesOf(t *testing.T, c *cli) map[string]int {
	out, _, err := c.run("", "devices", "--json")
	if err != nil {
		return nil
	}
	r := jsonOf[devicesReply](t, out)
	m := map[string]int{}
	for i, d := range r.Devices {
		m[d.Name] = i
	}
	return m
}

func devicesJSON(t *testing.T, c *cli) devicesReply {
	return jsonOf[devicesReply](t, c.ok("devices", "--json"))
}

// Two devices of one vault, on the LAN (loopback, peers by address): each
// shows the other connected over the LAN and when it last heard from it,
// still after `up` stops. Offline, both rename the same device; once they
// sync again both show the same name, the later rename's. A rename while
// both run reaches the other device.
func TestDevicesRenameOfflineConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two devices")
	}
	a, b := newCLI(t), newCLI(t)
	phrase := jsonOf[map[string]string](t, a.ok("init", "--show-phrase", "--name", "laptop", "--json"))["phrase"]
	if _, errOut, err := b.run(phrase+"\n", "recover", "--name", "phone"); err != nil {
		t.Fatalf("recover: %v %s", err, errOut)
	}
	aListen := loopbackListen(t)
	up := func() (upA, upB *proc) {
		upA = start(t, "--data", a.data, "up", "--no-lan", "--listen", aListen)
		aAddr := reachAt(t, upA)
		upB = start(t, "--data", b.data, "up", "--no-lan", "--peer", aAddr)
		return upA, upB
	}
	began := time.Now()
	upA, upB := up()
	connected := func(c *cli, other string) func() bool {
		return func() bool {
			for _, d := range devicesJSON(t, c).Devices {
				if d.Name == other && d.ConnectedVia == "lan" && d.Connected && d.LastSeen != nil {
					return true
				}
			}
			return false
		}
	}
	waitFor(t, "a to show the phone connected over the LAN", connected(a, "phone"), upA, upB)
	waitFor(t, "b to show the laptop connected over the LAN", connected(b, "laptop"), upA, upB)
	if out := a.ok("devices"); !strings.Contains(out, "LAN") || !strings.Contains(out, "(this device)") {
		t.Fatalf("devices does not say how the phone is connected:\n%s", out)
	}

	// Last seen is persisted: it shows with `up` stopped, not connected.
	upB.stop()
	upA.stop()
	stopped := time.Now()
	for _, c := range []*cli{a, b} {
		for _, d := range devicesJSON(t, c).Devices {
			switch {
			case d.This && d.LastSeen != nil:
				t.Errorf("this device (%s) has a last seen: %v", d.Name, d.LastSeen)
			case d.This:
			case d.LastSeen == nil || d.LastSeen.Before(began.Add(-time.Second)) || d.LastSeen.After(stopped.Add(time.Second)):
				t.Errorf("%s last seen %v, want between %v and %v", d.Name, d.LastSeen, began, stopped)
			case d.Connected || d.ConnectedVia != "":
				t.Errorf("%s shown connected with no device running", d.Name)
			}
		}
	}
	if out := a.ok("devices"); strings.Contains(out, "never") {
		t.Fatalf("devices shows the phone never seen:\n%s", out)
	}

	// Offline, both rename the phone; b's rename is the later.
	a.ok("devices", "rename", "phone", "pocket A")
	b.ok("devices", "rename", "phone", "pocket B")
	if _, ok := devicesOf(t, a)["pocket A"]; !ok {
		t.Fatal("a's rename did not take effect on a")
	}
	upA, upB = up()
	both := func(name string) func() bool {
		return func() bool {
			_, okA := devicesOf(t, a)[name]
			_, okB := devicesOf(t, b)[name]
			return okA && okB
		}
	}
	waitFor(t, "both to name the phone \"pocket B\"", both("pocket B"), upA, upB)
	for _, c := range []*cli{a, b} {
		if _, ok := devicesOf(t, c)["pocket A"]; ok {
			t.Fatal("the earlier rename is still shown")
		}
	}

	// While both run, b renames the laptop by its key prefix: a sees it.
	r := devicesJSON(t, b)
	var laptop string
	for _, d := range r.Devices {
		if d.Name == "laptop" {
			laptop = d.Key
		}
	}
	renamed := time.Now()
	b.ok("devices", "rename", laptop[:10], "desk")
	waitFor(t, "a to learn its new name", both("desk"), upA, upB)
	// The poke sends it at once; without it, it waits for the periodic
	// membership exchange (20 s).
	if d := time.Since(renamed); d > 15*time.Second {
		t.Fatalf("a rename took %v to reach the running peer", d)
	}

	// Refusals name the fix.
	if _, errOut, err := a.run("", "devices", "rename", "tablet", "x"); err == nil || !strings.Contains(errOut, "no device of this vault is named \"tablet\"") {
		t.Fatalf("renaming an unknown device: %v %s", err, errOut)
	}
	if _, errOut, err := a.run("", "devices", "rename", "desk", " "); err == nil || !strings.Contains(errOut, "cannot be empty") {
		t.Fatalf("an empty name: %v %s", err, errOut)
	}
}

// Devices that meet only through a node: a change of the laptop arriving
// on the phone is contact; neither is connected directly.
func TestDevicesLastSeenThroughANode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two devices")
	}
	_, _, node, a, b, upA, upB := setup(t)
	before := time.Now()
	id := strings.TrimSpace(a.ok("new", "--title", "Seen", "--text", "through the node"))
	waitFor(t, "the object on b", showsText(b, id, "\nthrough the node\n"), node, upA, upB)
	for _, d := range devicesJSON(t, b).Devices {
		if d.Name != "laptop" {
			continue
		}
		if d.LastSeen == nil || d.LastSeen.Before(before.Add(-time.Second)) || d.Connected || d.ConnectedVia != "" {
			t.Fatalf("through a node, b shows the laptop %+v: want last seen since %v, not connected directly", d, before)
		}
	}
	upB.stop()
	for _, d := range devicesJSON(t, b).Devices {
		if d.Name == "laptop" && (d.LastSeen == nil || d.LastSeen.Before(before.Add(-time.Second))) {
			t.Fatalf("after up stopped, b shows the laptop last seen %v", d.LastSeen)
		}
	}
}
