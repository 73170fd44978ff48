package device

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
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
	vs, err := d.StatusOf(context.Background(), StatusOptions{Only: &obj, Peers: AllPeers})
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

// BenchmarkStatusPeers times the vault's status with every peer of each
// page (what 'mycel status --peers' asks the running device for) in a
// vault of 10,000 pages (MYCEL_BENCH_PAGES), synced with a node and a
// phone that then went away while the laptop edited 3 pages
// (MYCEL_BENCH_BEHIND).
//
//	go test -run '^$' -bench StatusPeers -benchtime 10x ./internal/device
func BenchmarkStatusPeers(b *testing.B) {
	pages := 10000
	if s := os.Getenv("MYCEL_BENCH_PAGES"); s != "" {
		pages, _ = strconv.Atoi(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := startNode(b, ctx, b.TempDir())
	laptop, phone := laptopAndPhone(b, ctx)
	for _, e := range []*vault.Engine{laptop, phone} {
		if err := Register(ctx, e, addr); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	var ids []change.ID
	for i := range pages {
		id, err := laptop.Create(ctx, vault.NewPage{Details: map[string]string{"title": fmt.Sprintf("Page %d", i)}, Blocks: markdown.Parse(fmt.Sprintf("Text of page %d.\n", i))})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	b.Logf("%d pages created in %v", pages, time.Since(start))
	da, err := Start(ctx, laptop, fastConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer da.Close()
	cfg := fastConfig()
	cfg.Peers = []string{addrOf(da)}
	dp, err := Start(ctx, phone, cfg)
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	waitLong(b, "every page on the node and the phone", func() bool {
		vs, err := da.StatusOf(ctx, StatusOptions{})
		if err != nil {
			return false
		}
		for _, s := range vs.Peers {
			if s.Holding != pages {
				return false
			}
		}
		return len(vs.Peers) == 2
	})
	b.Logf("synced in %v", time.Since(start))
	dp.Close()
	waitLong(b, "the phone gone", func() bool { return len(da.Service.Peers()) == 1 })
	behind := 3 // MYCEL_BENCH_BEHIND: pages edited while the phone is away
	if s := os.Getenv("MYCEL_BENCH_BEHIND"); s != "" {
		behind, _ = strconv.Atoi(s)
	}
	for _, id := range ids[:behind] {
		if _, err := laptop.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error {
			tx.Replace(markdown.Parse("Edited while the phone was away.\n"))
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		da.Service.Changed(id)
	}
	waitLong(b, "the phone to have 3 pages to fetch", func() bool {
		vs, err := da.StatusOf(ctx, StatusOptions{})
		return err == nil && strings.Contains(vs.Summary, "phone has "+plural(behind)+" to fetch") && strings.Contains(vs.Summary, "on the node as of")
	})
	for _, c := range []struct {
		name  string
		peers PeerList
	}{{"connected", ConnectedPeers}, {"all", AllPeers}, {"pending", PendingPeers}, {"none", NoPeers}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				vs, err := da.StatusOf(ctx, StatusOptions{Peers: c.peers})
				if err != nil || len(vs.Objects) != pages {
					b.Fatal(err, len(vs.Objects))
				}
				if _, err := json.Marshal(vs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// waitLong polls cond for up to 10 minutes (a large vault's first sync).
func waitLong(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The vault's line says where the vault is from each peer's counts, and
// which peers an object lists follows ?peers=.
func TestSummaryAndPeerLists(t *testing.T) {
	now := time.Date(2026, 3, 4, 15, 0, 0, 0, time.Local)
	at := time.Date(2026, 3, 4, 12, 4, 0, 0, time.Local)
	sum := []PeerSummary{
		{Name: "the node", Node: true, Holding: 10, AsOf: at},
		{Name: "phone", Holding: 7, ToFetch: 3, AsOf: at},
		{Name: "tablet", Unknown: 10}, // met only through the node: nothing said
		{Name: "desktop", Holding: 10, AsOf: at, ForUs: 2},
	}
	want := "on the node as of 12:04; phone has 3 pages to fetch; desktop has everything as of 12:04, has changes of 2 pages for us"
	if got := summary(sum, now); got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
	if got := summary([]PeerSummary{{Name: "the node", Node: true, Holding: 8, ToFetch: 2, AsOf: at.AddDate(0, 0, -1)}}, now); got != "the node lacks 2 pages (holds 8 as of 3 Mar 12:04)" {
		t.Errorf("summary %q", got)
	}
	for _, c := range []struct {
		q    string
		list PeerList
		ps   PeerStatus
		want bool
	}{
		{"", ConnectedPeers, PeerStatus{Connected: true, Holds: HoldsYes}, true},
		{"", ConnectedPeers, PeerStatus{Holds: HoldsNo}, false},
		{"all", AllPeers, PeerStatus{Holds: HoldsYes}, true},
		{"pending", PendingPeers, PeerStatus{Holds: HoldsYes}, false},
		{"pending", PendingPeers, PeerStatus{Holds: HoldsNo}, true},
		{"pending", PendingPeers, PeerStatus{Holds: HoldsUnknown}, false},
		{"pending", PendingPeers, PeerStatus{Holds: HoldsUnknown, Node: true}, true},
		{"pending", PendingPeers, PeerStatus{Holds: HoldsYes, Failure: "not reachable: x"}, false}, // the peer's, said once
		{"pending", PendingPeers, PeerStatus{Holds: HoldsYes, Failure: "a change from it was refused"}, true},
		{"none", NoPeers, PeerStatus{Holds: HoldsNo}, false},
	} {
		l, err := ParsePeerList(c.q)
		if err != nil || l != c.list {
			t.Fatalf("ParsePeerList(%q) = %v, %v", c.q, l, err)
		}
		if got := l.lists(c.ps, "not reachable: x"); got != c.want {
			t.Errorf("peers=%s lists %+v: %v, want %v", c.q, c.ps, got, c.want)
		}
	}
	if _, err := ParsePeerList("some"); err == nil {
		t.Error("peers=some accepted")
	}
}

// plural is pages, outside the benchmark whose count shadows it.
var plural = pages
