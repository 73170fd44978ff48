package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A node started without --listen listens where it did the last time, so
// a device registered before a restart syncs after it, told nothing; an
// explicit --listen replaces the recorded addresses.
func TestNodeKeepsItsAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node three times and two devices")
	}
	nodeData := filepath.Join(t.TempDir(), "node")
	node := start(t, "--data", nodeData, "node")
	first := nodeAddrs(t, node)
	tcpAddr, quicAddr := addrWith(t, first, "/tcp/"), addrWith(t, first, "/quic-v1/")
	fi, err := os.Stat(filepath.Join(nodeData, nodeAddrsFile))
	if err != nil {
		t.Fatalf("the addresses are not recorded: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("the recorded addresses have mode %v, not 0600", fi.Mode().Perm())
	}

	a := newCLI(t)
	phrase := jsonOf[map[string]string](t, a.ok("init", "--show-phrase", "--name", "laptop", "--json"))["phrase"]
	a.ok("nodes", "add", tcpAddr)
	upA := start(t, "--data", a.data, "up", "--no-lan")
	id := strings.TrimSpace(a.ok("new", "--title", "Before", "--text", "written before the restart"))
	waitFor(t, "the object Synced", func() bool { return objectStatus(t, a, id) == "Synced" }, node, upA)

	node.stop()
	a.ok("append", id, "--text", "written while the node is down")
	node = start(t, "--data", nodeData, "node")
	if again := nodeAddrs(t, node); !slices.Equal(again, first) {
		t.Fatalf("after a restart the node prints\n%q\nnot, as before,\n%q", again, first)
	}
	waitFor(t, "the edit made while the node was down Synced, the device told nothing", func() bool { return objectStatus(t, a, id) == "Synced" }, node, upA)

	// The QUIC address printed before the restart works too: a new device
	// registers there and gets the object from the node.
	b := newCLI(t)
	if _, errOut, err := b.run(phrase+"\n", "recover", "--name", "phone"); err != nil {
		t.Fatalf("recover: %v %s", err, errOut)
	}
	upA.stop() // so that b's copy can only come from the node
	b.ok("nodes", "add", quicAddr)
	upB := start(t, "--data", b.data, "up", "--no-lan")
	waitFor(t, "the object on the new device", showsText(b, id, "\nwritten while the node is down\n"), node, upB)

	// --listen replaces the recorded addresses, for this start and the next.
	node.stop()
	listen := loopbackListen(t)
	node = start(t, "--data", nodeData, "node", "--listen", listen)
	moved := nodeAddrs(t, node)
	if len(moved) != 1 || !strings.HasPrefix(moved[0], listen+"/p2p/") {
		t.Fatalf("with --listen %s the node prints %q", listen, moved)
	}
	node.stop()
	node = start(t, "--data", nodeData, "node")
	if again := nodeAddrs(t, node); !slices.Equal(again, moved) {
		t.Fatalf("after --listen and a restart without it, the node prints %q, not %q", again, moved)
	}
}

// A second node on a data folder in use fails at once, naming the folder;
// the lock goes with the process, even killed.
func TestNodeRefusesAFolderInUse(t *testing.T) {
	nodeData := filepath.Join(t.TempDir(), "node")
	node := start(t, "--data", nodeData, "node", "--listen", loopbackListen(t))
	nodeAddrs(t, node)
	errOut := mustFail(t, "--data", nodeData, "node", "--listen", loopbackListen(t))
	if !strings.Contains(errOut, "another mycel node") || !strings.Contains(errOut, nodeData) {
		t.Fatalf("a second node on %s says %q; want it to name the folder and the other node", nodeData, errOut)
	}
	node.cmd.Process.Kill()
	node.cmd.Wait()
	node = start(t, "--data", nodeData, "node")
	nodeAddrs(t, node)
}

// A recorded address another process took while the node was stopped
// fails the start, naming it; the record stays for when the port is free.
func TestRecordedAddressTaken(t *testing.T) {
	nodeData := filepath.Join(t.TempDir(), "node")
	own := loopbackListen(t)
	n := start(t, "--data", nodeData, "node", "--listen", own)
	nodeAddrs(t, n)
	n.stop()
	l, err := net.Listen("tcp", strings.TrimPrefix(strings.Replace(own, "/tcp/", ":", 1), "/ip4/"))
	if err != nil {
		t.Fatal(err)
	}
	want := own + " is in use by another process: stop it or choose another --listen"
	if errOut := mustFail(t, "--data", nodeData, "node"); !strings.Contains(errOut, want) {
		t.Fatalf("a node whose recorded port is taken says %q", errOut)
	}
	l.Close()
	n = start(t, "--data", nodeData, "node")
	if got := nodeAddrs(t, n); len(got) != 1 || !strings.HasPrefix(got[0], own+"/p2p/") {
		t.Fatalf("once the port is free again the node listens at %q, not %s", got, own)
	}
}

// mycel node --help says where the addresses are kept and how to change them.
func TestNodeHelpTeachesAddresses(t *testing.T) {
	help := strings.Join(strings.Fields(newCLI(t).ok("node", "--help")), " ") // lines rewrapped
	for _, want := range []string{"recorded in node.addrs", "stay the same from one start to the next", "start it once with --listen: those addresses replace the recorded ones", "mycel nodes add NEW"} {
		if !strings.Contains(help, want) {
			t.Errorf("mycel node --help does not say %q:\n%s", want, help)
		}
	}
}

// --registration invite: the node creates its token (mode 0600) and
// prints it; a device without it, or with another, is refused saying what
// to do; with it, registered. The next start keeps the token.
func TestNodeRegistrationByInvite(t *testing.T) {
	nodeData := filepath.Join(t.TempDir(), "node")
	listen := loopbackListen(t)
	n := start(t, "--data", nodeData, "node", "--listen", listen, "--registration", "invite")
	addr := nodeAddr(t, n)
	token := printed(t, n, "the invite token", func(l string) (string, bool) {
		_, rest, ok := strings.Cut(l, "--invite ")
		return strings.TrimSuffix(rest, "'."), ok
	})
	if fi, err := os.Stat(filepath.Join(nodeData, inviteFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("invite token file: %v %v", fi, err)
	}
	a := newCLI(t)
	a.ok("init", "--name", "laptop", "--show-phrase")
	a.fails("by invitation only", "nodes", "add", addr)
	a.fails("the invite token is not this node's", "nodes", "add", addr, "--invite", strings.Repeat("0", 40))
	a.ok("nodes", "add", addr, "--invite", token)
	n.stop()
	n = start(t, "--data", nodeData, "node", "--listen", listen, "--registration", "closed")
	nodeAddr(t, n)
	b := newCLI(t)
	b.ok("init", "--name", "other", "--show-phrase")
	b.fails("registration is closed", "nodes", "add", addr)
	a.ok("nodes", "add", addr) // a vault registered already needs no token
}

// mycel node --help teaches the registration policy and limits.
func TestNodeHelpTeachesRegistration(t *testing.T) {
	help := strings.Join(strings.Fields(newCLI(t).ok("node", "--help")), " ")
	for _, want := range []string{"--registration", "mycel nodes add ADDR --invite TOKEN", "--max-vaults", "--idle-after", "invite.token"} {
		if !strings.Contains(help, want) {
			t.Errorf("mycel node --help does not say %q", want)
		}
	}
}
