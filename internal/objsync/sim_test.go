package objsync

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"mycel/internal/checks"
	"mycel/internal/reconcile"
)

func TestMain(m *testing.M) { checks.Default(m, "1000") }

// sim is a network of machines.
type sim struct {
	t        *rapid.T
	rng      *rand.Rand
	names    []PeerID
	stores   map[PeerID]*memStore
	machines map[PeerID]*Machine
	links    map[[2]PeerID]bool // connected pairs (ordered a < b)
	cut      map[[2]PeerID]bool // partitioned pairs
	flight   []flight
	created  []ID
	nonce    uint64
	// said is every set of heads the node told each device it holds, per
	// object (in Heads and Changes messages that arrived).
	said map[PeerID]map[ID][][]ID
	// sent, when set, sees every message as it is sent.
	sent func(flight)
}

type flight struct {
	from, to PeerID
	msg      Message
}

func pair(a, b PeerID) [2]PeerID {
	if b < a {
		a, b = b, a
	}
	return [2]PeerID{a, b}
}

func (s *sim) salt() [reconcile.SaltSize]byte {
	var b [reconcile.SaltSize]byte
	for i := range b {
		b[i] = byte(s.rng.IntN(256))
	}
	return b
}

func (s *sim) newMachine(p PeerID) {
	s.machines[p] = New(p, s.stores[p], Config{ReconcileEvery: 5, BatchBytes: 300, Window: 600, PeerWindow: 900}, s.salt)
}

func (s *sim) connect(a, b PeerID) {
	k := pair(a, b)
	if s.links[k] || s.cut[k] {
		return
	}
	s.links[k] = true
	s.must(s.machines[a].Connected(b))
	s.must(s.machines[b].Connected(a))
	s.flush(a)
	s.flush(b)
}

func (s *sim) disconnect(a, b PeerID) {
	k := pair(a, b)
	if !s.links[k] {
		return
	}
	delete(s.links, k)
	s.machines[a].Disconnected(b)
	s.machines[b].Disconnected(a)
	// What was in flight between them is lost with the connection.
	kept := s.flight[:0]
	for _, f := range s.flight {
		if pair(f.from, f.to) != k {
			kept = append(kept, f)
		}
	}
	s.flight = kept
}

func (s *sim) must(err error) {
	if err != nil {
		s.t.Fatal(err)
	}
}

// flush runs a machine's Ready loop: store what came and what peers said
// they hold, then send.
func (s *sim) flush(p PeerID) {
	m := s.machines[p]
	for m.HasReady() {
		rd := m.Ready()
		m.Advance()
		s.stores[p].persist(rd.Held)
		// Group outcomes per (from, object) message, in order.
		type key struct {
			from PeerID
			obj  ID
		}
		var order []key
		outs := map[key][]Outcome{}
		for _, in := range rd.Received {
			k := key{in.From, in.Object}
			if _, ok := outs[k]; !ok {
				order = append(order, k)
			}
			outs[k] = append(outs[k], s.stores[p].receive(in.Change.ID, in.Change.Raw))
		}
		for _, k := range order {
			s.must(m.Applied(k.from, k.obj, outs[k]))
		}
		for _, e := range rd.Messages {
			if s.links[pair(p, e.To)] {
				s.flight = append(s.flight, flight{p, e.To, e.Msg})
				if s.sent != nil {
					s.sent(s.flight[len(s.flight)-1])
				}
			}
		}
	}
}

