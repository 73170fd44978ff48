package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeAddrs reads every dialable address a node prints.
func nodeAddrs(t *testing.T, p *proc) []string {
	t.Helper()
	printed(t, p, "the node's addresses", func(l string) (string, bool) { return l, strings.HasPrefix(l, "Press Ctrl-C") })
	var out []string
	for _, l := range strings.Split(p.output(), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "/ip4/") && strings.Contains(l, "/p2p/") {
			out = append(out, l)
		}
	}
	return out
}

// addrWith picks the address of a transport ("/tcp/", "/quic-v1/").
func addrWith(t *testing.T, addrs []string, transport string) string {
	t.Helper()
	for _, a := range addrs {
		if strings.Contains(a, transport) {
			return a
		}
	}
	t.Fatalf("no %s address in %q", transport, addrs)
	return ""
}

// mustFail runs mycel, which must exit with an error within a deadline
// (a node or device that starts instead would run until stopped), and
// returns its stderr.
func mustFail(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mycel %s did not fail: it ran until killed\n%s%s", strings.Join(args, " "), out.String(), errb.String())
	}
	if err == nil {
		t.Fatalf("mycel %s succeeded:\n%s", strings.Join(args, " "), out.String())
	}
	return errb.String()
}

// A node or a device does not share a TCP or UDP port another process
// holds: it fails, naming the address. Without it the kernel (SO_REUSEPORT)
// would give the second node part of the first one's connections, and a
// node would come up without its QUIC address.
func TestPortInUse(t *testing.T) {
	inUse := func(addr string) string {
		return addr + " is in use by another process: stop it or choose another --listen"
	}
	dir := t.TempDir()

	// Another mycel node holds the TCP port.
	tcp := loopbackListen(t)
	first := start(t, "--data", filepath.Join(dir, "first"), "node", "--listen", tcp)
	nodeAddrs(t, first)
	if errOut := mustFail(t, "--data", filepath.Join(dir, "second"), "node", "--listen", tcp); !strings.Contains(errOut, inUse(tcp)) {
		t.Fatalf("a node on a TCP port another node holds says %q", errOut)
	}
	// So does a device's.
	dev := newCLI(t)
	if errOut := mustFail(t, "--data", dev.data, "up", "--show-phrase", "--no-lan", "--listen", tcp); !strings.Contains(errOut, inUse(tcp)) {
		t.Fatalf("mycel up on a TCP port a node holds says %q", errOut)
	}

	// Another process holds the UDP port; the node's TCP port is free.
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	quic := fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", udp.LocalAddr().(*net.UDPAddr).Port)
	if errOut := mustFail(t, "--data", filepath.Join(dir, "third"), "node", "--listen", loopbackListen(t)+","+quic); !strings.Contains(errOut, inUse(quic)) {
		t.Fatalf("a node on a UDP port in use says %q", errOut)
	}
}
