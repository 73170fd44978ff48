package crdt

import "fmt"

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
func (d *Doc) Begin(actor string) *Tx {
	start := d.maxCtr + 1
	return &Tx{d: d, actor: actor, act: d.actors.intern(actor), start: start, next: start}
}

// Commit finishes the change; it returns nil when nothing was edited.
func (tx *Tx) Commit() *Change {
	if len(tx.ops) == 0 {
		return nil
	}
	d := tx.d
	d.maxCtr = tx.next - 1
	d.actorMax[tx.act] = tx.next - 1
	return &Change{Actor: tx.actor, Start: tx.start, Ops: tx.ops}
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
	tx.d.maxCtr = tx.next - 1
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
	return tx.apply(Op{Kind: OpInsertBlock, Parent: parent, Ref: tx.d.posAfter(parent, after), Value: typ})
}

// MoveBlock moves b under parent, right after sibling after (zero = first).
func (tx *Tx) MoveBlock(b, parent, after ID) {
	tx.apply(Op{Kind: OpMoveBlock, Block: b, Parent: parent, Ref: tx.d.posAfter(parent, after)})
}

// DeleteBlock deletes a block and, with it, its children.
func (tx *Tx) DeleteBlock(b ID) { tx.apply(Op{Kind: OpDeleteBlock, Block: b}) }

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
	origin := blk.text.insertLocal(pos, rs, tx.next, tx.act)
	tx.ops = append(tx.ops, Op{Kind: OpInsertText, Block: b, Ref: tx.d.actors.external(origin), Text: s})
	tx.next += uint64(len(rs))
	tx.d.maxCtr = tx.next - 1
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
	tx.next++
	tx.d.maxCtr = tx.next - 1
}

// posAfter returns the position element a new child of parent must follow to
// land right after sibling after, or first when after is zero.
func (d *Doc) posAfter(parent, after ID) ID {
	if !after.IsZero() {
		b, err := d.blockRef(after)
		if err != nil {
			panic("crdt: " + err.Error())
		}
		return d.actors.external(b.posID)
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
			return d.actors.external(b.posID)
		}
		return ID{}
	}
	first, _ := d.blockRef(kids[0])
	for i, e := range d.pos {
		if e.id == first.posID {
			if i == 0 {
				return ID{}
			}
			return d.actors.external(d.pos[i-1].id)
		}
	}
	panic("crdt: block position not in sequence")
}
