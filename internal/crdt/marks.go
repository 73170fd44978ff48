package crdt

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"strings"
)

// Inline formatting is Peritext (Litt, Lim, Kleppmann, van Hardenberg,
// 2022): a mark op adds or removes one mark type over the characters
// between two anchors, and an anchor is a gap next to a character, not an
// offset, so the mark moves with the text around it. A character shows a
// mark when the op with the greatest ID among the ops of that type whose
// anchors enclose it adds the mark: concurrent add and remove of
// overlapping ranges resolve alike everywhere.
//
// Where an anchor sits decides what text typed at the edge gets:
//
//   - every mark starts just before its first character, so text typed
//     before it is outside;
//   - an expanding mark (bold, italic, strike, highlight) ends just before
//     the character that followed its last one (or at the end of the
//     text), so text typed at its end is inside;
//   - links, mentions and code end just after their last character, so
//     text typed after them is outside.
//
// Anchors name characters, which stay as tombstones when deleted: deleting
// the text at a mark's edge keeps the mark on what remains, and text typed
// where a deleted marked word was is not marked.

// markOp is one formatting op on a block.
type markOp struct {
	id    iid
	typ   string
	value string
	unset bool // removes the mark
	start anchor
	end   anchor
}

// anchor is a gap in a text: just before (or, after, just after) the
// character at; the zero character is the end of the text.
type anchor struct {
	at    iid
	after bool
}

// Expands reports whether text typed at the end of a mark of type typ
// takes the mark (see the package comment on marks).
func Expands(typ string) bool {
	switch typ {
	case MarkBold, MarkItalic, MarkStrike, MarkHighlight:
		return true
	}
	return false
}

// Sides of a mark op's anchors (Op.Sides).
const (
	StartAfter = 1 << iota // the start anchor is just after Ref (else just before)
	EndBefore              // the end anchor is just before Right (else just after; zero Right: the end)
)

// maxMarkType bounds a mark's type name; its value (a URL) is bounded by
// the change size only.
const maxMarkType = 64

func (d *Doc) applyMark(op *Op, id iid) error {
	b, err := d.blockRef(op.Block)
	if err != nil {
		return err
	}
	if op.Key == "" || len(op.Key) > maxMarkType {
		return fmt.Errorf("mark type of %d bytes", len(op.Key))
	}
	if op.Sides > StartAfter|EndBefore {
		return fmt.Errorf("unknown anchor sides %d", op.Sides)
	}
	start, err := d.ref(op.Ref)
	if err != nil {
		return err
	}
	end, err := d.ref(op.Right)
	if err != nil {
		return err
	}
	if start.ctr == 0 || start.ctr >= id.ctr || end.ctr >= id.ctr {
		return fmt.Errorf("mark anchored to a character that is not older than it")
	}
	for _, a := range [2]iid{start, end} {
		if _, _, ok := b.text.lookup(a); a.ctr != 0 && !ok {
			return fmt.Errorf("mark anchored to a character not in the block")
		}
	}
	b.marks = append(b.marks, markOp{id: id, typ: op.Key, value: op.Value, unset: op.Unset,
		start: anchor{start, op.Sides&StartAfter != 0}, end: anchor{end, op.Sides&EndBefore == 0 && end.ctr != 0}})
	b.edits.note(id.act, id.ctr)
	return nil
}

// Mark formats characters [start, end) of block b's text with mark typ
// (value: a link's URL, a mention's target).
func (tx *Tx) Mark(b ID, start, end int, typ, value string) {
	tx.mark(b, start, end, typ, value, false)
}

// Unmark removes mark typ from characters [start, end) of block b's text.
func (tx *Tx) Unmark(b ID, start, end int, typ string) { tx.mark(b, start, end, typ, "", true) }

func (tx *Tx) mark(b ID, start, end int, typ, value string, unset bool) {
	blk, err := tx.d.blockRef(b)
	if err != nil {
		panic("crdt: " + err.Error())
	}
	if start < 0 || end > blk.text.Len() || start > end {
		panic(fmt.Sprintf("crdt: mark [%d, %d) outside text of length %d", start, end, blk.text.Len()))
	}
	if start == end {
		return
	}
	first := blk.text.visibleAt(start)
	last := blk.text.visibleAt(end - 1)
	op := Op{Kind: OpMark, Block: b, Key: typ, Value: value, Unset: unset, Ref: tx.d.actors.external(first)}
	if Expands(typ) {
		op.Sides = EndBefore
		op.Right = tx.d.actors.external(blk.text.next(last)) // zero: the end
	} else {
		op.Right = tx.d.actors.external(last)
	}
	tx.apply(op)
}

