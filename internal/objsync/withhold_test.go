package objsync

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// withholding is a memStore that keeps some objects to itself.
type withholding struct {
	*memStore
	off map[ID]bool
}

func (w *withholding) Withheld(obj ID) bool { return w.off[obj] }

// A device that keeps objects off sync never names one to a peer (in
// heads, changes or reconciliation), whatever the network does, and no
// peer ever holds a change of one made while it was withheld; given back,
// they converge like any other.
func TestWithheldObjectsNeverLeave(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := &sim{t: rt, rng: rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 1)),
			names:  []PeerID{"dev-a", "dev-b", "node"},
			stores: map[PeerID]*memStore{}, machines: map[PeerID]*Machine{},
			links: map[[2]PeerID]bool{}, cut: map[[2]PeerID]bool{}, said: map[PeerID]map[ID][][]ID{}}
		for _, p := range s.names {
			s.stores[p] = newMem()
			s.newMachine(p)
		}
		a := &withholding{memStore: s.stores["dev-a"], off: map[ID]bool{}}
		cfg := Config{ReconcileEvery: 5, BatchBytes: 300, Window: 600, PeerWindow: 900}
		s.machines["dev-a"] = New("dev-a", a, cfg, s.salt)
		// secret: changes dev-a made while their object was withheld.
		secret := map[ID]ID{} // change → object
		links := func() {
			for _, x := range s.names {
				for _, y := range s.names {
					if x < y {
						s.connect(x, y)
					}
				}
			}
		}
		links()
		objects := func(st *memStore) []ID {
			objs := slices.Collect(func(yield func(ID) bool) {
				for o := range st.heads {
					if !yield(o) {
						return
					}
				}
			})
			slices.SortFunc(objs, func(x, y ID) int { return bytes.Compare(x[:], y[:]) })
			return objs
		}
		editA := func() {
			s.nonce++
			objs := objects(a.memStore)
			var id, obj ID
			var raw []byte
			if len(objs) == 0 || rapid.IntRange(0, 3).Draw(rt, "new object") == 0 {
				id, raw = encode(ID{}, nil, s.nonce)
				obj = id
				if rapid.Bool().Draw(rt, "private") {
					a.off[obj] = true // before it is stored, as SetSyncOff in the same transaction
				}
			} else {
				obj = objs[rapid.IntRange(0, len(objs)-1).Draw(rt, "object")]
				id, raw = encode(obj, a.heads[obj], s.nonce)
			}
			if a.receive(id, raw) != Stored {
				rt.Fatal("local change not stored")
			}
			if a.off[obj] {
				secret[id] = obj
			}
			s.must(s.machines["dev-a"].Changed(obj))
			s.flush("dev-a")
		}
		// Every message dev-a sends is checked as it leaves.
		s.sent = func(f flight) {
			if f.from != "dev-a" {
				return
			}
			for obj := range a.off {
				if (f.msg.Kind == Heads || f.msg.Kind == Changes) && f.msg.Object == obj {
					rt.Fatalf("dev-a named withheld object %x to %s (%v)", obj[:4], f.to, f.msg.Kind)
				}
				if f.msg.Kind == Recon && bytes.Contains(f.msg.Recon, obj[:]) {
					rt.Fatalf("dev-a's reconciliation names withheld object %x", obj[:4])
				}
			}
		}
		check := func() {
			for id := range secret {
				for _, p := range []PeerID{"dev-b", "node"} {
					if s.stores[p].has(id) {
						rt.Fatalf("%s holds change %x, made while its object was withheld", p, id[:4])
					}
				}
			}
		}
		steps := rapid.IntRange(10, 120).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 8).Draw(rt, "event") {
			case 0, 1:
				editA()
			case 2:
				s.edit("dev-b")
			case 3, 4:
				if len(s.flight) > 0 {
					s.deliver(rapid.IntRange(0, len(s.flight)-1).Draw(rt, "deliver"))
				}
			case 5:
				if len(s.flight) > 0 {
					k := rapid.IntRange(0, len(s.flight)-1).Draw(rt, "drop")
					s.flight = append(s.flight[:k], s.flight[k+1:]...)
				}
			case 6: // dev-a withholds an object it shares now (received, say)
				if objs := objects(a.memStore); len(objs) > 0 {
					a.off[objs[rapid.IntRange(0, len(objs)-1).Draw(rt, "withhold")]] = true
				}
			case 7:
				x := s.names[rapid.IntRange(0, 2).Draw(rt, "x")]
				y := s.names[rapid.IntRange(0, 2).Draw(rt, "y")]
				if x != y {
					s.disconnect(x, y)
					links()
				}
			case 8:
				p := s.names[rapid.IntRange(0, 2).Draw(rt, "ticker")]
				s.must(s.machines[p].Tick())
				s.flush(p)
			}
			check()
		}
		// Quiet, with reconciliations: still nothing withheld leaves.
		for round := 0; round < 20; round++ {
			for len(s.flight) > 0 {
				s.deliver(0)
				check()
			}
			for _, p := range s.names {
				for k := 0; k < 5; k++ {
					s.must(s.machines[p].Tick())
				}
				s.flush(p)
			}
			check()
		}
		// Given back: everything converges.
		released := slices.Collect(func(yield func(ID) bool) {
			for o := range a.off {
				if !yield(o) {
					return
				}
			}
		})
		clear(a.off)
		s.sent = nil
		for _, o := range released {
			s.must(s.machines["dev-a"].Changed(o))
		}
		s.flush("dev-a")
		for round := 0; round < 50 && !s.converged(); round++ {
			for n := 0; len(s.flight) > 0; n++ {
				if n > 200000 {
					rt.Fatal("messages never stop")
				}
				s.deliver(0)
			}
			for _, p := range s.names {
				for k := 0; k < 5; k++ {
					s.must(s.machines[p].Tick())
				}
				s.flush(p)
			}
		}
		if !s.converged() {
			rt.Fatalf("not converged once given back:\n%s", s.report())
		}
	})
}

