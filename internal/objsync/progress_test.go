package objsync

import (
	"testing"

	"mycel/internal/reconcile"
)

// A download in bounded batches shows how far it got: after each batch the
// receiver knows how many changes it holds of how many the object has.
func TestDownloadShowsProgress(t *testing.T) {
	src, dst := newMem(), newMem()
	root, raw := encode(ID{}, nil, 1)
	src.receive(root, raw)
	parent := root
	const n = 10
	for i := 2; i <= n; i++ {
		id, raw := encode(root, []ID{parent}, uint64(i))
		src.receive(id, raw)
		parent = id
	}
	salt := func() (s [reconcile.SaltSize]byte) { return s }
	cfg := Config{ReconcileEvery: 10, BatchBytes: 3 * len(raw)} // about 3 changes a message
	a, b := New("a", src, cfg, salt), New("b", dst, cfg, salt)
	a.Connected("b")
	b.Connected("a")
	// Run the exchange one Changes message at a time.
	inflight := map[PeerID][]Message{}
	take := func(m *Machine, self PeerID, store *memStore) {
		rd := m.Ready()
		m.Advance()
		var outs []Outcome
		for _, in := range rd.Received {
			outs = append(outs, store.receive(in.Change.ID, in.Change.Raw))
		}
		if len(rd.Received) > 0 {
			m.Applied(rd.Received[0].From, rd.Received[0].Object, outs)
		}
		for _, e := range rd.Messages {
			inflight[e.To] = append(inflight[e.To], e.Msg)
		}
	}
	var seen []int
	for range 1000 {
		take(a, "a", src)
		take(b, "b", dst)
		if len(inflight["a"])+len(inflight["b"]) == 0 {
			break
		}
		for _, to := range []PeerID{"a", "b"} {
			msgs := inflight[to]
			inflight[to] = nil
			m, from := a, PeerID("b")
			if to == "b" {
				m, from = b, "a"
			}
			for _, msg := range msgs {
				if err := m.Step(from, msg); err != nil {
					t.Fatal(err)
				}
				if to == "b" && msg.Kind == Changes {
					take(b, "b", dst) // store it before looking
					for _, po := range b.Object(root) {
						if po.Incoming {
							if po.Total != n || po.Have+po.IncomingCount != n {
								t.Fatalf("mid-download: have %d, to receive %d, total %d; want total %d", po.Have, po.IncomingCount, po.Total, n)
							}
							seen = append(seen, po.Have)
						}
					}
				}
			}
		}
	}
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
