package syncer_test

import (
	"testing"
	"time"

	"mycel/internal/admit"
	"mycel/internal/syncer"
)

// What a node queues for one peer stays within its peer window however
// large the vault: a fresh device asks for all of 24 objects at once, and
// the node's queue toward it, capped a little above the window (a peer
// past the cap is dropped as too slow), never overflows while the device
// pulls every change. Without the window the node queues a window of
// every object at once (24 × 64 KiB here) and drops the device.
func TestQueuedBytesStayWithinThePeerWindow(t *testing.T) {
	f := newFixture(t)
	var objs [][]admit.Incoming
	total := 0
	for range 24 {
		obj := f.object(400) // about 100 KB each
		objs = append(objs, obj)
		total += len(obj)
	}
	node, dev := f.holding(objs...), f.vault()
	clock := syncer.NewFakeClock()
	cfg := config(clock)
	cfg.Sync.BatchBytes, cfg.Sync.Window, cfg.Sync.PeerWindow = 16<<10, 64<<10, 256<<10
	cfg.MaxQueued = cfg.Sync.PeerWindow + 4*cfg.Sync.BatchBytes
	a := start(t, "a-node", node, nil, cfg)
	b := start(t, "b-device", dev, nil, cfg)
	ac, bc := pipe()
	aGone := a.Attach("b-device", ac)
	bGone := b.Attach("a-node", bc)
	// The fake clock moves with the wall clock, never ahead of it: group
	// commits wait on it, and so does the stall check, which drops a peer
	// whose connection completes no frame for 6 s of it. Stepped faster
	// (50 ms a poll), a busy machine let those 6 s pass while the node's
	// frames waited for a core, and the device dropped the node as
	// stalled: not what this test is about.
	last := time.Now()
	eventually(t, "the device to hold every change", func() bool {
		if closed(aGone) || closed(bGone) {
			t.Fatal("a side dropped the connection: the node queued past its window")
		}
		now := time.Now()
		clock.Advance(now.Sub(last))
		last = now
		return count(t, dev) == total
	})
}