// Reconciling with a node, a device that withholds objects the node never
// had sends byte for byte what it would send without them: nothing tells
// that they exist, not even how many there are.
func TestWithheldObjectsCostNoBytes(t *testing.T) {
	transcript := func(withheld int) []Message { return withheldTranscript(t, 200, withheld) }
	want := transcript(0)
	for _, n := range []int{1, 50, 1000} {
		got := transcript(n)
		if len(got) != len(want) {
			t.Fatalf("with %d objects withheld, dev-a sent %d messages, %d without", n, len(got), len(want))
		}
		for i := range got {
			if got[i].Kind != want[i].Kind || got[i].Object != want[i].Object || !bytes.Equal(got[i].Recon, want[i].Recon) {
				t.Fatalf("with %d objects withheld, message %d differs: %v %x… against %v %x…", n, i, got[i].Kind, got[i].Recon[:min(8, len(got[i].Recon))], want[i].Kind, want[i].Recon[:min(8, len(want[i].Recon))])
			}
		}
	}
	if len(want) == 0 {
		t.Fatal("no reconciliation ran")
	}
}

// BenchmarkReconcileWithWithheld: a device holding 10,000 objects the
// node holds too reconciles with it, with none or 1,000 more kept off
// sync; it reports the bytes of reconciliation dev-a sends (the same).
func BenchmarkReconcileWithWithheld(b *testing.B) {
	for _, withheld := range []int{0, 1000} {
		b.Run(fmt.Sprintf("withheld=%d", withheld), func(b *testing.B) {
			var bytes int
			for range b.N {
				bytes = 0
				for _, m := range withheldTranscript(b, 10000, withheld) {
					bytes += len(m.Recon)
				}
			}
			b.ReportMetric(float64(bytes), "recon-bytes")
		})
	}
}

// withheldTranscript is what dev-a sends a node over four reconciliation
// periods, holding shared objects the node holds too and withheld ones
// the node never had.
func withheldTranscript(t testing.TB, shared, withheld int) []Message {
	s := &sim{rng: rand.New(rand.NewPCG(7, 1)), names: []PeerID{"dev-a", "node"},
		stores: map[PeerID]*memStore{}, machines: map[PeerID]*Machine{},
		links: map[[2]PeerID]bool{}, cut: map[[2]PeerID]bool{}, said: map[PeerID]map[ID][][]ID{}}
	a := &withholding{memStore: newMem(), off: map[ID]bool{}}
	s.stores["dev-a"], s.stores["node"] = a.memStore, newMem()
	// Shared objects, held by both; and objects only dev-a holds, off.
	for i := range shared {
		id, raw := encode(ID{}, nil, uint64(i))
		a.receive(id, raw)
		s.stores["node"].receive(id, raw)
	}
	for i := range withheld {
		id, raw := encode(ID{}, nil, uint64(shared+i))
		a.off[id] = true
		a.receive(id, raw)
	}
	cfg := Config{ReconcileEvery: 5, BatchBytes: 300, Window: 600, PeerWindow: 900}
	s.machines["dev-a"] = New("dev-a", a, cfg, s.salt)
	s.machines["node"] = New("node", s.stores["node"], cfg, s.salt)
	var sent []Message
	s.sent = func(f flight) {
		if f.from == "dev-a" {
			sent = append(sent, f.msg)
		}
	}
	s.connect("dev-a", "node")
	for round := 0; round < 4; round++ {
		for len(s.flight) > 0 {
			s.deliver(0)
		}
		for _, p := range s.names {
			for k := 0; k < 5; k++ {
				if err := s.machines[p].Tick(); err != nil {
					t.Fatal(err)
				}
			}
			s.flush(p)
		}
	}
	return sent
}
