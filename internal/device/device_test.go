package device

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/node"
	"mycel/internal/objsync"
	"mycel/internal/p2p"
	"mycel/internal/status"
	"mycel/internal/vault"
)

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startNode runs a node on loopback and returns its dialable address.
func startNode(t testing.TB, ctx context.Context, dir string) string {
	t.Helper()
	n, err := node.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	cfg := node.DefaultServiceConfig(quietLog())
	cfg.Tick = 50 * time.Millisecond
	addr, h, err := node.ServeLoopback(ctx, n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return addr
}

func fastConfig() Config {
	c := DefaultConfig(quietLog())
	c.Service.Tick = 50 * time.Millisecond
	c.BackoffMin, c.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
	c.Listen, c.LAN, c.RedialEvery = []string{"/ip4/127.0.0.1/tcp/0"}, false, 100*time.Millisecond
	return c
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSyncThroughNode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodeDir := t.TempDir()
	addr := startNode(t, ctx, nodeDir)

	a, phrase, err := vault.Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := Register(ctx, a, addr); err != nil {
		t.Fatal(err)
	}
	id, err := a.Create(ctx, vault.NewPage{Details: map[string]string{"title": "Secret garden"}, Blocks: markdown.Parse("Plant tomatoes in May.\n")})
	if err != nil {
		t.Fatal(err)
	}
	da, err := Start(ctx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	_ = da

	// A second device recovers the vault and joins through the node.
	b, err := vault.Recover(ctx, filepath.Join(t.TempDir(), "b"), phrase, "phone")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := Register(ctx, b, addr); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, b, fastConfig()); err != nil {
		t.Fatal(err)
	}
	show := func(e *vault.Engine) string {
		o, err := e.Get(ctx, id)
		if err != nil {
			return ""
		}
		return markdown.Render(o.Doc.Blocks())
	}
	eventually(t, "the object on b", func() bool { return show(b) == "Plant tomatoes in May.\n" })

	// Edits flow both ways, pushed at once.
	if _, err := b.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error {
		tx.Replace(markdown.Parse("Plant tomatoes in May. Water daily.\n"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b's edit on a", func() bool { return show(a) == "Plant tomatoes in May. Water daily.\n" })
	if _, err := a.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error {
		tx.Replace(markdown.Parse("Plant tomatoes in late May. Water daily.\n"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a's edit on b", func() bool { return show(b) == "Plant tomatoes in late May. Water daily.\n" })
	ds, _ := a.Devices(ctx)
	if len(ds) != 2 {
		t.Fatalf("a knows %d devices, want 2 (b's record came through the node)", len(ds))
	}

	// The node holds ciphertext only.
	for _, secret := range []string{"Secret garden", "tomatoes", "Water daily", "laptop", "phone"} {
		filepath.WalkDir(nodeDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("node file %s contains %q", p, secret)
			}
			return nil
		})
	}
	_ = change.ID{}
	_ = objsync.Stored
	_ = strings.Contains
}

// A network change wakes a dial that is waiting out a long backoff.
func TestNetworkChangeRedialsAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// A node that is not there yet: a free loopback port and a peer id.
	nodeDir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(nil)
	port := freeTCPPort(t)
	h0, err := p2p.NewHost(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, h0.ID())
	h0.Close()
	if err := e.SetNodes(ctx, []string{addr}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	iface := "192.0.2.10/24"
	cfg := fastConfig()
	cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour // without a kick, no retry in this test
	cfg.NetCheck = 20 * time.Millisecond
	cfg.Addrs = func() ([]net.Addr, error) {
		mu.Lock()
		defer mu.Unlock()
		ip, n, _ := net.ParseCIDR(iface)
		n.IP = ip // the interface's address, not its network
		return []net.Addr{n}, nil
	}
	d, err := Start(ctx, e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first, failed dial", func() bool { return len(d.Nodes()) == 1 && d.Nodes()[0].Attempts == 1 })
	// The node comes up, then the network "changes": the device dials now.
	n, err := node.Open(nodeDir)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	h, err := p2p.NewHost(key, []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	node.Serve(ctx, h, n, node.DefaultServiceConfig(quietLog()))
	recs, _ := e.MemberRecords(ctx)
	if _, err := n.Register(ctx, e.VaultID(), e.DeviceKey(), recs); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	iface = "192.0.2.20/24"
	mu.Unlock()
	eventually(t, "a dial right after the network change", func() bool { return len(d.Nodes()) == 1 && d.Nodes()[0].Connected })
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A node that speaks another version of the sync protocol makes the vault
// Not syncing, and says so, rather than No connection.
func TestIncompatibleNodeIsNotSyncing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := vaultWithAnObject(t, ctx)
	_, key, _ := ed25519.GenerateKey(nil)
	h, err := p2p.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.SetStreamHandler("/mycel/sync/999", func(s network.Stream) { s.Reset() })
	addr := fmt.Sprintf("%s/p2p/%s", h.Addrs()[0], h.ID())
	if err := e.SetNodes(ctx, []string{addr}); err != nil {
		t.Fatal(err)
	}
	d, err := Start(ctx, e, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a refused dial", func() bool { return len(d.Nodes()) == 1 && d.Nodes()[0].Incompatible })
	vs, err := d.Status(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vs.Status != status.NotSyncing || !strings.Contains(vs.Reason, "another version of the sync protocol") ||
		len(vs.Objects) != 1 || vs.Objects[0].Status != status.NotSyncing {
		t.Fatalf("status %+v", vs)
	}
}

// Until the first attempt to reach a node has ended, the device does not
// know whether it can: the vault and its objects are Preparing…, not No
// connection.
func TestPreparingWhileFirstDialIsUnderWay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := vaultWithAnObject(t, ctx)
	// A "node" that accepts TCP connections and never says a word: the
	// first dial lasts until the handshake timeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	_, key, _ := ed25519.GenerateKey(nil)
	h, _ := p2p.NewHost(key, nil)
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", l.Addr().(*net.TCPAddr).Port, h.ID())
	h.Close()
	if err := e.SetNodes(ctx, []string{addr}); err != nil {
		t.Fatal(err)
	}
	d, err := Start(ctx, e, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	vs, err := d.Status(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vs.Status != status.Preparing || len(vs.Objects) != 1 || vs.Objects[0].Status != status.Preparing ||
		!strings.Contains(vs.Objects[0].Reason, "connecting to") {
		t.Fatalf("during the first dial: %+v", vs)
	}
}

// vaultWithAnObject makes a new vault holding one object.
func vaultWithAnObject(t *testing.T, ctx context.Context) *vault.Engine {
	t.Helper()
	e, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if _, err := e.Create(ctx, vault.NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("x\n")}); err != nil {
		t.Fatal(err)
	}
	return e
}
