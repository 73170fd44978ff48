package syncer

import (
	"testing"
	"time"
)

// The frame budget lets a burst through at once, then paces frames at its
// rate, and refills while the peer is quiet (never past the burst).
func TestFrameBudget(t *testing.T) {
	b := frameBudget{rate: 100, burst: 3}
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if d := b.take(t0); d != 0 {
			t.Fatalf("frame %d of the burst waits %v", i, d)
		}
	}
	if d := b.take(t0); d != 10*time.Millisecond {
		t.Fatalf("the frame after the burst waits %v, want 10ms", d)
	}
	if d := b.take(t0.Add(20 * time.Millisecond)); d != 0 {
		t.Fatalf("after 20 ms the next frame waits %v", d)
	}
	for i := range 3 { // an hour of quiet refills the burst, no more
		if d := b.take(t0.Add(time.Hour)); d != 0 {
			t.Fatalf("frame %d after a quiet hour waits %v", i, d)
		}
	}
	if d := b.take(t0.Add(time.Hour)); d == 0 {
		t.Fatal("a quiet hour refilled more than the burst")
	}
	if d := (&frameBudget{}).take(t0); d != 0 {
		t.Fatal("no rate: a frame waits")
	}
}
