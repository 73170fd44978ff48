package device

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"mycel/internal/node"
	"mycel/internal/p2p"
	"mycel/internal/status"
)

// objectStatus is the status of the vault's only object.
func objectStatus(t *testing.T, d *Device) (string, string) {
	t.Helper()
	vs, err := d.Status(context.Background(), nil)
	if err != nil || len(vs.Objects) != 1 {
		t.Fatalf("status: %v %+v", err, vs)
	}
	return vs.Objects[0].Status, vs.Objects[0].Reason
}

// A node added while the device runs is dialed on the next poke, and the
// objects reach it and become Synced; a node removed is no longer dialed
// and its connection is dropped.
func TestNodesAddedAndRemovedWhileRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := vaultWithAnObject(t, ctx)
	d, err := Start(ctx, e, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := objectStatus(t, d); s != status.NoConnection {
		t.Fatalf("no node yet: %s", s)
	}
	addr := startNode(t, ctx, t.TempDir())
	if err := Register(ctx, e, addr); err != nil { // what `mycel nodes add` does, then it pokes
		t.Fatal(err)
	}
	d.Poke()
	eventually(t, "the object Synced on the added node", func() bool { s, _ := objectStatus(t, d); return s == status.Synced })
	peer := d.Nodes()[0].Peer
	if err := e.SetNodes(ctx, nil); err != nil { // `mycel nodes rm`
		t.Fatal(err)
	}
	d.Poke()
	eventually(t, "the removed node's connection dropped", func() bool {
		_, connected := d.Service.Peers()[peer]
		return !connected && len(d.Nodes()) == 0
	})
	if s, _ := objectStatus(t, d); s != status.NoConnection {
		t.Fatalf("after the node was removed: %s", s)
	}
}

// A node that refuses the vault (not registered there) makes the vault and
// its objects Not syncing with the node's whole reason.
func TestNodeRefusalIsShownWhole(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := vaultWithAnObject(t, ctx)
	addr := startNode(t, ctx, t.TempDir()) // never registered there
	if err := e.SetNodes(ctx, []string{addr}); err != nil {
		t.Fatal(err)
	}
	d, err := Start(ctx, e, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refusal", func() bool { return len(d.Nodes()) == 1 && d.Nodes()[0].Refused != "" })
	vs, err := d.Status(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "the backup node at " + addr + " refused: " + node.ErrNotRegistered.Error()
	if vs.Status != status.NotSyncing || !strings.HasPrefix(vs.Reason, want) || !strings.Contains(vs.Reason, "mycel nodes add") {
		t.Fatalf("vault: %s (%s); want Not syncing, %q and the rest of the node's reason", vs.Status, vs.Reason, want)
	}
	if s, why := objectStatus(t, d); s != status.NotSyncing || why != vs.Reason {
		t.Fatalf("object: %s (%s)", s, why)
	}
}

// Warming up ends once: when every node configured at start was tried
// once, and each one that first try reached was compared with. A node
// added later does not bring it back, nor does a device joining.
func TestWarmingUpEndsOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := vaultWithAnObject(t, ctx)
	d, err := Start(ctx, e, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	set := func(states ...*NodeState) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.nodes = map[string]*NodeState{}
		for _, st := range states {
			d.nodes[st.Addr] = st
		}
	}
	for _, tc := range []struct {
		name  string
		state NodeState
		want  string
	}{
		{"first dial under way", NodeState{Addr: "n", atStart: true}, "connecting to n"},
		{"first dial failed", NodeState{Addr: "n", atStart: true, firstEnded: true}, ""},
		{"connected, not compared yet", NodeState{Addr: "n", Peer: "p", atStart: true, firstEnded: true, firstConnected: true}, "comparing with the backup node at n"},
		{"connected, then gone before comparing", NodeState{Addr: "n", Peer: "p", atStart: true, firstEnded: true, firstConnected: true, firstConnEnded: true}, ""},
		{"added later, not tried yet", NodeState{Addr: "n"}, ""},
	} {
		st := tc.state
		set(&st)
		if got := d.warmingUp(); got != tc.want {
			t.Errorf("%s: warming up %q, want %q", tc.name, got, tc.want)
		}
	}
	set()
	// While warming up every object is Preparing…; once done, a device
	// that connects and is not compared with yet changes nothing.
	set(&NodeState{Addr: "n", atStart: true})
	if s, _ := objectStatus(t, d); s != status.Preparing {
		t.Fatalf("warming up: %s", s)
	}
	set()
	if s, _ := objectStatus(t, d); s != status.NoConnection {
		t.Fatalf("warm, no node: %s", s)
	}
}

// Close stops every goroutine of the device and of its sync service, and
// a node Server's Close every goroutine of its vaults' services.
func TestCloseStopsEverything(t *testing.T) {
	// Devices of earlier tests may still be stopping (their context was
	// cancelled): only goroutines started from here on count.
	before := map[string]bool{}
	for _, g := range goroutinesOf("mycel/internal/device.", "mycel/internal/syncer.") {
		before[goroutineID(g)] = true
	}
	fresh := func(gs []string) []string {
		var out []string
		for _, g := range gs {
			if !before[goroutineID(g)] {
				out = append(out, g)
			}
		}
		return out
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := vaultWithAnObject(t, ctx)
	n, err := node.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	_, key, _ := ed25519.GenerateKey(nil)
	h, err := p2p.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	srv := node.Serve(ctx, h, n, node.DefaultServiceConfig(quietLog()))
	if err := Register(ctx, e, fmt.Sprintf("%s/p2p/%s", h.Addrs()[0], h.ID())); err != nil {
		t.Fatal(err)
	}
	d, err := Start(ctx, e, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "synced", func() bool { s, _ := objectStatus(t, d); return s == status.Synced })
	d.Close()
	if gs := fresh(goroutinesOf("mycel/internal/device.")); len(gs) > 0 {
		t.Fatalf("after the device's Close, %d of its goroutines are left:\n%s", len(gs), gs[0])
	}
	srv.Close()
	if gs := fresh(goroutinesOf("mycel/internal/syncer.")); len(gs) > 0 {
		t.Fatalf("after both Close, %d goroutines of sync services are left:\n%s", len(gs), gs[0])
	}
	d.Host.Close()
	d.Poke() // a poke after Close does nothing, and returns
}

// goroutinesOf lists the goroutines running code of the given packages
// (this test's own excepted), or created by it. One that has returned
// from all its code and is only exiting (runtime.goexit, nothing else on
// its stack) is stopped, not left: a WaitGroup's Done, or a channel closed
// by a deferred call, wakes Close just before its goroutine is gone, and
// on a busy machine the dump may come first.
func goroutinesOf(pkgs ...string) []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "TestCloseStopsEverything") || exiting(g) {
			continue
		}
		for _, p := range pkgs {
			if strings.Contains(g, p) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// exiting reports whether a goroutine's stack (as runtime.Stack writes
// it) holds only runtime.goexit frames: its function has returned.
func exiting(g string) bool {
	frames := 0
	for _, l := range strings.Split(strings.TrimSpace(g), "\n") {
		l = strings.TrimRight(l, "\r ")
		if l == "" || strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "created by ") || strings.HasPrefix(l, "goroutine ") {
			continue // its "goroutine N [state]:", a frame's file line, or who created it
		}
		frames++
		if !strings.HasPrefix(l, "runtime.goexit") {
			return false
		}
	}
	return frames > 0
}

// goroutineID is the number in a goroutine's "goroutine N [state]:" line.
func goroutineID(g string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
	return id
}
