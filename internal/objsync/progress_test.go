package objsync

import (
	"testing"

	"mycel/internal/reconcile"
)

// chain adds to s an object of n changes in a line and returns its id.
func chain(s *memStore, n int, seed uint64) ID {
	root, raw := encode(ID{}, nil, seed)
	s.receive(root, raw)
	parent := root
	for i := 1; i < n; i++ {
		id, raw := encode(root, []ID{parent}, seed+uint64(i))
		s.receive(id, raw)
		parent = id
	}
	return root
}

// connectPair makes machines a (over src) and b (over dst), salts all
// zero, and connects each to the other.
func connectPair(t *testing.T, cfg Config, src, dst *memStore) (a, b *Machine) {
	t.Helper()
	salt := func() (s [reconcile.SaltSize]byte) { return s }
	a, b = New("a", src, cfg, salt), New("b", dst, cfg, salt)
	if err := a.Connected("b"); err != nil {
		t.Fatal(err)
	}
	if err := b.Connected("a"); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// pairRun connects machines a (over src) and b (over dst) and runs their
// exchange to the end, delivering messages in order; seen is called with
// each message b receives, once b has stored what it carried.
func pairRun(t *testing.T, cfg Config, src, dst *memStore, seen func(a, b *Machine, msg Message)) {
	t.Helper()
	a, b := connectPair(t, cfg, src, dst)
	inflight := map[PeerID][]Message{}
	take := func(m *Machine, store *memStore) {
		// A pair's machines send only to each other.
		to := PeerID("a")
		if m == a {
			to = "b"
		}
		msgs := inflight[to]
		if err := takeReady(m, store, &msgs); err != nil {
			t.Fatal(err)
		}
		inflight[to] = msgs
	}
	for round := 0; ; round++ {
		if round == 100000 {
			t.Fatal("the exchange does not end")
		}
		take(a, src)
		take(b, dst)
		if len(inflight["a"])+len(inflight["b"]) == 0 {
			return
		}
		// One message each way per round.
		if msgs := inflight["b"]; len(msgs) > 0 {
			inflight["b"] = msgs[1:]
			if err := b.Step("a", msgs[0]); err != nil {
				t.Fatal(err)
			}
			take(b, dst)
			if seen != nil {
				seen(a, b, msgs[0])
			}
		}
		if msgs := inflight["a"]; len(msgs) > 0 {
			inflight["a"] = msgs[1:]
			if err := a.Step("b", msgs[0]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A download in bounded batches shows how far it got: after each batch the
// receiver knows how many changes it holds of how many the object has.
func TestDownloadShowsProgress(t *testing.T) {
	src, dst := newMem(), newMem()
	const n = 10
	obj := chain(src, n, 1)
	var seen []int
	_, raw := encode(ID{}, nil, 1)
	pairRun(t, Config{ReconcileEvery: 10, BatchBytes: 3 * len(raw), Window: 6 * len(raw)}, src, dst, func(_, b *Machine, msg Message) {
		if msg.Kind != Changes {
			return
		}
		pos, err := b.Object(obj)
		if err != nil {
			t.Fatal(err)
		}
		for _, po := range pos {
			if po.Incoming {
				if po.Total != n || po.Have+po.IncomingCount != n {
					t.Fatalf("mid-download: have %d, to receive %d, total %d; want total %d", po.Have, po.IncomingCount, po.Total, n)
				}
				seen = append(seen, po.Have)
			}
		}
	})
	if len(dst.changes) != n {
		t.Fatalf("b holds %d changes, want %d", len(dst.changes), n)
	}
	if len(seen) < 2 {
		t.Fatalf("progress seen %v: want several steps of a download in batches", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("progress went %v", seen)
		}
	}
}

// A huge object does not hold up small ones: at most a window of its bytes
// is in flight, and a small object's changes go out while it is far from
// done.
func TestHugeObjectDoesNotBlockSmallOnes(t *testing.T) {
	src, dst := newMem(), newMem()
	huge := chain(src, 300, 1000)
	small := chain(src, 3, 1)
	_, raw := encode(ID{}, nil, 1)
	window := 8 * len(raw)
	cfg := Config{ReconcileEvery: 10, BatchBytes: 4 * len(raw), Window: window}
	hugeMsgs, smallAt := 0, -1
	pairRun(t, cfg, src, dst, func(a, _ *Machine, msg Message) {
		if msg.Kind != Changes {
			return
		}
		switch msg.Object {
		case huge:
			hugeMsgs++
		case small:
			if smallAt < 0 {
				smallAt = hugeMsgs
			}
		}
		flying := 0
		if f := a.peers["b"].flights[huge]; f != nil {
			flying = sumSizes(f.sizes)
		}
		if flying > window+len(raw)+8 {
			t.Fatalf("%d bytes of the huge object in flight, window %d", flying, window)
		}
	})
	if len(dst.changes) != 303 {
		t.Fatalf("b holds %d changes, want 303", len(dst.changes))
	}
	if smallAt < 0 || smallAt > 4 {
		t.Fatalf("the small object's changes came after %d of the huge one's %d messages", smallAt, hugeMsgs)
	}
}