// typingPoint is the character text typed at visible position pos of
// block b goes after. It is the visible character before pos, unless
// deleted characters follow it that anchor marks: then Peritext's rule
// places the text so that it takes the marks the visible text around it
// implies. It goes after a deleted character a non-expanding mark (a link)
// ends just after, so the link does not grow, but never after one a mark
// starts just before, so the text does not enter that mark.
func (b *block) typingPoint(pos int) (iid, bool) {
	t := b.text
	if len(b.marks) == 0 || pos == 0 {
		return iid{}, false
	}
	a := t.visibleAt(pos - 1)
	if n := t.next(a); n.ctr == 0 || !t.deleted(n) {
		return iid{}, false // no deleted character follows
	}
	ap, _ := t.placeOf(a, true)
	np := t.endPlace()
	if pos < t.vis {
		np, _ = t.placeOf(t.visibleAt(pos), false)
	}
	in := func(x iid) (place, bool) {
		if x.ctr == 0 {
			return place{}, false
		}
		p, ok := t.placeOf(x, false)
		return p, ok && p.cmp(ap) > 0 && p.cmp(np) < 0
	}
	var best iid
	bestP, limit := ap, np
	for _, m := range b.marks {
		if p, ok := in(m.start.at); ok && !m.start.after && p.cmp(limit) < 0 {
			limit = p
		}
	}
	for _, m := range b.marks {
		if p, ok := in(m.end.at); ok && m.end.after && p.cmp(bestP) > 0 && p.cmp(limit) < 0 {
			best, bestP = m.end.at, p
		}
	}
	return best, best.ctr != 0
}

// deleted reports whether character id is deleted.
func (t *Text) deleted(id iid) bool {
	r, _, ok := t.lookup(id)
	return ok && r.del
}

// visibleAt returns the id of the visible character at pos.
func (t *Text) visibleAt(pos int) iid {
	ci, cstart := t.seek(pos)
	off := pos - cstart
	for _, r := range t.chunks[ci].runs {
		if v := t.visLen(r); off < v {
			return iid{r.id.ctr + uint64(off), r.id.act}
		} else {
			off -= v
		}
	}
	panic("crdt: visible position not found")
}

// next returns the character after id, deleted or not (zero at the end).
func (t *Text) next(id iid) iid {
	r, off, ok := t.lookup(id)
	if !ok {
		panic("crdt: next of an unknown character")
	}
	if off < r.n-1 {
		return iid{id.ctr + 1, id.act}
	}
	if n := t.runAfter(t.chunkIndex(r.c), runPos(r.c, r)); n != nil {
		return n.id
	}
	return iid{}
}

// visBefore counts the visible characters before id, with chunkVis[i] the
// visible characters of the chunks before chunk i; vis is whether id itself
// is visible.
func (t *Text) visBefore(id iid, chunkVis []int) (n int, vis bool) {
	r, off, ok := t.lookup(id)
	if !ok {
		panic("crdt: mark anchored to an unknown character")
	}
	n = chunkVis[t.chunkIndex(r.c)]
	for _, x := range r.c.runs {
		if x == r {
			break
		}
		n += t.visLen(x)
	}
	if r.del {
		return n, false
	}
	return n + off, true
}

