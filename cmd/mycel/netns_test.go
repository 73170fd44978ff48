package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// netns is a small network built of Linux network namespaces: hosts joined
// by a bridge in the root namespace, at 192.0.2.1, .2, … (a documentation
// range). The test that makes it removes it.
type netns struct {
	t      *testing.T
	prefix string // of every name, unique to this test process
	hosts  int
}

func newNetns(t *testing.T, hosts int) *netns {
	t.Helper()
	n := &netns{t: t, prefix: fmt.Sprintf("my%d", os.Getpid()%100000), hosts: hosts}
	// Root without the capability (a container without CAP_SYS_ADMIN and
	// CAP_NET_ADMIN) cannot make namespaces: say so rather than fail.
	probe := n.prefix + "probe"
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("cannot create network namespaces here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	exec.Command("ip", "netns", "del", probe).Run()
	t.Cleanup(n.remove)
	n.ip("link", "add", n.bridge(), "type", "bridge", "mcast_snooping", "0")
	n.ip("link", "set", n.bridge(), "up")
	for h := 1; h <= hosts; h++ {
		ns, outer, inner := n.ns(h), n.veth(h), n.veth(h)+"i"
		n.ip("netns", "add", ns)
		n.ip("link", "add", outer, "type", "veth", "peer", "name", inner)
		n.ip("link", "set", inner, "netns", ns)
		n.ip("link", "set", outer, "master", n.bridge())
		n.ip("link", "set", outer, "up")
		n.ip("-n", ns, "link", "set", inner, "name", "eth0")
		n.ip("-n", ns, "addr", "add", fmt.Sprintf("%s/24", n.addr(h)), "dev", "eth0")
		n.ip("-n", ns, "link", "set", "eth0", "up")
		n.ip("-n", ns, "link", "set", "lo", "up")
	}
	return n
}

func (n *netns) bridge() string    { return n.prefix + "br" }
func (n *netns) ns(h int) string   { return fmt.Sprintf("%sh%d", n.prefix, h) }
func (n *netns) veth(h int) string { return fmt.Sprintf("%sv%d", n.prefix, h) }
func (n *netns) addr(h int) string { return fmt.Sprintf("192.0.2.%d", h) }

func (n *netns) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cut takes host h off the network (its cable leaves the bridge, as when a
// laptop leaves the Wi-Fi), or puts it back. (Setting the link down instead
// works too, but then this kernel passes no traffic between the namespaces
// for 25–40 s after it comes back up, measured with a plain TCP client:
// that would time the kernel, not mycel.)
func (n *netns) cut(h int, off bool) {
	if off {
		n.ip("link", "set", n.veth(h), "nomaster")
	} else {
		n.ip("link", "set", n.veth(h), "master", n.bridge())
	}
}

func (n *netns) remove() {
	for h := 1; h <= n.hosts; h++ {
		exec.Command("ip", "netns", "del", n.ns(h)).Run()
	}
	exec.Command("ip", "link", "del", n.bridge()).Run()
}

// start runs mycel on host h.
func (n *netns) start(h int, args ...string) *proc {
	n.t.Helper()
	p := &proc{cmd: exec.Command("ip", append([]string{"netns", "exec", n.ns(h), bin}, args...)...)}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { p.stop() })
	return p
}

// run runs a mycel command on host h (one that uses the network).
func (n *netns) run(h int, c *cli, args ...string) string {
	n.t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.ns(h), bin, "--data", c.data}, args...)...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("mycel %s on host %d: %v\n%s", strings.Join(args, " "), h, err, out)
	}
	return string(out)
}

