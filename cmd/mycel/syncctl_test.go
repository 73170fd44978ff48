package main

import (
	"bytes"
	"encoding/hex"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/api"
	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
)

// holdsAny lists the files under dir whose name or bytes hold one of
// needles.
func holdsAny(t *testing.T, dir string, needles ...[]byte) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, n := range needles {
			if bytes.Contains(b, n) || strings.Contains(d.Name(), string(n)) {
				found = append(found, strings.TrimPrefix(p, dir)+" holds "+string(n[:min(len(n), 12)]))
				break
			}
		}
		return nil
	})
	return found
}

// showsPart reports whether c shows object id with want in it.
func showsPart(c *cli, id, want string) func() bool {
	return func() bool {
		out, _, err := c.run("", "show", id)
		return err == nil && strings.Contains(out, want)
	}
}

// chunkNames lists the files of a data folder's chunk store.
func chunkNames(t *testing.T, data string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	filepath.WalkDir(filepath.Join(data, "chunks"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out[d.Name()] = true
		}
		return nil
	})
	return out
}

// laptopAndPhoneOnANode starts a node on a fixed loopback address and
// makes two devices of one vault (laptop, phone) that sync with it, not
// running yet.
func laptopAndPhoneOnANode(t *testing.T) (nodeData, listen string, node *proc, a, b *cli) {
	t.Helper()
	nodeData, listen = filepath.Join(t.TempDir(), "node"), loopbackListen(t)
	node = runNode(t, nodeData, listen)
	naddr := nodeAddr(t, node)
	a, b = newCLI(t), newCLI(t)
	phrase := jsonOf[map[string]string](t, a.ok("init", "--show-phrase", "--name", "laptop", "--json"))["phrase"]
	if _, errOut, err := b.run(phrase+"\n", "recover", "--name", "phone"); err != nil {
		t.Fatalf("recover: %v %s", err, errOut)
	}
	a.ok("nodes", "add", naddr)
	b.ok("nodes", "add", naddr)
	return
}

type vaultReply = statusReply

func vaultStatus(t *testing.T, c *cli) vaultReply {
	out, _, err := c.run("", "status", "--json")
	if err != nil {
		return vaultReply{}
	}
	return jsonOf[vaultReply](t, out)
}

// A page with sync off never reaches the node nor a device met directly
// (not its id, its text or its file's chunks), while the rest of the vault
// syncs and is Synced; turned on, its whole history goes out.
func TestSyncOffPageStaysOnThisDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two devices")
	}
	nodeData, listen, node, a, b := laptopAndPhoneOnANode(t)

	const secret = "the-heron-nests-under-the-third-bridge"
	private := strings.TrimSpace(a.ok("new", "--sync-off", "--title", "Diary", "--text", secret))
	dir := t.TempDir()
	photo, _ := seeded(t, dir, "private.jpg", 300<<10, 7)
	a.ok("files", "add", private, photo)
	privateChunks := chunkNames(t, a.data)
	if len(privateChunks) == 0 {
		t.Fatal("the private file made no chunks")
	}
	shared := strings.TrimSpace(a.ok("new", "--title", "Plans", "--text", "Meet at the pier."))
	photo2, _ := seeded(t, dir, "shared.jpg", 300<<10, 8)
	a.ok("files", "add", shared, photo2)
	if out := a.ok("sync"); !strings.Contains(out, private[:12]) || !strings.Contains(out, "Diary") {
		t.Fatalf("'mycel sync' does not list the page kept off:\n%s", out)
	}

	upA := start(t, "--data", a.data, "up", "--no-lan", "--listen", loopbackListen(t))
	upB := start(t, "--data", b.data, "up", "--no-lan", "--peer", reachAt(t, upA))
	var last vaultReply
	waitFor(t, "the shared page on b, a Synced, b connected to a", func() bool {
		r := vaultStatus(t, a)
		if r.Status != last.Status || r.Reason != last.Reason || len(r.Devices) != len(last.Devices) {
			t.Logf("a: %s %q, %d devices; shared on b: %v", r.Status, r.Reason, len(r.Devices), showsPart(b, shared, "Meet at the pier.")())
		}
		last = r
		return showsPart(b, shared, "Meet at the pier.")() && last.Status == "Synced" && len(last.Devices) == 1
	}, node, upA, upB)
	// Written while the device runs: a page with sync off from its first
	// change, and a file added to it, never go out either (a shared page
	// written after them arrives: sync went on meanwhile).
	before := chunkNames(t, a.data)
	const secret2 = "the-kingfisher-dives-at-dawn"
	private2 := strings.TrimSpace(a.ok("new", "--sync-off", "--title", "Diary 2", "--text", secret2))
	photo3, _ := seeded(t, dir, "private2.jpg", 300<<10, 9)
	a.ok("files", "add", private2, photo3)
	for name := range chunkNames(t, a.data) {
		if !before[name] {
			privateChunks[name] = true
		}
	}
	later := strings.TrimSpace(a.ok("new", "--title", "Later", "--text", "After the diary."))
	waitFor(t, "the later shared page on b", showsPart(b, later, "After the diary."), node, upA, upB)
	r := jsonOf[statusReply](t, a.ok("status", private, "--json"))
	if len(r.Objects) != 1 || r.Objects[0].Status != "Not syncing" || !strings.Contains(r.Objects[0].Reason, "sync is off for this page") {
		t.Fatalf("status of the page kept off: %+v", r.Objects)
	}

	raw, _ := hex.DecodeString(private)
	raw2, _ := hex.DecodeString(private2)
	needles := [][]byte{raw, []byte(private), []byte(secret), raw2, []byte(private2), []byte(secret2)}
	for name := range privateChunks {
		needles = append(needles, []byte(name))
	}
	upB.stop() // its store at rest, WAL included
	node.stop()
	for who, data := range map[string]string{"the node": nodeData, "the phone": b.data} {
		if found := holdsAny(t, data, needles...); len(found) > 0 {
			t.Errorf("%s holds the page kept off sync: %v", who, found)
		}
	}
	if out := b.ok("ls"); strings.Contains(out, "Diary") {
		t.Fatalf("the phone lists the private page:\n%s", out)
	}

	// Turned on: everything goes out, and the page is Synced.
	node = runNode(t, nodeData, listen)
	nodeAddr(t, node)
	upB = start(t, "--data", b.data, "up", "--no-lan", "--peer", reachAt(t, upA))
	a.ok("sync", "on", private)
	waitFor(t, "the page on b once shared, Synced on a", func() bool {
		return showsPart(b, private, secret)() && objectStatus(t, a, private) == "Synced"
	}, node, upA, upB)
	if out := a.ok("sync"); strings.Contains(out, private[:12]) || !strings.Contains(out, private2[:12]) {
		t.Fatalf("'mycel sync' after on:\n%s", out)
	}
}

