package device

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/crdt"
	"mycel/internal/files"
	"mycel/internal/markdown"
	"mycel/internal/objsync"
	"mycel/internal/vault"
)

// within polls cond until it holds, failing the test after 10 s.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Two devices that found each other at once dial each other at once: they
// settle on one connection, the same on both sides, before either uses
// it. Each round both dial at the same moment; then each side is
// connected, since one moment that does not change (no connection used,
// then dropped for the other: that left one side with none while it
// attached its own, refusing chunk streams and restarting sync), neither
// recorded a failed dial (a dialer reset before it read the welcome took
// it for one, and closed its transport connection), and a chunk comes
// from each side to the other at the first request while an edit syncs.
// Before the handshake settled it, most rounds switched connections.
func TestDialingEachOtherKeepsOneConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := laptopAndPhone(t, ctx)
	_, ma := addFilePage(t, a, "a.bin", randomFile(64<<10, 41))
	_, mb := addFilePage(t, b, "b.bin", randomFile(64<<10, 42))
	id, err := a.Create(ctx, vault.NewPage{Details: map[string]string{"title": "Race"}, Blocks: markdown.Parse("0\n")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	// Quiet, so a loaded machine does not drop a peer as stalled (1.5 s);
	// nothing here waits for a tick.
	cfg.Service.Tick = 250 * time.Millisecond
	da, err := Start(ctx, a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	db, err := Start(ctx, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type side struct {
		d     *Device
		other peer.ID        // the other's LAN host
		dev   objsync.PeerID // the other's device
		gets  *files.Manifest
	}
	sides := []side{
		{da, db.LANHost().ID(), objsyncPeer(db.Host.ID()), mb},
		{db, da.LANHost().ID(), objsyncPeer(da.Host.ID()), ma},
	}
	for _, s := range sides {
		h := s.d.LANHost()
		// Known as mDNS would tell it, with no dial loop: the test dials.
		other := da.LANHost()
		if h == other {
			other = db.LANHost()
		}
		s.d.mu.Lock()
		s.d.peers[s.other] = &PeerState{ID: s.other, Addrs: other.Addrs(), proven: true}
		s.d.mu.Unlock()
	}
	since := func(s side) (time.Time, bool) {
		t, ok := s.d.Service.Peers()[s.dev]
		return t, ok
	}
	const rounds = 20
	for round := range rounds {
		var ended atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, s := range sides {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer ended.Add(1)
				<-start
				s.d.dialPeer(ctx, s.other)
			}()
		}
		close(start)
		within(t, "both connected", func() bool {
			_, ab := since(sides[0])
			_, ba := since(sides[1])
			return ab && ba
		})
		first := [2]time.Time{}
		for i, s := range sides {
			first[i], _ = since(s)
		}
		// One dial ended at once (refused, or the other's kept); the
		// other's connection lasts.
		within(t, "the losing dial to end", func() bool { return ended.Load() == 1 })
		want := fmt.Sprintf("%d\n", round+1)
		if _, err := a.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse(want)); return nil }); err != nil {
			t.Fatal(err)
		}
		for _, s := range sides {
			links := s.d.lanLinks()
			if len(links) != 1 {
				t.Fatalf("round %d: %d links to the device nearby", round, len(links))
			}
			c, err := s.d.files.client(ctx, links[0], laneSmall)
			if err == nil {
				_, err = c.Get(ctx, s.gets.Addresses()[0])
			}
			if err != nil {
				t.Errorf("round %d: the first chunk request: %v", round, err)
			}
		}
		within(t, "the edit on b", func() bool { return text(t, b, id) == want })
		for i, s := range sides {
			if now, ok := since(s); !ok || !now.Equal(first[i]) {
				t.Errorf("round %d: side %d switched connections (connected %v)", round, i, ok)
			}
			for _, p := range s.d.Peers() {
				if p.LastError != "" {
					t.Errorf("round %d: side %d recorded a failed dial: %s", round, i, p.LastError)
				}
			}
		}
		if t.Failed() {
			t.Fatalf("round %d of %d failed", round, rounds)
		}
		// Both ends close everything; the dial still running ends.
		for _, s := range sides {
			s.d.LANHost().Network().ClosePeer(s.other)
		}
		wg.Wait()
		within(t, "both disconnected", func() bool {
			_, ab := since(sides[0])
			_, ba := since(sides[1])
			return !ab && !ba
		})
	}
}
