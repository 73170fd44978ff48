package device

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/status"
	"mycel/internal/vault"
)

// addrOf is a running device's dialable address.
func addrOf(d *Device) string {
	return fmt.Sprintf("%s/p2p/%s", d.LANHost().Addrs()[0], d.LANHost().ID())
}

func text(t *testing.T, e *vault.Engine, id change.ID) string {
	o, err := e.Get(context.Background(), id)
	if err != nil {
		return ""
	}
	return markdown.Render(o.Doc.Blocks())
}

// laptopAndPhone makes two devices of one vault.
func laptopAndPhone(t testing.TB, ctx context.Context) (a, b *vault.Engine) {
	t.Helper()
	a, phrase, err := vault.Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = vault.Recover(ctx, filepath.Join(t.TempDir(), "b"), phrase, "phone"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// Two devices of one vault sync directly, with no node; a device of another
// vault that dials one of them gets nothing and learns nothing; a device
// that restarts finds its peer again by the address it remembered.
func TestDevicesSyncDirectly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := laptopAndPhone(t, ctx)
	c, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "c"), "stranger")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	secret, _ := c.Create(ctx, vault.NewPage{Details: map[string]string{"title": "C's own"}, Blocks: markdown.Parse("not for a\n")})

	da, err := Start(ctx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfgB := fastConfig()
	cfgB.Peers = []string{addrOf(da)}
	bctx, stopB := context.WithCancel(ctx)
	db, err := Start(bctx, b, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	bID := objsyncPeer(db.Host.ID())
	cfgC := fastConfig()
	cfgC.Peers = []string{addrOf(da)}
	dc, err := Start(ctx, c, cfgC)
	if err != nil {
		t.Fatal(err)
	}

	id, err := a.Create(ctx, vault.NewPage{Details: map[string]string{"title": "Shared"}, Blocks: markdown.Parse("from a\n")})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a's object on b, directly", func() bool { return text(t, b, id) == "from a\n" })
	if _, err := b.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse("from a and b\n")); return nil }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b's edit on a, directly", func() bool { return text(t, a, id) == "from a and b\n" })

	// The stranger was refused before anything was exchanged.
	eventually(t, "c to see a is not of its vault", func() bool {
		for _, p := range dc.Peers() {
			if p.ID == da.LANHost().ID() && p.Foreign {
				return true
			}
		}
		return false
	})
	if objs, _ := c.List(ctx, vault.ListOptions{All: true}); len(objs) != 1 || objs[0].ID != secret {
		t.Fatalf("c's objects: %+v", objs)
	}
	if devs, _ := c.Devices(ctx); len(devs) != 1 {
		t.Fatalf("c learned of %d devices", len(devs))
	}
	if _, err := a.Get(ctx, secret); err == nil {
		t.Fatal("a holds c's object")
	}
	if _, connected := da.Service.Peers()[objsyncPeer(dc.Host.ID())]; connected {
		t.Fatal("a is connected to c")
	}

	// b restarts with no peer configured: it dials a where it last found it.
	stopB()
	eventually(t, "a to see b gone", func() bool {
		_, connected := da.Service.Peers()[bID]
		return !connected
	})
	if _, err := a.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse("from a and b, again a\n")); return nil }); err != nil {
		t.Fatal(err)
	}
	if db, err = Start(ctx, b, fastConfig()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b back in touch by the remembered address", func() bool { return text(t, b, id) == "from a and b, again a\n" })
	if peers := db.Peers(); len(peers) != 1 || !peers[0].Connected {
		t.Fatalf("b's peers: %+v", peers)
	}
}

// Every local change is pushed at once, each time: with reconciliation
// (which would repair a lost push) too rare to matter, 300 edits made one
// after the other each reach the other device quickly. (A poke handled in
// a read transaction older than the change once made the push see the old
// heads and send nothing.)
func TestEveryPushArrives(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := laptopAndPhone(t, ctx)
	id, _ := a.Create(ctx, vault.NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("x\n")})
	cfg := fastConfig()
	cfg.Service.Sync.ReconcileEvery = 100000 // never again after the first
	da, err := Start(ctx, a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Peers = []string{addrOf(da)}
	if _, err := Start(ctx, b, cfg); err != nil {
		t.Fatal(err)
	}
	heads := func(e *vault.Engine) []change.ID {
		o, err := e.Get(ctx, id)
		if err != nil {
			return nil
		}
		return o.Heads
	}
	same := func() bool {
		ha, hb := heads(a), heads(b)
		return len(ha) == 1 && len(hb) == 1 && ha[0] == hb[0]
	}
	eventually(t, "the object on b", same)
	for i := range 300 {
		if _, err := a.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error {
			tx.Replace(markdown.Parse(fmt.Sprintf("edit %d\n", i)))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		da.Poke()
		deadline := time.Now().Add(5 * time.Second)
		for !same() {
			if time.Now().After(deadline) {
				t.Fatalf("edit %d did not reach b in 5 s", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// --lan-only: a device never dials its nodes, and says it has none to reach.
func TestLANOnlyNeverDialsANode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := vaultWithAnObject(t, ctx)
	addr := startNode(t, ctx, t.TempDir())
	if err := Register(ctx, e, addr); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.LANOnly = true
	d, err := Start(ctx, e, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Its nodes are not even tracked: nothing dials them.
	if nodes := d.Nodes(); len(nodes) != 0 {
		t.Fatalf("lan-only device tracks nodes: %+v", nodes)
	}
	vs, err := d.Status(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Listed, and why they are not dialed.
	if vs.Status != status.NoConnection || len(vs.Nodes) != 1 || vs.Nodes[0].Connected || !strings.Contains(vs.Nodes[0].LastError, "not dialed: this device's sync mode is lan-only (--lan-only)") {
		t.Fatalf("lan-only status %+v", vs)
	}
}
