package change

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/bits"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"mycel/internal/crdt"
	"mycel/internal/pb"
)

// Payload is the decrypted content of a change: operations, or for a
// snapshot the whole object state.
type Payload struct {
	Ops   []crdt.Op
	State []byte // canonical crdt state (snapshot changes only)
	// Start is the first operation counter, as opened (sealed in the
	// payload, or the change's Lamport for a change without
	// SealedCounter); New takes it from the draft.
	Start uint64
}

// CRDT returns the change in the merge engine's terms.
func (p *Payload) CRDT(c *Change) *crdt.Change {
	start := p.Start
	if start == 0 { // a payload not opened from a change
		start = c.Lamport
	}
	return &crdt.Change{Actor: string(c.Author), Start: start, Ops: p.Ops}
}

func (p *Payload) marshal(author ed25519.PublicKey, start uint64) ([]byte, error) {
	actors := map[string]uint32{string(author): 0}
	m := &pb.Payload{Actors: [][]byte{author}, State: p.State, Start: start}
	id := func(x crdt.ID) *pb.OpID {
		if x.IsZero() {
			return nil
		}
		a, ok := actors[x.Actor]
		if !ok {
			a = uint32(len(m.Actors))
			actors[x.Actor] = a
			m.Actors = append(m.Actors, []byte(x.Actor))
		}
		return &pb.OpID{Counter: x.Counter, Actor: a}
	}
	for _, op := range p.Ops {
		po := &pb.Op{Kind: uint32(op.Kind), Block: id(op.Block), Parent: id(op.Parent), Ref: id(op.Ref), Right: id(op.Right),
			Sides: uint32(op.Sides), Key: op.Key, Value: op.Value, Unset: op.Unset, Text: op.Text}
		for _, s := range op.Spans {
			po.Spans = append(po.Spans, &pb.Span{Start: id(s.Start), N: uint32(s.N)})
		}
		for _, s := range op.Seen {
			po.Seen = append(po.Seen, id(s))
		}
		m.Ops = append(m.Ops, po)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	return pad(b), nil
}

// minSealed is the smallest padded payload: every edit of a few words
// looks alike. (128, not more: most changes are a few characters typed,
// and 256 made a vault of small edits 58% bigger on the node.)
const minSealed = 128

// padTo is the size a payload of n bytes is padded to: Padmé (Nikitin et
// al., "Reducing Metadata Leakage from Encrypted Files and Communication
// with PURBs", 2019): the size keeps its exponent and the top bits of its
// mantissa, so at most 12% is added and a size reveals O(log log n) bits,
// not the exact length of what was typed.
func padTo(n int) int {
	if n <= minSealed {
		return minSealed
	}
	e := bits.Len(uint(n)) - 1 // floor(log2 n)
	s := bits.Len(uint(e))     // floor(log2 e) + 1
	mask := 1<<(e-s) - 1
	return (n + mask) &^ mask
}

// pad appends to an encoded payload a padding field (number 15, zeros)
// that brings it to padTo of its length; protobuf reads the fields of a
// message in any order, so the payload decodes as before. Where the
// field's length prefix grows by a byte (no length fits exactly), a
// two-byte empty field 14 goes first.
func pad(b []byte) []byte {
	target := padTo(len(b) + 2) // the field takes at least 2 bytes
	for _, pre := range [][]byte{nil, {0x70, 0x00}} {
		room := target - len(b) - len(pre) - 1 // for the length prefix and n zeros
		for k := 1; k <= 5; k++ {              // bytes of the length prefix
			if n := room - k; n >= 0 && protowire.SizeVarint(uint64(n)) == k {
				f := protowire.AppendBytes(protowire.AppendTag(pre, 15, protowire.BytesType), make([]byte, n))
				return append(b, f...)
			}
		}
	}
	return b // unreachable: with or without field 14, some n fits
}

func unmarshalPayload(b []byte, c *Change) (*Payload, error) {
	var m pb.Payload
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if len(m.Actors) == 0 || string(m.Actors[0]) != string(c.Author) {
		return nil, errors.New("actor table does not start with the author")
	}
	for i, a := range m.Actors {
		if len(a) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("actor %d is %d bytes", i, len(a))
		}
	}
	p := &Payload{State: m.State, Start: c.Lamport}
	if c.Snapshot != (len(m.State) > 0) || (c.Snapshot && len(m.Ops) > 0) {
		return nil, errors.New("snapshot flag does not match the content")
	}
	switch {
	case !c.SealedCounter && m.Start != 0:
		return nil, errors.New("a counter sealed in a change that says it has none")
	case c.SealedCounter:
		// How far above its parents' it may start, a device checks with
		// their payloads (vault: checkStart).
		if m.Start == 0 || m.Start > crdt.MaxCounter {
			return nil, fmt.Errorf("its first counter %d is 0 or over the limit of %d", m.Start, uint64(crdt.MaxCounter))
		}
		p.Start = m.Start
	}
	var err error
	id := func(x *pb.OpID) crdt.ID {
		if x == nil || x.Counter == 0 {
			return crdt.ID{}
		}
		if int(x.Actor) >= len(m.Actors) {
			err = fmt.Errorf("actor index %d out of range", x.Actor)
			return crdt.ID{}
		}
		return crdt.ID{Counter: x.Counter, Actor: string(m.Actors[x.Actor])}
	}
	p.Ops = make([]crdt.Op, len(m.Ops))
	for i, po := range m.Ops {
		if po.Kind < uint32(crdt.OpSetDetail) || po.Kind > uint32(crdt.OpMark) {
			return nil, fmt.Errorf("op %d has unknown kind %d", i, po.Kind)
		}
		op := crdt.Op{Kind: crdt.OpKind(po.Kind), Block: id(po.Block), Parent: id(po.Parent), Ref: id(po.Ref), Right: id(po.Right),
			Sides: uint8(po.Sides), Key: po.Key, Value: po.Value, Unset: po.Unset, Text: po.Text}
		if po.Sides > crdt.StartAfter|crdt.EndBefore {
			return nil, fmt.Errorf("op %d has unknown anchor sides %d", i, po.Sides)
		}
		if op.Kind == crdt.OpInsertText && op.Text == "" {
			return nil, fmt.Errorf("op %d inserts no text", i)
		}
		for _, s := range po.Spans {
			if s.N == 0 {
				return nil, fmt.Errorf("op %d deletes an empty span", i)
			}
			op.Spans = append(op.Spans, crdt.Span{Start: id(s.Start), N: int(s.N)})
		}
		for _, s := range po.Seen {
			if s == nil || s.Counter == 0 {
				return nil, fmt.Errorf("op %d saw an empty op id", i)
			}
			op.Seen = append(op.Seen, id(s))
		}
		p.Ops[i] = op
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}
