package device

import (
	"context"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/p2p"
	"mycel/internal/vault"
)

// peerOf is one peer's part in obj's status on d (all peers), by name.
func peerOf(t *testing.T, d *Device, obj change.ID, name string) (PeerStatus, VaultStatus) {
	t.Helper()
	vs, err := d.StatusOf(context.Background(), StatusOptions{Only: &obj, AllPeers: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range vs.Objects {
		for _, p := range o.Peers {
			if p.Name == name {
				return p, vs
			}
		}
	}
	return PeerStatus{}, vs
}

// Each peer of a page, the node and the other device, by name, connected
// or not: whether it holds our current version and since when (persisted
// across a restart), when it was last seen, and what it lacks after an
// edit made while it was away; the vault's summary says it in a line.
func TestPeerStatus(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := startNode(t, ctx, t.TempDir())
	a, b := laptopAndPhone(t, ctx)
	for _, e := range []*vault.Engine{a, b} {
		if err := Register(ctx, e, addr); err != nil {
			t.Fatal(err)
		}
	}
	id, err := a.Create(ctx, vault.NewPage{Details: map[string]string{"title": "Plans"}, Blocks: markdown.Parse("one\n")})
	if err != nil {
		t.Fatal(err)
	}
	da, err := Start(ctx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfgB := fastConfig()
	cfgB.Peers = []string{addrOf(da)} // the phone meets the laptop directly too
	bctx, stopB := context.WithCancel(ctx)
	db, err := Start(bctx, b, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	eventually(t, "the node and the phone to hold the page", func() bool {
		n, _ := peerOf(t, da, id, "the node")
		p, _ := peerOf(t, da, id, "phone")
		return n.Holds == HoldsYes && p.Holds == HoldsYes && p.Connected
	})
	n, vs := peerOf(t, da, id, "the node")
	if !n.Node || !n.Connected || n.Since.IsZero() || n.Addr != addr || n.LastSeen.IsZero() {
		t.Errorf("node: %+v", n)
	}
	p, _ := peerOf(t, da, id, "phone")
	if p.Node || p.Key == "" || p.Since.IsZero() || p.Outgoing != 0 {
		t.Errorf("phone: %+v", p)
	}
	if !strings.Contains(vs.Summary, "on the node as of ") || !strings.Contains(vs.Summary, "phone has everything") {
		t.Errorf("summary %q", vs.Summary)
	}
	since := p.Since

	// The phone goes away; the laptop edits twice.
	db.Close()
	stopB()
	eventually(t, "the phone to be gone", func() bool { p, _ := peerOf(t, da, id, "phone"); return !p.Connected })
	for _, text := range []string{"one\ntwo\n", "one\ntwo\nthree\n"} {
		if _, err := a.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error {
			tx.Replace(markdown.Parse(text))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		da.Service.Changed(id)
	}
	eventually(t, "the node to hold the edit and the phone to lack it", func() bool {
		n, _ := peerOf(t, da, id, "the node")
		p, _ := peerOf(t, da, id, "phone")
		return n.Holds == HoldsYes && n.Since.After(since) && p.Holds == HoldsNo
	})
	p, vs = peerOf(t, da, id, "phone")
	if p.Connected || !p.Since.Equal(since) || p.LastSeen.Before(before) || p.Outgoing != 2 || p.OutgoingBytes <= 0 {
		t.Errorf("phone away: %+v (since %v)", p, since)
	}
	if !strings.Contains(vs.Summary, "phone has 1 page to fetch") || !strings.Contains(vs.Summary, "on the node as of") {
		t.Errorf("summary %q", vs.Summary)
	}
	t.Logf("summary: %s; phone: %+v", vs.Summary, p)
	var sum PeerSummary
	for _, s := range vs.Peers {
		if s.Name == "phone" {
			sum = s
		}
	}
	if sum.ToFetch != 1 || sum.Holding != 0 || sum.Connected {
		t.Errorf("phone's summary %+v", sum)
	}

	// Since when is persisted: after a restart the laptop still knows.
	da.Close()
	bp, err := p2p.DevicePeer(b.DeviceKey())
	if err != nil {
		t.Fatal(err)
	}
	held, err := a.PeerHeld(ctx, []string{string(bp)})
	if err != nil {
		t.Fatal(err)
	}
	if w := held.At[string(bp)][id]; !w.At.Equal(since) || len(w.Heads) != 1 {
		t.Errorf("persisted word %+v, want at %v", w, since)
	}
	da2, err := Start(ctx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer da2.Close()
	p, _ = peerOf(t, da2, id, "phone")
	if p.Holds != HoldsNo || !p.Since.Equal(since) || p.Outgoing != 2 {
		t.Errorf("phone after a restart: %+v", p)
	}
}