// renderMarks computes the marks of block b as they show on its text now.
func (d *Doc) renderMarks(b *block) []Mark {
	if len(b.marks) == 0 {
		return nil
	}
	t := b.text
	chunkVis := make([]int, len(t.chunks))
	sum := 0
	for i, c := range t.chunks {
		chunkVis[i] = sum
		sum += c.vis
	}
	gap := func(a anchor) int {
		if a.at.ctr == 0 {
			return t.vis
		}
		n, vis := t.visBefore(a.at, chunkVis)
		if a.after && vis {
			n++
		}
		return n
	}
	// The ops by type, then start: one slice, no map (this runs for every
	// block of a page on open).
	spans := make([]spanOp, 0, len(b.marks))
	for i := range b.marks {
		m := &b.marks[i]
		if s, e := gap(m.start), gap(m.end); s < e {
			spans = append(spans, spanOp{s, e, m})
		}
	}
	slices.SortFunc(spans, func(a, b spanOp) int {
		if c := strings.Compare(a.op.typ, b.op.typ); c != 0 {
			return c
		}
		return cmp.Compare(a.s, b.s)
	})
	out := make([]Mark, 0, len(spans))
	for i := 0; i < len(spans); {
		j := i + 1
		for j < len(spans) && spans[j].op.typ == spans[i].op.typ {
			j++
		}
		out = d.winners(out, spans[i].op.typ, spans[i:j])
		i = j
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortFunc(out, func(a, b Mark) int {
		if c := cmp.Compare(a.Start, b.Start); c != 0 {
			return c
		}
		if c := cmp.Compare(a.End, b.End); c != 0 {
			return c
		}
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out
}

// spanOp is a mark op over visible characters [s, e).
type spanOp struct {
	s, e int
	op   *markOp
}

// winners sweeps the ops of one mark type, sorted by start: on every
// stretch of text the op with the greatest ID among those covering it
// decides; adjacent stretches that show the same value are one mark,
// appended to out.
func (d *Doc) winners(out []Mark, typ string, ops []spanOp) []Mark {
	base := len(out)
	apart := true
	for i := 1; i < len(ops) && apart; i++ {
		apart = ops[i].s >= ops[i-1].e
	}
	if apart {
		// The usual page: no two ops of a type cover one character.
		for _, o := range ops {
			if o.op.unset {
				continue
			}
			if n := len(out) - 1; n >= base && out[n].End == o.s && out[n].Value == o.op.value {
				out[n].End = o.e
			} else {
				out = append(out, Mark{Start: o.s, End: o.e, Type: typ, Value: o.op.value})
			}
		}
		return out
	}
	type event struct {
		at    int
		start bool
		i     int
	}
	ev := make([]event, 0, 2*len(ops))
	for i, o := range ops {
		ev = append(ev, event{o.s, true, i}, event{o.e, false, i})
	}
	slices.SortFunc(ev, func(a, b event) int { return cmp.Compare(a.at, b.at) })
	live := &opHeap{actors: &d.actors, ops: ops}
	ended := make([]bool, len(ops))
	for k := 0; k < len(ev); {
		at := ev[k].at
		for ; k < len(ev) && ev[k].at == at; k++ {
			if ev[k].start {
				heap.Push(live, ev[k].i)
			} else {
				ended[ev[k].i] = true
			}
		}
		for live.Len() > 0 && ended[live.idx[0]] {
			heap.Pop(live)
		}
		if live.Len() == 0 || k == len(ev) {
			continue
		}
		w := ops[live.idx[0]].op
		if w.unset {
			continue
		}
		end := ev[k].at
		if n := len(out) - 1; n >= base && out[n].End == at && out[n].Value == w.value {
			out[n].End = end
		} else {
			out = append(out, Mark{Start: at, End: end, Type: typ, Value: w.value})
		}
	}
	return out
}

// opHeap keeps the covering ops greatest ID first.
type opHeap struct {
	actors *actorTable
	ops    []spanOp
	idx    []int
}

func (h *opHeap) Len() int { return len(h.idx) }
func (h *opHeap) Less(i, j int) bool {
	return h.actors.greater(h.ops[h.idx[i]].op.id, h.ops[h.idx[j]].op.id)
}
func (h *opHeap) Swap(i, j int) { h.idx[i], h.idx[j] = h.idx[j], h.idx[i] }
func (h *opHeap) Push(x any)    { h.idx = append(h.idx, x.(int)) }
func (h *opHeap) Pop() any {
	x := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return x
}

// syncMarks makes the marks of block b (whose text is already the
// target's) those in want, with as few ops as differ: per type, each
// stretch showing other than wanted gets one op.
func (tx *Tx) syncMarks(b *block, id ID, want []Mark) {
	have := tx.d.renderMarks(b)
	if marksEqual(have, want) {
		return
	}
	n := b.text.Len()
	types := map[string]bool{}
	for _, m := range have {
		types[m.Type] = true
	}
	for _, m := range want {
		types[m.Type] = true
	}
	for _, typ := range sortedKeys(types) {
		cur, tgt := markValues(have, typ, n), markValues(want, typ, n)
		for i := 0; i < n; {
			if cur[i] == tgt[i] {
				i++
				continue
			}
			j := i + 1
			for j < n && cur[j] != tgt[j] && tgt[j] == tgt[i] {
				j++
			}
			if !tgt[i].set {
				tx.Unmark(id, i, j, typ)
			} else {
				tx.Mark(id, i, j, typ, tgt[i].v)
			}
			i = j
		}
	}
}

// markValue is what one character shows of one mark type.
type markValue struct {
	set bool
	v   string
}

// markValues lists, per character, the value of mark typ.
func markValues(ms []Mark, typ string, n int) []markValue {
	out := make([]markValue, n)
	for i := range ms {
		if ms[i].Type != typ {
			continue
		}
		for k := max(ms[i].Start, 0); k < min(ms[i].End, n); k++ {
			out[k] = markValue{true, ms[i].Value}
		}
	}
	return out
}

func marksEqual(a, b []Mark) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
