package objsync

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"maps"
	"slices"

	"mycel/internal/reconcile"
)

// memStore is an in-memory store that verifies changes the way a real one
// does in spirit: the bytes must hash to the id and decode; parents must be
// present, else the change is parked until they come. It also keeps what
// peers said they hold, and can be made to fail every read (fail) or to
// refuse given changes (refuse).
type memStore struct {
	changes map[ID]memChange
	heads   map[ID][]ID
	order   map[ID][]ID // each object's changes in arrival order
	parked  map[ID]memChange
	held    map[PeerID]map[ID][32]byte
	refuse  map[ID]bool
	fail    error // while set, every read fails with it
	graphs  int   // graphs read
}

type memChange struct {
	obj     ID
	parents []ID
	raw     []byte
}

func newMem() *memStore {
	return &memStore{changes: map[ID]memChange{}, heads: map[ID][]ID{}, order: map[ID][]ID{}, parked: map[ID]memChange{},
		held: map[PeerID]map[ID][32]byte{}, refuse: map[ID]bool{}}
}

// errDisk is the storage error tests inject.
var errDisk = errors.New("disk I/O error")

// encode makes a change: object (zero for a root), parents, a nonce, and
// pad bytes of padding (to make a change of some size).
func encode(obj ID, parents []ID, nonce uint64) (ID, []byte) {
	return encodePad(obj, parents, nonce, 0)
}

func encodePad(obj ID, parents []ID, nonce uint64, pad int) (ID, []byte) {
	raw := append([]byte(nil), obj[:]...)
	raw = binary.AppendUvarint(raw, uint64(len(parents)))
	for _, p := range parents {
		raw = append(raw, p[:]...)
	}
	raw = binary.AppendUvarint(raw, nonce)
	raw = append(raw, make([]byte, pad)...)
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
	if !ok || s.refuse[id] {
		return Rejected
	}
	if !s.ready(id, c) {
		s.parked[id] = c
		return Waiting
	}
	s.put(id, c)
	for progress := true; progress; {
		progress = false
		for _, pid := range slices.SortedFunc(maps.Keys(s.parked), func(a, b ID) int { return bytes.Compare(a[:], b[:]) }) {
			if pc := s.parked[pid]; s.ready(pid, pc) {
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

// parkedOf counts an object's parked changes.
func (s *memStore) parkedOf(obj ID) int {
	n := 0
	for _, c := range s.parked {
		if c.obj == obj {
			n++
		}
	}
	return n
}

// persist keeps what peers said they hold (a Ready's Held).
func (s *memStore) persist(hs []HeldUpdate) {
	for _, h := range hs {
		if s.held[h.Peer] == nil {
			s.held[h.Peer] = map[ID][32]byte{}
		}
		s.held[h.Peer][h.Object] = h.Heads
	}
}

func (s *memStore) Objects() ([]reconcile.Item, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	var out []reconcile.Item
	for obj, hs := range s.heads {
		out = append(out, reconcile.Item{ID: obj, Value: HeadsHash(hs)})
	}
	return out, nil
}

func (s *memStore) Heads(obj ID) ([]ID, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	return slices.Clone(s.heads[obj]), nil
}

func (s *memStore) Has(_, id ID) (bool, error) {
	if s.fail != nil {
		return false, s.fail
	}
	_, ok := s.changes[id]
	return ok, nil
}

func (s *memStore) Graph(obj ID) (*Graph, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	s.graphs++
	g := &Graph{}
	for _, id := range s.order[obj] {
		c := s.changes[id]
		g.Add(id, c.parents, len(c.raw))
	}
	return g, nil
}

func (s *memStore) Raws(_ ID, ids []ID) ([][]byte, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = s.changes[id].raw
	}
	return out, nil
}

func (s *memStore) Held(p PeerID) (map[ID][32]byte, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	return maps.Clone(s.held[p]), nil
}

// has is Has for tests, which never fail.
func (s *memStore) has(id ID) bool { _, ok := s.changes[id]; return ok }

// closure is the set of changes heads name, with all their ancestors.
func (s *memStore) closure(heads []ID) map[ID]bool {
	in := map[ID]bool{}
	stack := slices.Clone(heads)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c, ok := s.changes[id]
		if !ok || in[id] {
			continue
		}
		in[id] = true
		stack = append(stack, c.parents...)
	}
	return in
}