// `mycel sync mode` switches a running up: nodes and devices are dropped
// and taken back as the mode says, and nothing written meanwhile is lost.
func TestSyncModesSwitchInARunningUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two devices")
	}
	_, _, node, a, b := laptopAndPhoneOnANode(t)
	upA := start(t, "--data", a.data, "up", "--no-lan", "--listen", loopbackListen(t))
	upB := start(t, "--data", b.data, "up", "--no-lan", "--peer", reachAt(t, upA), "--redial-every", "1s")
	logs := []*proc{node, upA, upB}
	nodeUp := func(r vaultReply) bool { return len(r.Nodes) == 1 && r.Nodes[0].Connected }
	waitFor(t, "a connected to the node and the phone", func() bool {
		r := vaultStatus(t, a)
		return nodeUp(r) && len(r.Devices) == 1 && r.Devices[0].Name == "phone" && r.Mode == "all, no LAN discovery (--no-lan)"
	}, logs...)
	id := strings.TrimSpace(a.ok("new", "--title", "Log", "--text", "one"))
	write := func(text string) {
		f := filepath.Join(t.TempDir(), "page.md")
		os.WriteFile(f, []byte(text+"\n"), 0o600)
		a.ok("write", id, "--file", f)
	}
	waitFor(t, "the page on b", showsText(b, id, "\none\n"), logs...)

	a.ok("sync", "mode", "lan-only")
	waitFor(t, "lan-only: no node, the phone still", func() bool {
		r := vaultStatus(t, a)
		return len(r.Nodes) == 1 && !r.Nodes[0].Connected && strings.Contains(r.Nodes[0].LastError, "sync mode is lan-only") &&
			len(r.Devices) == 1 && strings.HasPrefix(r.Mode, "lan-only")
	}, logs...)
	write("two")
	waitFor(t, "an edit on b, directly", showsText(b, id, "\ntwo\n"), logs...)

	a.ok("sync", "mode", "node-only")
	waitFor(t, "node-only: the node, no device", func() bool {
		r, rb := vaultStatus(t, a), vaultStatus(t, b)
		return nodeUp(r) && len(r.Devices) == 0 && len(rb.Devices) == 0 && strings.HasPrefix(r.Mode, "node-only")
	}, logs...)
	write("three")
	waitFor(t, "an edit on b, through the node", showsText(b, id, "\nthree\n"), logs...)
	waitFor(t, "the phone's log saying why the laptop refused it", func() bool {
		return strings.Contains(upB.output(), "sync mode is node-only")
	}, upB)

	a.ok("sync", "mode", "local-only")
	waitFor(t, "local-only: nothing at all", func() bool {
		r := vaultStatus(t, a)
		return r.Status == "Not syncing" && strings.Contains(r.Reason, "sync mode is local-only") &&
			len(r.Nodes) == 1 && !r.Nodes[0].Connected && len(r.Devices) == 0
	}, logs...)
	if out := a.ok("status"); !strings.Contains(out, "Sync mode: local-only") {
		t.Fatalf("status does not show the mode:\n%s", out)
	}
	write("four, offline")

	a.ok("sync", "mode", "all")
	waitFor(t, "all again: the edit made meanwhile on b, both connected", func() bool {
		r := vaultStatus(t, a)
		return showsText(b, id, "\nfour, offline\n")() && nodeUp(r) && len(r.Devices) == 1
	}, logs...)
}