// The LAN scenario on four hosts: 1 runs the node, 2 and 3 devices of one
// vault, 4 a device of another vault. 2 and 3 find each other by mDNS;
// with the node cut off they sync directly; 3 cut off and back finds 2 again
// by itself; the node back, everything reaches it. 4 learns nothing.
func TestLANWithNetworkNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a network of namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (ip netns); CI runs it as root. TestDevicesSyncDirectlyOnLoopback runs the same logic without.")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
	n := newNetns(t, 4)
	nodeData := filepath.Join(t.TempDir(), "node")
	node := n.start(1, "--data", nodeData, "node", "--listen", "/ip4/192.0.2.1/tcp/4001")
	naddr := printed(t, node, "the node's address", func(l string) (string, bool) {
		return l, strings.HasPrefix(l, "/ip4/192.0.2.1/tcp/4001/p2p/")
	})
	a, b, other, strangerID := laptopPhoneStranger(t)
	n.run(2, a, "nodes", "add", naddr)
	n.run(3, b, "nodes", "add", naddr)
	upA := n.start(2, "--data", a.data, "up")
	upB := n.start(3, "--data", b.data, "up")
	upO := n.start(4, "--data", other.data, "up")
	logs := []*proc{node, upA, upB, upO}
	vaultOf := func(c *cli) statusReply {
		out, _, err := c.run("", "status", "--json")
		if err != nil {
			return statusReply{}
		}
		return jsonOf[statusReply](t, out)
	}
	phoneConnected := func() bool {
		for _, d := range vaultOf(a).Devices {
			if d.Name == "phone" {
				return true
			}
		}
		return false
	}
	began := time.Now()
	waitFor(t, "laptop and phone to find each other by mDNS", phoneConnected, logs...)
	t.Logf("found each other by mDNS in %v", time.Since(began))

	id := strings.TrimSpace(a.ok("new", "--title", "Plans", "--text", "The heron waits."))
	shows := func(c *cli, want string) func() bool { return showsText(c, id, want) }
	waitFor(t, "the object on the phone", shows(b, "\nThe heron waits.\n"), logs...)
	write := func(c *cli, text string) {
		f := filepath.Join(t.TempDir(), "page.md")
		os.WriteFile(f, []byte(text), 0o600)
		c.ok("write", id, "--file", f)
	}

	// The node is cut off: edits to the same paragraph go directly.
	n.cut(1, true)
	cutAt := time.Now()
	write(a, "The grey heron waits.\n")
	waitFor(t, "the laptop's edit on the phone, directly", shows(b, "\nThe grey heron waits.\n"), logs...)
	write(b, "The grey heron waits by the reeds.\n")
	waitFor(t, "the phone's edit on the laptop, directly", shows(a, "\nThe grey heron waits by the reeds.\n"), logs...)
	waitFor(t, "No connection for the node, the phone connected", func() bool {
		return vaultOf(a).Status == "No connection" && phoneConnected()
	}, logs...)
	t.Logf("the node cut off: No connection after %v", time.Since(cutAt))

	// The phone is cut off; both edit; it comes back and they converge by
	// themselves within two redial periods.
	n.cut(3, true)
	waitFor(t, "the laptop to see the phone gone", func() bool { return !phoneConnected() }, logs...)
	write(a, "The grey heron waits by the reeds. Dawn.\n")
	write(b, "The grey heron waits by the still reeds.\n")
	n.cut(3, false)
	back := time.Now()
	merged := "\nThe grey heron waits by the still reeds. Dawn.\n"
	waitFor(t, "laptop and phone to converge", func() bool { return shows(a, merged)() && shows(b, merged)() }, logs...)
	if d := time.Since(back); d > 20*time.Second {
		t.Fatalf("converging took %v, over two redial periods", d)
	}
	t.Logf("the phone back: converged in %v", time.Since(back))

	// The node is back: everything reaches it; both are Synced.
	n.cut(1, false)
	back = time.Now()
	waitFor(t, "both Synced", func() bool { return vaultOf(a).Status == "Synced" && vaultOf(b).Status == "Synced" }, logs...)
	t.Logf("the node back: both Synced in %v", time.Since(back))

	// The other vault's device found them, got nothing and learned nothing.
	waitFor(t, "the stranger to have met them", func() bool { return strings.Contains(upO.output(), "not a device of this vault") }, upO)
	if out := other.ok("ls"); strings.Contains(out, "Plans") || !strings.Contains(out, "Stranger's page") {
		t.Fatalf("the stranger's objects:\n%s", out)
	}
	if _, _, err := a.run("", "show", strangerID); err == nil {
		t.Fatal("the laptop holds the stranger's object")
	}
	knowsNothingOf(t, other, upO, a)
}