func (s *sim) edit(p PeerID) {
	st := s.stores[p]
	s.nonce++
	var objs []ID
	for obj := range st.heads {
		objs = append(objs, obj)
	}
	slices.SortFunc(objs, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	var id ID
	var raw []byte
	var obj ID
	if len(objs) == 0 || rapid.IntRange(0, 4).Draw(s.t, "new object") == 0 {
		id, raw = encode(ID{}, nil, s.nonce)
		obj = id
	} else {
		obj = objs[rapid.IntRange(0, len(objs)-1).Draw(s.t, "object")]
		id, raw = encode(obj, st.heads[obj], s.nonce)
	}
	if st.receive(id, raw) != Stored {
		s.t.Fatalf("local change not stored")
	}
	s.created = append(s.created, id)
	s.must(s.machines[p].Changed(obj))
	s.flush(p)
}

func (s *sim) deliver(i int) {
	f := s.flight[i]
	s.flight = append(s.flight[:i], s.flight[i+1:]...)
	if !s.links[pair(f.from, f.to)] {
		return
	}
	if f.from == "node" && (f.msg.Kind == Heads || f.msg.Kind == Changes) {
		if s.said[f.to] == nil {
			s.said[f.to] = map[ID][][]ID{}
		}
		s.said[f.to][f.msg.Object] = append(s.said[f.to][f.msg.Object], f.msg.Heads)
	}
	if err := s.machines[f.to].Step(f.from, f.msg); err != nil {
		s.t.Fatalf("%s from %s: %v", f.to, f.from, err)
	}
	s.flush(f.to)
}

func TestSimulatedNetworkConverges(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s := &sim{t: rt, rng: rand.New(rand.NewPCG(rapid.Uint64().Draw(rt, "seed"), 1)),
			names:  []PeerID{"dev-a", "dev-b", "dev-c", "node"},
			stores: map[PeerID]*memStore{}, machines: map[PeerID]*Machine{},
			links: map[[2]PeerID]bool{}, cut: map[[2]PeerID]bool{}, said: map[PeerID]map[ID][][]ID{}}
		for _, p := range s.names {
			s.stores[p] = newMem()
			s.newMachine(p)
		}
		// Devices talk to the node; sometimes also to each other.
		direct := rapid.Bool().Draw(rt, "device links")
		links := func() {
			for _, a := range s.names {
				for _, b := range s.names {
					if a < b && (a == "node" || b == "node" || direct) {
						s.connect(a, b)
					}
				}
			}
		}
		links()
		steps := rapid.IntRange(10, 150).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			s.checkHeldIsTrue()
			switch rapid.IntRange(0, 9).Draw(rt, "event") {
			case 0, 1:
				s.edit(s.names[rapid.IntRange(0, 2).Draw(rt, "editor")])
			case 2, 3, 4:
				if len(s.flight) > 0 {
					s.deliver(rapid.IntRange(0, len(s.flight)-1).Draw(rt, "deliver")) // any order
				}
			case 5:
				if len(s.flight) > 0 { // drop
					k := rapid.IntRange(0, len(s.flight)-1).Draw(rt, "drop")
					s.flight = append(s.flight[:k], s.flight[k+1:]...)
				}
			case 6:
				if len(s.flight) > 0 { // duplicate
					s.flight = append(s.flight, s.flight[rapid.IntRange(0, len(s.flight)-1).Draw(rt, "dup")])
				}
			case 7: // partition or heal a link
				a := s.names[rapid.IntRange(0, 3).Draw(rt, "a")]
				b := s.names[rapid.IntRange(0, 3).Draw(rt, "b")]
				if a != b {
					k := pair(a, b)
					if s.cut[k] {
						delete(s.cut, k)
						links()
					} else {
						s.cut[k] = true
						s.disconnect(a, b)
					}
				}
			case 8: // restart the node: its sync state is lost, its store kept
				for _, p := range s.names[:3] {
					s.disconnect(p, "node")
				}
				s.newMachine("node")
				links()
			case 9:
				p := s.names[rapid.IntRange(0, 3).Draw(rt, "ticker")]
				s.must(s.machines[p].Tick())
				s.flush(p)
			}
		}
		// Heal everything, then run until quiet: every message delivered,
		// with ticks so reconciliation repairs what drops lost.
		clear(s.cut)
		links()
		for round := 0; round < 50; round++ {
			for n := 0; len(s.flight) > 0; n++ {
				if n > 200000 {
					rt.Fatal("messages never stop")
				}
				s.deliver(0)
			}
			if s.converged() {
				break
			}
			for _, p := range s.names {
				for k := 0; k < 5; k++ {
					s.must(s.machines[p].Tick())
				}
				s.flush(p)
			}
		}
		if !s.converged() {
			rt.Fatalf("not converged:\n%s", s.report())
		}
		for _, id := range s.created {
			for _, p := range s.names {
				if !s.stores[p].has(id) {
					rt.Fatalf("change %x lost on %s", id[:4], p)
				}
			}
		}
		s.checkHeldIsTrue()
		// Quiet and converged: once reconciliations have run (a stalled one
		// restarts after two periods), every device knows the node holds
		// every object at its heads (status Synced).
		held := func() bool {
			for _, p := range s.names[:3] {
				for obj := range s.stores[p].heads {
					for _, po := range s.object(p, obj) {
						if po.Peer == "node" && !po.HasMine {
							return false
						}
					}
				}
			}
			return true
		}
		for round := 0; !held(); round++ {
			if round == 5 {
				rt.Fatalf("converged, but a device never learns that the node holds its objects")
			}
			for _, p := range s.names {
				for k := 0; k < 11; k++ {
					s.must(s.machines[p].Tick())
				}
				s.flush(p)
			}
			for len(s.flight) > 0 {
				s.deliver(0)
			}
		}
		s.checkHeldIsTrue()
	})
}

// checkHeldIsTrue: whenever a device believes the node holds its current
// heads of an object (what makes it Synced), the node's store has them,
// and the node said so: some heads it sent that device cover them. (A
// reconciliation's matching fingerprints are never its word.)
func (s *sim) checkHeldIsTrue() {
	node := s.stores["node"]
	for _, p := range s.names[:3] {
		for obj, heads := range s.stores[p].heads {
			for _, po := range s.object(p, obj) {
				if po.Peer != "node" || !po.HasMine {
					continue
				}
				for _, h := range heads {
					if !node.has(h) {
						s.t.Fatalf("%s believes the node holds %x, which the node lacks", p, h[:4])
					}
				}
				said := false
				for _, theirs := range s.said[p][obj] {
					in := node.closure(theirs)
					said = said || !slices.ContainsFunc(heads, func(h ID) bool { return !in[h] })
				}
				if !said {
					s.t.Fatalf("%s believes the node holds its heads of %x, which the node never said", p, obj[:4])
				}
			}
		}
	}
}

func (s *sim) object(p PeerID, obj ID) []PeerObject {
	out, err := s.machines[p].Object(obj)
	s.must(err)
	return out
}

func (s *sim) converged() bool {
	ref := s.stores["node"]
	for _, p := range s.names {
		st := s.stores[p]
		if len(st.changes) != len(ref.changes) || len(st.parked) != 0 {
			return false
		}
		for id := range ref.changes {
			if !st.has(id) {
				return false
			}
		}
	}
	return true
}

func (s *sim) report() string {
	out := ""
	for _, p := range s.names {
		out += fmt.Sprintf("%s: %d changes, %d parked, %d objects\n", p, len(s.stores[p].changes), len(s.stores[p].parked), len(s.stores[p].heads))
	}
	return out + fmt.Sprintf("created %d\n", len(s.created))
}
