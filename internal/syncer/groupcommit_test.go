package syncer

import (
	"testing"
	"time"
)

// Received changes are stored at once unless they stream in; then they wait
// for more (or a short while), and the timer that ends the wait fires.
func TestStoreNow(t *testing.T) {
	clock := NewFakeClock()
	s := newService("me", nil, nil, Members{}, Config{Tick: time.Second, Clock: clock})
	some := func(n int) []pending { return make([]pending, n) }

	if s.storeNow(false) {
		t.Fatal("nothing pending, yet store now")
	}
	s.pending = some(1)
	if !s.storeNow(false) {
		t.Fatal("a lone change after a quiet spell must be stored at once")
	}
	// The last store was large and just now: a stream.
	s.lastStore, s.lastStored = clock.Now(), streamMin
	if s.storeNow(false) {
		t.Fatal("in a stream, a few changes must wait for more")
	}
	if s.flushAt.IsZero() {
		t.Fatal("waiting, but no timer armed")
	}
	clock.Advance(groupWait)
	select {
	case <-s.flush.C():
	default:
		t.Fatal("the timer that ends the wait did not fire")
	}
	if !s.storeNow(true) {
		t.Fatal("a flush must store")
	}
	s.pending = some(groupMin)
	if !s.storeNow(false) {
		t.Fatal("enough changes for a group must be stored at once")
	}
	s.pending = some(1)
	s.lastStore = clock.Now().Add(-groupWait)
	if !s.storeNow(false) {
		t.Fatal("after the wait, changes must be stored")
	}
}
