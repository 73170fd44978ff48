package objsync

import (
	"runtime"
	"testing"
)

// TestPeerStateIsCompact bounds what a machine keeps for each object at a
// connected peer that holds what it holds: a node keeps it for every object
// of a vault, for each device connected (100,000 objects, ten devices).
func TestPeerStateIsCompact(t *testing.T) {
	const n = 20_000
	st := newMem()
	var roots []ID
	for i := range n {
		id, raw := encode(ID{}, nil, uint64(i))
		st.receive(id, raw)
		roots = append(roots, id)
		st.persist([]HeldUpdate{{Peer: "dev", Object: id, Heads: HeadsHash([]ID{id})}})
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := New("node", st, DefaultConfig, func() (s [16]byte) { return s })
	// Connected from what the device held before, then its heads of each
	// object: what a node keeps after a device's reconciliation.
	if err := m.Connected("dev"); err != nil {
		t.Fatal(err)
	}
	for _, id := range roots {
		if err := m.Step("dev", Message{Kind: Heads, Object: id, Heads: []ID{id}}); err != nil {
			t.Fatal(err)
		}
		m.Advance()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes an object", per)
	if per > 250 {
		t.Errorf("a peer's state takes %.0f bytes an object, more than 250", per)
	}
	if po, err := m.Object(roots[7]); err != nil || len(po) != 1 || !po[0].HasMine {
		t.Fatalf("the device's state of an object: %+v, %v", po, err)
	}
	runtime.KeepAlive(m)
}

// TestObjectsNotHeldReadNoGraph: a fresh device is told the heads of every
// object of the vault; holding none of them, it has nothing to send and
// reads (and keeps) no graph for them.
func TestObjectsNotHeldReadNoGraph(t *testing.T) {
	st := newMem()
	m := New("device", st, DefaultConfig, func() (s [16]byte) { return s })
	if err := m.Connected("node"); err != nil {
		t.Fatal(err)
	}
	m.Advance()
	for i := range 100 {
		id, _ := encode(ID{}, nil, uint64(i))
		if err := m.Step("node", Message{Kind: Heads, Object: id, Heads: []ID{id}}); err != nil {
			t.Fatal(err)
		}
		rd := m.Ready()
		if len(rd.Messages) != 1 || rd.Messages[0].Msg.Kind != Heads || len(rd.Messages[0].Msg.Heads) != 0 {
			t.Fatalf("told the heads of an object it lacks, the device says %+v; want its (empty) heads", rd.Messages)
		}
		m.Advance()
	}
	if st.graphs != 0 {
		t.Fatalf("%d graphs read for objects the device holds none of", st.graphs)
	}
}

// TestEqualHeadsReadNoGraph: heads equal to ours acknowledge everything
// in flight and need no look at the graph: in a first sync every object
// ends so on both sides.
func TestEqualHeadsReadNoGraph(t *testing.T) {
	st := newMem()
	var roots []ID
	for i := range 100 {
		id, raw := encode(ID{}, nil, uint64(i))
		st.receive(id, raw)
		roots = append(roots, id)
	}
	m := New("device", st, DefaultConfig, func() (s [16]byte) { return s })
	if err := m.Connected("node"); err != nil {
		t.Fatal(err)
	}
	m.Advance()
	for _, id := range roots {
		for range 2 { // acknowledged once, however often told
			if err := m.Step("node", Message{Kind: Heads, Object: id, Heads: []ID{id}}); err != nil {
				t.Fatal(err)
			}
		}
		rd := m.Ready()
		if len(rd.Messages) != 1 || rd.Messages[0].Msg.Kind != Heads || len(rd.Messages[0].Msg.Heads) != 1 {
			t.Fatalf("told heads equal to its own, the device says %+v; want its heads, once", rd.Messages)
		}
		m.Advance()
	}
	if st.graphs != 0 {
		t.Fatalf("%d graphs read for heads equal to ours", st.graphs)
	}
	if po, err := m.Object(roots[3]); err != nil || !po[0].HasMine {
		t.Fatalf("the node's state of an object it acknowledged: %+v, %v", po, err)
	}
}
