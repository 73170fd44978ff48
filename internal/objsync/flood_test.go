package objsync

import (
	"testing"

	"mycel/internal/reconcile"
)

// countingStore counts how often the machine reads every object.
type countingStore struct {
	*memStore
	objects int
}

func (s *countingStore) Objects() ([]reconcile.Item, error) {
	s.objects++
	return s.memStore.Objects()
}

// A peer that starts sessions in a loop makes this side read and compare
// its set SessionBurst times, then once every SessionEvery ticks, however
// many it starts; the latest waiting session is joined when its turn comes.
func TestSessionFloodIsBounded(t *testing.T) {
	for _, limited := range []bool{false, true} {
		st := &countingStore{memStore: newMem()}
		for i := 0; i < 50; i++ {
			chain(st.memStore, 1, uint64(i))
		}
		cfg := DefaultConfig
		if limited {
			cfg.SessionBurst, cfg.SessionEvery = 3, 5
		}
		m := New("node", st, cfg, func() (s [reconcile.SaltSize]byte) { return s })
		if err := m.Connected("flooder"); err != nil { // "flooder" < "node": it initiates
			t.Fatal(err)
		}
		var salt [reconcile.SaltSize]byte
		_, first := reconcile.Initiate(reconcile.NewSet(nil), salt)
		session := uint64(0)
		flood := func(n int) {
			for i := 0; i < n; i++ {
				session++
				if err := m.Step("flooder", Message{Kind: Recon, Session: session, Recon: first}); err != nil {
					t.Fatal(err)
				}
				m.Advance()
			}
		}
		flood(1000)
		if !limited {
			if st.objects != 1000 {
				t.Fatalf("unbounded: %d reads of every object for 1000 sessions", st.objects)
			}
			continue
		}
		if st.objects != 3 {
			t.Fatalf("%d reads of every object for 1000 sessions, want 3 (the burst)", st.objects)
		}
		for i := 0; i < 10; i++ { // two more turns come, each joining the latest session
			if err := m.Tick(); err != nil {
				t.Fatal(err)
			}
			flood(100)
		}
		if st.objects != 5 {
			t.Fatalf("%d reads after 10 ticks, want 5", st.objects)
		}
		if pr := m.peers["flooder"]; pr.session == 0 || pr.waiting == nil || pr.waiting.Session != session {
			t.Fatalf("joined session %d, waiting %v; want the latest (%d) waiting", pr.session, pr.waiting, session)
		}
	}
}
