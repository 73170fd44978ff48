// Package crdt computes an object's state from its changes. It is pure: no I/O,
// no goroutines, no clock. The same set of changes, applied in any causal
// order, gives byte-identical state (see Doc.MarshalState).
//
// An object is a set of details (LWW registers), a tree of blocks and, per
// block, a character sequence. Every operation has an ID (counter, actor): a
// change starts at a Lamport counter one above every counter its author has
// seen and each operation consumes counters from there, so IDs are unique and
// totally ordered, and an ID doubles as the timestamp of last-writer-wins
// registers. Text is a Fugue sequence of run-length runs (text.go); blocks are
// placed by an RGA sequence of position elements plus an LWW location register
// per block, so moves never duplicate a block (blocks.go).
package crdt

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ID identifies one operation or character. The zero ID means "none": the
// start of a sequence or the page root.
type ID struct {
	Counter uint64
	Actor   string
}

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id.Counter == 0 && id.Actor == "" }

// String writes id as counter@actor-in-hex ("" for zero), the form block
// attributes use to name another block (a cell its column).
func (id ID) String() string {
	if id.IsZero() {
		return ""
	}
	return strconv.FormatUint(id.Counter, 10) + "@" + hex.EncodeToString([]byte(id.Actor))
}

// ParseID reads what String wrote.
func ParseID(s string) (ID, error) {
	c, a, ok := strings.Cut(s, "@")
	n, err := strconv.ParseUint(c, 10, 64)
	actor, herr := hex.DecodeString(a)
	if !ok || err != nil || herr != nil || n == 0 || len(actor) == 0 {
		return ID{}, fmt.Errorf("block id %q is not counter@hex", s)
	}
	return ID{Counter: n, Actor: string(actor)}, nil
}

// Less orders IDs by counter, then actor.
func (id ID) Less(o ID) bool {
	if id.Counter != o.Counter {
		return id.Counter < o.Counter
	}
	return id.Actor < o.Actor
}

// Span names N consecutive counters of one actor, starting at Start.
type Span struct {
	Start ID
	N     int
}

// OpKind says what an Op does.
type OpKind uint8

// Operation kinds. Values are part of the encoded format: never renumber.
const (
	OpSetDetail   OpKind = 1 // Key, Value / Unset
	OpInsertBlock OpKind = 2 // Parent, Ref = position element to follow, Value = block type
	OpDeleteBlock OpKind = 3 // Block, Seen
	OpMoveBlock   OpKind = 4 // Block, Parent, Ref
	OpSetAttr     OpKind = 5 // Block, Key, Value / Unset
	OpInsertText  OpKind = 6 // Block, Ref = character to follow, Right = character it went before, Text
	OpDeleteText  OpKind = 7 // Block, Spans
	OpMark        OpKind = 8 // Block, Key = mark type, Value, Unset = remove, Ref = start, Right = end, Sides (marks.go)
)

// Op is one operation. Which fields matter depends on Kind (see the constants).
type Op struct {
	Kind   OpKind
	Block  ID
	Parent ID
	Ref    ID
	// Right (text inserts) is the character that followed Ref when the
	// text was typed, deleted or not: the right origin of Fugue. Zero is
	// the end, and what inserts written before Fugue say.
	Right ID
	Key   string
	Value string
	Unset bool
	Text  string
	Spans []Span
	// Sides (marks) says on which side of Ref and Right the anchors are:
	// StartAfter, EndBefore.
	Sides uint8
	// Seen (block deletes): per actor, the greatest counter among the ops
	// on the block and the blocks under it that the delete saw. An op it
	// did not see (made concurrently) makes the delete void, so a delete
	// never swallows a concurrent edit. A delete without Seen (written
	// before deletes said what they saw) holds whatever happened.
	Seen []ID
}

// width is the number of counters an op consumes.
func (op *Op) width() uint64 {
	if op.Kind == OpInsertText {
		return uint64(utf8.RuneCountInString(op.Text))
	}
	return 1
}

// Change is the decrypted content of one change: its author, its first
// counter and its operations in order.
type Change struct {
	Actor string
	Start uint64
	Ops   []Op
}

// End is the last counter the change consumes.
func (c *Change) End() uint64 {
	n := c.Start
	for i := range c.Ops {
		n += c.Ops[i].width()
	}
	return n - 1
}

// actorTable interns actor names so hot structures hold small integers;
// comparisons still use the names, so every replica orders alike.
type actorTable struct {
	names []string
	idx   map[string]uint32
}

func (t *actorTable) intern(name string) uint32 {
	if i, ok := t.idx[name]; ok {
		return i
	}
	if t.idx == nil {
		t.idx = map[string]uint32{}
	}
	i := uint32(len(t.names))
	t.names = append(t.names, name)
	t.idx[name] = i
	return i
}

// iid is an ID with an interned actor.
type iid struct {
	ctr uint64
	act uint32
}

// greater reports a > b in ID order.
func (t *actorTable) greater(a, b iid) bool {
	if a.ctr != b.ctr {
		return a.ctr > b.ctr
	}
	return strings.Compare(t.names[a.act], t.names[b.act]) > 0
}

func (t *actorTable) external(id iid) ID {
	if id.ctr == 0 {
		return ID{}
	}
	return ID{Counter: id.ctr, Actor: t.names[id.act]}
}

// mustInternal converts the ID of an element known to the document.
func (t *actorTable) mustInternal(id ID) iid {
	x, ok := t.internal(id)
	if !ok {
		panic("crdt: ID of an unknown actor")
	}
	return x
}

// internal converts an ID; ok is false for an actor the table has never seen
// (which no existing element can carry).
func (t *actorTable) internal(id ID) (iid, bool) {
	if id.IsZero() {
		return iid{}, true
	}
	i, ok := t.idx[id.Actor]
	return iid{id.Counter, i}, ok
}
