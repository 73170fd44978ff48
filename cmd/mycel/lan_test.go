package main

import (
	"bytes"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reachAt reads the address a running `mycel up` prints for other devices.
func reachAt(t *testing.T, p *proc) string {
	return printed(t, p, "the device's address", func(l string) (string, bool) {
		rest, ok := strings.CutPrefix(l, "Other devices of the vault can reach this one at ")
		return rest, ok && strings.HasPrefix(rest, "/ip4/127.0.0.1/")
	})
}

// knowsNothingOf checks that a device of another vault holds nothing of
// the vault of laptop a: not its id nor a's device key (which its
// membership records carry), in its log or any file of its data folder.
func knowsNothingOf(t *testing.T, other *cli, up *proc, a *cli) {
	t.Helper()
	type devices struct {
		VaultID string `json:"vault_id"`
		Devices []struct{ Key string }
	}
	devs := jsonOf[devices](t, a.ok("devices", "--json"))
	secrets := []string{devs.VaultID}
	for _, d := range devs.Devices {
		secrets = append(secrets, d.Key)
	}
	for _, h := range secrets {
		raw, err := hex.DecodeString(h)
		if err != nil || len(raw) != 32 {
			t.Fatalf("not a 32-byte hex id: %q", h)
		}
		if strings.Contains(up.output(), h) {
			t.Fatalf("the stranger's log holds %s", h)
		}
		filepath.WalkDir(other.data, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, raw) || bytes.Contains(b, []byte(h)) {
				t.Errorf("the stranger's %s holds %s…", filepath.Base(p), h[:12])
			}
			return nil
		})
	}
}

// laptopPhoneStranger makes two devices of one vault (laptop, phone) and a
// device of another vault holding one object (whose id it returns).
func laptopPhoneStranger(t *testing.T) (a, b, other *cli, strangerID string) {
	a, b, other = newCLI(t), newCLI(t), newCLI(t)
	phrase := jsonOf[map[string]string](t, a.ok("init", "--show-phrase", "--name", "laptop", "--json"))["phrase"]
	if _, errOut, err := b.run(phrase+"\n", "recover", "--name", "phone"); err != nil {
		t.Fatalf("recover: %v %s", err, errOut)
	}
	other.ok("init", "--show-phrase", "--name", "stranger")
	strangerID = strings.TrimSpace(other.ok("new", "--title", "Stranger's page", "--text", "kept to itself"))
	return a, b, other, strangerID
}

// The LAN scenario on loopback, without root (mDNS off, peers given by
// address): devices sync directly while the node is gone, a device that
// drops off finds its peer again by itself, everything reaches the node
// when it is back, and a device of another vault gets nothing.
func TestDevicesSyncDirectlyOnLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and three devices")
	}
	nodeData := filepath.Join(t.TempDir(), "node")
	listen := loopbackListen(t)
	node := runNode(t, nodeData, listen)
	naddr := nodeAddr(t, node)
	a, b, other, strangerID := laptopPhoneStranger(t)
	a.ok("nodes", "add", naddr)
	b.ok("nodes", "add", naddr)

	upA := start(t, "--data", a.data, "up", "--no-lan", "--listen", loopbackListen(t))
	aAddr := reachAt(t, upA)
	bListen := loopbackListen(t)
	upB := start(t, "--data", b.data, "up", "--no-lan", "--listen", bListen, "--peer", aAddr)
	upO := start(t, "--data", other.data, "up", "--no-lan", "--peer", aAddr)

	id := strings.TrimSpace(a.ok("new", "--title", "Plans", "--text", "The heron waits."))
	shows := func(c *cli, want string) func() bool { return showsText(c, id, want) }
	waitFor(t, "the object on b", shows(b, "\nThe heron waits.\n"), node, upA, upB)

	// The node goes away: a and b still sync, directly.
	node.stop()
	vaultOf := func(c *cli) statusReply {
		out, _, err := c.run("", "status", "--json")
		if err != nil {
			return statusReply{}
		}
		return jsonOf[statusReply](t, out)
	}
	waitFor(t, "a: No connection (node), phone connected", func() bool {
		r := vaultOf(a)
		return r.Status == "No connection" && len(r.Devices) == 1 && r.Devices[0].Name == "phone"
	}, upA)
	if out := a.ok("status"); !strings.Contains(out, "Devices connected: phone") {
		t.Fatalf("status does not name the connected device:\n%s", out)
	}
	write := func(c *cli, text string) {
		f := filepath.Join(t.TempDir(), "page.md")
		os.WriteFile(f, []byte(text), 0o600)
		c.ok("write", id, "--file", f)
	}
	write(a, "The grey heron waits.\n")
	waitFor(t, "a's edit on b, directly", shows(b, "\nThe grey heron waits.\n"), upA, upB)
	write(b, "The grey heron waits by the reeds.\n")
	waitFor(t, "b's edit on a, directly", shows(a, "\nThe grey heron waits by the reeds.\n"), upA, upB)

	// b drops off; both edit; b comes back and finds a by itself.
	upB.stop()
	write(a, "The grey heron waits by the reeds. Dawn.\n")
	write(b, "The grey heron waits by the still reeds.\n")
	upB = start(t, "--data", b.data, "up", "--no-lan", "--listen", bListen)
	began := time.Now()
	merged := "\nThe grey heron waits by the still reeds. Dawn.\n"
	waitFor(t, "b back, and both merged", func() bool { return shows(a, merged)() && shows(b, merged)() }, upA, upB)
	if d := time.Since(began); d > 20*time.Second {
		t.Fatalf("reconnecting took %v, over two redial periods", d)
	}

	// The node comes back: everything reaches it, and both are Synced.
	node = runNode(t, nodeData, listen)
	nodeAddr(t, node)
	waitFor(t, "both Synced", func() bool { return vaultOf(a).Status == "Synced" && vaultOf(b).Status == "Synced" }, node, upA, upB)

	// The other vault's device got nothing, and gave nothing.
	if out := other.ok("ls"); strings.Contains(out, "Plans") || !strings.Contains(out, "Stranger's page") {
		t.Fatalf("the stranger's objects:\n%s", out)
	}
	if _, _, err := a.run("", "show", strangerID); err == nil {
		t.Fatal("a holds the stranger's object")
	}
	if !strings.Contains(upO.output(), "not a device of this vault") {
		t.Fatalf("the stranger's log does not say why it got nothing:\n%s", upO.output())
	}
	knowsNothingOf(t, other, upO, a)
}
