package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The activity log names who did what: edits sent to and received from
// the node and a device met directly, by their names; concurrent offline
// edits merged, by both devices' names; a file pinned on the node. It
// survives the device stopping, and --object, --errors and --json filter
// and shape it.
func TestActivityLogNamesPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two devices")
	}
	_, _, node, a, b := laptopAndPhoneOnANode(t)
	id := strings.TrimSpace(a.ok("new", "--title", "Heron notes", "--text", "first"))
	upA := start(t, "--data", a.data, "up", "--no-lan", "--listen", loopbackListen(t))
	bListen := loopbackListen(t)
	upB := start(t, "--data", b.data, "up", "--no-lan", "--listen", bListen, "--peer", reachAt(t, upA))
	logs := []*proc{node, upA, upB}
	logShows := func(c *cli, want ...string) func() bool {
		return func() bool {
			out, _, err := c.run("", "log", "-n", "0")
			if err != nil {
				return false
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, "b's log: the page received, named, from the node or the laptop", logShows(b, "of "+id[:12]+" (Heron notes) from"), logs...)
	waitFor(t, "a's log: sent to the node and to the phone, named", logShows(a, "to backup node /ip4/127.0.0.1/", "to phone (directly)", "connected to phone (directly)"), logs...)

	// Concurrent offline edits: merged, naming both.
	upB.stop()
	write := func(c *cli, text string) {
		f := filepath.Join(t.TempDir(), "page.md")
		os.WriteFile(f, []byte(text), 0o600)
		c.ok("write", id, "--file", f)
	}
	write(a, "first, from the laptop\n")
	write(b, "first, from the phone\n")
	upB = start(t, "--data", b.data, "up", "--no-lan", "--listen", bListen, "--peer", reachAt(t, upA))
	logs[2] = upB
	waitFor(t, "a merge logged on a, naming both", logShows(a, "merged concurrent edits of "+id[:12]+" (Heron notes) by laptop, phone"), logs...)

	// A file: pinned on the node.
	f := filepath.Join(t.TempDir(), "heron.jpg")
	os.WriteFile(f, []byte(strings.Repeat("heron ", 50000)), 0o600)
	a.ok("files", "add", id, f)
	waitFor(t, "the file pinned, logged", logShows(a, "of "+id[:12]+" (Heron notes) pinned on backup node"), logs...)

	upA.stop()
	out := a.ok("log", "--object", id[:8], "-n", "0")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(l, id[:12]) {
			t.Fatalf("--object shows a line of another object: %q", l)
		}
	}
	if out := a.ok("log", "--errors"); !strings.Contains(out, "No line of the log matches.") {
		t.Fatalf("--errors shows lines with no refusal:\n%s", out)
	}
	type entries struct {
		Entries []struct{ Kind, Name, Object string } `json:"entries"`
	}
	js := jsonOf[entries](t, a.ok("log", "--json", "-n", "3"))
	if len(js.Entries) != 3 {
		t.Fatalf("-n 3 --json: %d entries", len(js.Entries))
	}
	// The log holds names and ids, never the page's text.
	for _, c := range []*cli{a, b} {
		raw, err := os.ReadFile(filepath.Join(c.data, "activity.jsonl"))
		if err != nil || strings.Contains(string(raw), "from the laptop") || strings.Contains(string(raw), "Heron notes") {
			t.Fatalf("the activity log holds content, or is missing: %v", err)
		}
	}
}
