package crdt

import (
	"fmt"
	"unicode/utf8"
)

// Tx records local edits. Each edit is applied at once, so positions in later
// edits refer to the text as changed by earlier ones; Commit returns the
// change to sign and send. A Tx must be committed before the Doc takes any
// other change.
type Tx struct {
	d     *Doc
	actor string
	act   uint32
	start uint64
	next  uint64
	ops   []Op
}

// Begin starts a local change by actor.
func (d *Doc) Begin(actor string) *Tx { return d.BeginAt(actor, 0) }

// BeginAt starts a local change by actor whose first counter is at least
// min. An edit built on an earlier state than the newest (the state the
// person saw) starts above every counter of the newest, so that its IDs are
// new everywhere and its author's counters never repeat.
func (d *Doc) BeginAt(actor string, min uint64) *Tx {
	start := max(d.maxCtr+1, min)
	return &Tx{d: d, actor: actor, act: d.actors.intern(actor), start: start, next: start}
}

// Commit finishes the change; it returns nil when nothing was edited.
func (tx *Tx) Commit() *Change {
	if len(tx.ops) == 0 {
		return nil
	}
	tx.d.used(tx.act, tx.start, tx.next-1)
	return &Change{Actor: tx.actor, Start: tx.start, Ops: tx.ops}
}

// used records that act used counters lo..hi.
func (d *Doc) used(act uint32, lo, hi uint64) {
	d.maxCtr = max(d.maxCtr, hi)
	d.ranges[act] = d.ranges[act].add(lo, hi)
}

// apply runs a non-text op through the same path remote ops take.
func (tx *Tx) apply(op Op) ID {
	id := iid{tx.next, tx.act}
	if err := tx.d.applyOp(&op, id); err != nil {
		panic(fmt.Sprintf("crdt: local %s: %v", op.Kind, err))
	}
	tx.ops = append(tx.ops, op)
	tx.next += op.width()
	// Keep maxCtr current so later ops in this Tx see their own IDs as
	// the newest (the RGA rule relies on it).
	tx.d.maxCtr = max(tx.d.maxCtr, tx.next-1)
	return tx.d.actors.external(id)
}

// SetDetail sets a detail (title, type, tags, archived…).
func (tx *Tx) SetDetail(key, value string) {
	tx.apply(Op{Kind: OpSetDetail, Key: key, Value: value})
}

// UnsetDetail removes a detail.
func (tx *Tx) UnsetDetail(key string) { tx.apply(Op{Kind: OpSetDetail, Key: key, Unset: true}) }

// InsertBlock adds an empty block of type typ under parent (zero = top
// level), right after sibling after (zero = as the first child).
func (tx *Tx) InsertBlock(parent, after ID, typ string) ID {
	return tx.insertAt(parent, tx.d.posAfter(parent, after), typ)
}

// insertAt adds a block whose position element follows ref.
func (tx *Tx) insertAt(parent ID, ref iid, typ string) ID {
	return tx.apply(Op{Kind: OpInsertBlock, Parent: parent, Ref: tx.d.actors.external(ref), Value: typ})
}

// MoveBlock moves b under parent, right after sibling after (zero = first).
func (tx *Tx) MoveBlock(b, parent, after ID) { tx.moveAt(b, parent, tx.d.posAfter(parent, after)) }

func (tx *Tx) moveAt(b, parent ID, ref iid) {
	tx.apply(Op{Kind: OpMoveBlock, Block: b, Parent: parent, Ref: tx.d.actors.external(ref)})
}

// DeleteBlock deletes a block and, with it, its children. The delete
// records the edits it saw, so that an edit made concurrently elsewhere
// keeps the block (see Block.Kept).
func (tx *Tx) DeleteBlock(b ID) {
	x, err := tx.d.blockRef(b)
	if err != nil {
		panic("crdt: delete of an unknown block")
	}
	tx.deleteSeen(b, tx.d.subtreeEdits(x))
}

// deleteSeen deletes b, having seen the edits in seen.
func (tx *Tx) deleteSeen(b ID, seen stamps) {
	op := Op{Kind: OpDeleteBlock, Block: b}
	for _, s := range seen {
		op.Seen = append(op.Seen, tx.d.actors.external(iid{s.ctr, s.act}))
	}
	tx.apply(op)
}

// SetAttr sets a block attribute ("type", "checked", "language", "target"…).
func (tx *Tx) SetAttr(b ID, key, value string) {
	tx.apply(Op{Kind: OpSetAttr, Block: b, Key: key, Value: value})
}

