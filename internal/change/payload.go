package change

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"mycel/internal/crdt"
	"mycel/internal/pb"
)

// Payload is the decrypted content of a change: operations, or for a
// snapshot the whole object state.
type Payload struct {
	Ops   []crdt.Op
	State []byte // canonical crdt state (snapshot changes only)
}

// CRDT returns the change in the merge engine's terms.
func (p *Payload) CRDT(c *Change) *crdt.Change {
	return &crdt.Change{Actor: string(c.Author), Start: c.Lamport, Ops: p.Ops}
}

func (p *Payload) marshal(author ed25519.PublicKey) ([]byte, error) {
	actors := map[string]uint32{string(author): 0}
	m := &pb.Payload{Actors: [][]byte{author}, State: p.State}
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
		po := &pb.Op{Kind: uint32(op.Kind), Block: id(op.Block), Parent: id(op.Parent), Ref: id(op.Ref),
			Key: op.Key, Value: op.Value, Unset: op.Unset, Text: op.Text}
		for _, s := range op.Spans {
			po.Spans = append(po.Spans, &pb.Span{Start: id(s.Start), N: uint32(s.N)})
		}
		for _, s := range op.Seen {
			po.Seen = append(po.Seen, id(s))
		}
		m.Ops = append(m.Ops, po)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
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
	p := &Payload{State: m.State}
	if c.Snapshot != (len(m.State) > 0) || (c.Snapshot && len(m.Ops) > 0) {
		return nil, errors.New("snapshot flag does not match the content")
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
		if po.Kind < uint32(crdt.OpSetDetail) || po.Kind > uint32(crdt.OpDeleteText) {
			return nil, fmt.Errorf("op %d has unknown kind %d", i, po.Kind)
		}
		op := crdt.Op{Kind: crdt.OpKind(po.Kind), Block: id(po.Block), Parent: id(po.Parent), Ref: id(po.Ref),
			Key: po.Key, Value: po.Value, Unset: po.Unset, Text: po.Text}
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