// A page already on the node, kept off sync with --from-nodes, is removed
// from the node's store (at the device's signed request) and kept out:
// another device's edits of it are refused, with the reason; 'sync on'
// takes it back, and its whole history is on the node again.
func TestSyncOffFromNodesRemovesThePage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two devices")
	}
	nodeData, _, node, a, b := laptopAndPhoneOnANode(t)
	id := strings.TrimSpace(a.ok("new", "--title", "Letters", "--text", "Dear heron,"))
	upA := start(t, "--data", a.data, "up", "--no-lan")
	upB := start(t, "--data", b.data, "up", "--no-lan")
	logs := []*proc{node, upA, upB}
	waitFor(t, "the page on b, Synced on a", func() bool {
		return showsPart(b, id, "Dear heron,")() && objectStatus(t, a, id) == "Synced"
	}, logs...)
	vaultID := jsonOf[map[string]any](t, a.ok("devices", "--json"))["vault_id"].(string)
	nodeChanges := func() int {
		db, err := sqlite.Open(filepath.Join(nodeData, "vaults", vaultID, "mycel.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		obj, _ := change.ParseID(id)
		var n int
		db.View(t.Context(), func(tx store.Tx) error {
			ms, err := tx.Changes(obj, 0)
			n = len(ms)
			return err
		})
		return n
	}

	a.ok("sync", "off", id, "--from-nodes")
	waitFor(t, "a's log: removed from the node", func() bool { return strings.Contains(upA.output(), "page removed from the backup node") }, logs...)
	if n := nodeChanges(); n != 0 {
		t.Fatalf("the node still holds %d changes of the page", n)
	}
	if out := a.ok("sync"); !strings.Contains(out, "removed from the backup nodes") {
		t.Fatalf("'mycel sync' does not say the page was removed from the node:\n%s", out)
	}
	// The phone still syncs the page: its edit is refused by the node.
	f := filepath.Join(t.TempDir(), "page.md")
	os.WriteFile(f, []byte("Dear heron, the phone writes.\n"), 0o600)
	b.ok("write", id, "--file", f)
	waitFor(t, "the phone's page Not syncing, with the node's reason", func() bool {
		out, _, err := b.run("", "status", id, "--json")
		if err != nil {
			return false
		}
		r := jsonOf[statusReply](t, out)
		return len(r.Objects) == 1 && r.Objects[0].Status == "Not syncing" &&
			strings.Contains(r.Objects[0].Reason, "the backup node refused a change") && strings.Contains(r.Objects[0].Reason, "removed page")
	}, logs...)
	if n := nodeChanges(); n != 0 {
		t.Fatalf("the phone put %d changes of the removed page back on the node", n)
	}

	// Back on: the node takes it again, with its whole history.
	a.ok("sync", "on", id)
	waitFor(t, "the page Synced on a again, the phone's edit merged there", func() bool {
		return objectStatus(t, a, id) == "Synced" && showsPart(a, id, "the phone writes.")()
	}, logs...)
	if n := nodeChanges(); n < 2 {
		t.Fatalf("after sync on, the node holds %d changes of the page", n)
	}
	// Neither device takes the node's removal for a lie: a member asked.
	waitFor(t, "the page Synced on the phone too", func() bool { return objectStatus(t, b, id) == "Synced" }, logs...)
	for _, c := range []*cli{a, b} {
		if out := c.ok("status", id); strings.Contains(out, "lost or hid") {
			t.Fatalf("a device took the removal for a lie:\n%s", out)
		}
	}
}

// A command whose change a running device must hear of (a sync mode)
// says so when that device does not answer its poke: the change is
// stored, and the command succeeds, but the user learns it waits for a
// restart. With no device running, nothing is said.
func TestSilentRunningDeviceIsNamed(t *testing.T) {
	a := newCLI(t)
	a.ok("init", "--name", "laptop", "--show-phrase")
	if _, stderr, err := a.run("", "sync", "mode", "lan-only"); err != nil || stderr != "" {
		t.Fatalf("no device running: %v, %q", err, stderr)
	}
	sock := api.SocketPath(a.data)
	os.MkdirAll(filepath.Dir(sock), 0o700)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("cannot listen on a unix socket here: %v", err)
	}
	defer l.Close()
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	_, stderr, err := a.run("", "sync", "mode", "all")
	if err != nil || !strings.Contains(stderr, "did not answer") || !strings.Contains(stderr, "503") {
		t.Fatalf("a device that does not answer: %v, %q", err, stderr)
	}
	if out := a.ok("sync"); !strings.Contains(out, "Sync mode: all") {
		t.Fatalf("the mode was not stored:\n%s", out)
	}
}