// UnsetAttr removes a block attribute.
func (tx *Tx) UnsetAttr(b ID, key string) {
	tx.apply(Op{Kind: OpSetAttr, Block: b, Key: key, Unset: true})
}

// InsertText inserts s at character position pos of block b's text.
func (tx *Tx) InsertText(b ID, pos int, s string) {
	if s == "" {
		return
	}
	blk, err := tx.d.blockRef(b)
	if err != nil {
		panic("crdt: " + err.Error())
	}
	rs := []rune(s)
	var left, right iid
	if after, ok := blk.typingPoint(pos); ok {
		left, right = blk.text.insertAfterID(after, rs, tx.next, tx.act)
	} else {
		left, right = blk.text.insertLocal(pos, rs, tx.next, tx.act)
	}
	tx.ops = append(tx.ops, Op{Kind: OpInsertText, Block: b, Ref: tx.d.actors.external(left), Right: tx.d.actors.external(right), Text: s})
	tx.next += uint64(len(rs))
	tx.d.maxCtr = max(tx.d.maxCtr, tx.next-1)
	blk.edits.note(tx.act, tx.next-1)
	tx.d.lay = nil
}

// DeleteText deletes n characters at position pos of block b's text.
func (tx *Tx) DeleteText(b ID, pos, n int) {
	if n == 0 {
		return
	}
	blk, err := tx.d.blockRef(b)
	if err != nil {
		panic("crdt: " + err.Error())
	}
	spans := blk.text.deleteLocal(pos, n)
	op := Op{Kind: OpDeleteText, Block: b, Spans: make([]Span, len(spans))}
	for i, s := range spans {
		op.Spans[i] = Span{Start: tx.d.actors.external(s.start), N: s.n}
	}
	tx.ops = append(tx.ops, op)
	blk.edits.note(tx.act, tx.next)
	tx.next++
	tx.d.maxCtr = max(tx.d.maxCtr, tx.next-1)
	tx.d.lay = nil
}

// posAfter returns the position element a new child of parent must follow to
// land right after sibling after, or first when after is zero.
func (d *Doc) posAfter(parent, after ID) iid {
	if !after.IsZero() {
		b, err := d.blockRef(after)
		if err != nil {
			panic("crdt: " + err.Error())
		}
		return b.posID
	}
	// First child: follow the element just before the parent's current
	// first child, so the new block sorts before it.
	kids := d.childIDs(parent)
	if len(kids) == 0 {
		if !parent.IsZero() {
			b, err := d.blockRef(parent)
			if err != nil {
				panic("crdt: " + err.Error())
			}
			return b.posID
		}
		return iid{}
	}
	first, _ := d.blockRef(kids[0])
	return d.seq.before(first.posID)
}

// Split cuts the change into consecutive changes of about maxBytes of
// payload each, which applied in order have its effect: a very large edit
// (pasting a book) is stored and sent as several changes that each fit a
// change's size limit. An insert of more text than that is cut into
// inserts each following the last character of the one before, with the
// same right origin (the same characters, ids and order).
func (c *Change) Split(maxBytes int) []*Change {
	var out []*Change
	cur := &Change{Actor: c.Actor, Start: c.Start}
	size := 0
	add := func(op Op) {
		n := opSize(&op)
		if len(cur.Ops) > 0 && size+n > maxBytes {
			next := cur.End() + 1
			out = append(out, cur)
			cur, size = &Change{Actor: c.Actor, Start: next}, 0
		}
		cur.Ops = append(cur.Ops, op)
		size += n
	}
	ctr := c.Start
	for _, op := range c.Ops {
		w := op.width()
		if op.Kind != OpInsertText || len(op.Text) <= maxBytes {
			add(op)
			ctr += w
			continue
		}
		rs := []rune(op.Text)
		ref := op.Ref
		for lo := 0; lo < len(rs); {
			hi, bytes := lo, 0
			for hi < len(rs) && (hi == lo || bytes+utf8.RuneLen(rs[hi]) <= maxBytes) {
				bytes += utf8.RuneLen(rs[hi])
				hi++
			}
			part := op
			part.Ref, part.Text = ref, string(rs[lo:hi])
			add(part)
			ctr += uint64(hi - lo)
			ref = ID{Counter: ctr - 1, Actor: c.Actor}
			lo = hi
		}
	}
	return append(out, cur)
}

// opSize estimates an op's encoded size: its strings and a few bytes per ID.
func opSize(op *Op) int {
	return 24 + len(op.Key) + len(op.Value) + len(op.Text) + 12*(len(op.Spans)+len(op.Seen))
}
