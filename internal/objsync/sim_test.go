package objsync

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"mycel/internal/checks"
	"mycel/internal/reconcile"
)

func TestMain(m *testing.M) { checks.Default(m, "1000") }

// memStore is an in-memory store that verifies changes the way a real one
// does in spirit: the bytes must hash to the id and decode; parents must be
// present, else the change is parked until they come.
type memStore struct {
	changes map[ID]memChange
	heads   map[ID][]ID
	order   map[ID][]ID // each object's changes in arrival order
	parked  map[ID]memChange
}

type memChange struct {
	obj     ID
	parents []ID
	raw     []byte
}

func newMem() *memStore {
	return &memStore{changes: map[ID]memChange{}, heads: map[ID][]ID{}, order: map[ID][]ID{}, parked: map[ID]memChange{}}
}

// encode makes a change: object (zero for a root), parents, a nonce.
func encode(obj ID, parents []ID, nonce uint64) (ID, []byte) {
	raw := append([]byte(nil), obj[:]...)
	raw = binary.AppendUvarint(raw, uint64(len(parents)))
	for _, p := range parents {
		raw = append(raw, p[:]...)
	}
	raw = binary.AppendUvarint(raw, nonce)
	return sha256.Sum256(raw), raw
}

func decode(id ID, raw []byte) (memChange, bool) {
	if sha256.Sum256(raw) != id || len(raw) < 33 {
		return memChange{}, false
	}
	var c memChange
	copy(c.obj[:], raw)
	n, k := binary.Uvarint(raw[32:])
	if k <= 0 || n > 64 || len(raw) < 32+k+int(n)*32 {
		return memChange{}, false
	}
	off := 32 + k
	for i := 0; i < int(n); i++ {
		var p ID
		copy(p[:], raw[off:])
		c.parents = append(c.parents, p)
		off += 32
	}
	if c.obj == (ID{}) {
		c.obj = id // a root names its object
	}
	c.raw = raw
	return c, true
}

func (s *memStore) receive(id ID, raw []byte) Outcome {
	if _, ok := s.changes[id]; ok {
		return Stored
	}
	c, ok := decode(id, raw)
	if !ok {
		return Rejected
	}
	if !s.ready(id, c) {
		s.parked[id] = c
		return Waiting
	}
	s.put(id, c)
	for progress := true; progress; {
		progress = false
		for pid, pc := range s.parked {
			if s.ready(pid, pc) {
				delete(s.parked, pid)
				s.put(pid, pc)
				progress = true
			}
		}
	}
	return Stored
}

func (s *memStore) ready(id ID, c memChange) bool {
	if c.obj != id {
		if _, ok := s.changes[c.obj]; !ok {
			return false
		}
	}
	for _, p := range c.parents {
		if _, ok := s.changes[p]; !ok {
			return false
		}
	}
	return true
}

func (s *memStore) put(id ID, c memChange) {
	s.changes[id] = c
	s.order[c.obj] = append(s.order[c.obj], id)
	var heads []ID
	for _, h := range s.heads[c.obj] {
		if !slices.Contains(c.parents, h) {
			heads = append(heads, h)
		}
	}
	s.heads[c.obj] = append(heads, id)
}

func (s *memStore) Objects() []reconcile.Item {
	var out []reconcile.Item
	for obj, hs := range s.heads {
		out = append(out, reconcile.Item{ID: obj, Value: HeadsHash(hs)})
	}
	return out
}
func (s *memStore) Heads(obj ID) []ID { return slices.Clone(s.heads[obj]) }
func (s *memStore) Has(id ID) bool    { _, ok := s.changes[id]; return ok }
func (s *memStore) Graph(obj ID) []Node {
	var out []Node
	for _, id := range s.order[obj] {
		out = append(out, Node{ID: id, Parents: s.changes[id].parents})
	}
	return out
}
func (s *memStore) Raws(_ ID, ids []ID) [][]byte {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = s.changes[id].raw
	}
	return out
}

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
	s.machines[p] = New(p, s.stores[p], Config{ReconcileEvery: 5, BatchBytes: 300, Window: 600}, s.salt)
}

func (s *sim) connect(a, b PeerID) {
	k := pair(a, b)
	if s.links[k] || s.cut[k] {
		return
	}
	s.links[k] = true
	s.machines[a].Connected(b)
	s.machines[b].Connected(a)
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

// flush runs a machine's Ready loop: store what came, then send.
func (s *sim) flush(p PeerID) {
	m := s.machines[p]
	for m.HasReady() {
		rd := m.Ready()
		m.Advance()
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
			m.Applied(k.from, k.obj, outs[k])
		}
		for _, e := range rd.Messages {
			if s.links[pair(p, e.To)] {
				s.flight = append(s.flight, flight{p, e.To, e.Msg})
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
		id, raw = encode(obj, st.Heads(obj), s.nonce)
	}
	if st.receive(id, raw) != Stored {
		s.t.Fatalf("local change not stored")
	}
	s.created = append(s.created, id)
	s.machines[p].Changed(obj)
	s.flush(p)
}

func (s *sim) deliver(i int) {
	f := s.flight[i]
	s.flight = append(s.flight[:i], s.flight[i+1:]...)
	if !s.links[pair(f.from, f.to)] {
		return
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
			links: map[[2]PeerID]bool{}, cut: map[[2]PeerID]bool{}}
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
				s.machines[p].Tick()
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
					s.machines[p].Tick()
				}
				s.flush(p)
			}
		}
		if !s.converged() {
			rt.Fatalf("not converged:\n%s", s.report())
		}
		for _, id := range s.created {
			for _, p := range s.names {
				if !s.stores[p].Has(id) {
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
					for _, po := range s.machines[p].Object(obj) {
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
					s.machines[p].Tick()
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
// heads of an object (what makes it Synced), the node's store has them.
func (s *sim) checkHeldIsTrue() {
	for _, p := range s.names[:3] {
		for obj, heads := range s.stores[p].heads {
			for _, po := range s.machines[p].Object(obj) {
				if po.Peer != "node" || !po.HasMine {
					continue
				}
				for _, h := range heads {
					if !s.stores["node"].Has(h) {
						s.t.Fatalf("%s believes the node holds %x, which the node lacks", p, h[:4])
					}
				}
			}
		}
	}
}

func (s *sim) converged() bool {
	ref := s.stores["node"]
	for _, p := range s.names {
		st := s.stores[p]
		if len(st.changes) != len(ref.changes) || len(st.parked) != 0 {
			return false
		}
		for id := range ref.changes {
			if !st.Has(id) {
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
