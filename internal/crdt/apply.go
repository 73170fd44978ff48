package crdt

import (
	"fmt"
	"sort"
)

// Doc is the merged state of one object.
type Doc struct {
	actors  actorTable
	maxCtr  uint64
	ranges  map[uint32]rangeSet // the counters each actor has used
	details map[string]reg
	blocks  map[iid]*block
	list    []*block // every block, by block.idx
	// seq is the RGA sequence of position elements that orders blocks
	// among their siblings (a Text whose characters are the elements, for
	// its chunks and ID index); posOf names each element's block.
	seq   *Text
	posOf map[iid]*block
	lay   *layout // the tree as of this state; nil once an op changed it
	// legacy: decoded from a state format without text origins (Legacy).
	legacy bool
}

// NewDoc returns an empty document.
func NewDoc() *Doc {
	d := &Doc{ranges: map[uint32]rangeSet{}, details: map[string]reg{}, blocks: map[iid]*block{}, posOf: map[iid]*block{}}
	d.seq = newText(&d.actors)
	return d
}

// MaxCounter bounds every counter. A change past it is refused, so that
// no counter ever wraps (a change at 2^64-1 made every later local change
// start at 0) and every counter is exact as a JavaScript number. Honest
// devices consume one counter per character typed: 2^53 is out of reach.
const MaxCounter = 1<<53 - 1

// NextCounter is the first counter of the next local change.
func (d *Doc) NextCounter() uint64 { return d.maxCtr + 1 }

// MaxCounter is the greatest counter applied so far.
func (d *Doc) MaxCounter() uint64 { return d.maxCtr }

// Apply integrates a change. Changes must be applied in causal order (every
// change after those it depends on); concurrent changes commute. Apply checks
// every reference; on error the Doc may hold part of the change and must be
// discarded (callers apply to a clone, or rebuild).
func (d *Doc) Apply(ch *Change) error {
	if ch.Actor == "" {
		return fmt.Errorf("change has no actor")
	}
	if d.legacy {
		return fmt.Errorf("the state was written before text origins: replay the object from its changes")
	}
	if ch.Start == 0 {
		return fmt.Errorf("change starts at counter 0")
	}
	end := ch.End()
	if end < ch.Start || end > MaxCounter {
		return fmt.Errorf("change by %s uses counters up to %d, past the largest (%d)", short(ch.Actor), end, uint64(MaxCounter))
	}
	act := d.actors.intern(ch.Actor)
	if d.ranges[act].overlaps(ch.Start, end) {
		return &OverlapError{Actor: ch.Actor, Start: ch.Start, End: end}
	}
	d.lay = nil
	ctr := ch.Start
	for i := range ch.Ops {
		op := &ch.Ops[i]
		w := op.width()
		if w == 0 {
			return fmt.Errorf("op %d: empty text insert", i)
		}
		if err := d.applyOp(op, iid{ctr, act}); err != nil {
			return fmt.Errorf("op %d (%s): %w", i, op.Kind, err)
		}
		ctr += w
	}
	if end > d.maxCtr {
		d.maxCtr = end
	}
	d.ranges[act] = d.ranges[act].add(ch.Start, end)
	return nil
}

func short(actor string) string {
	if len(actor) > 8 {
		return fmt.Sprintf("%x", actor[:4])
	}
	return actor
}

func (k OpKind) String() string {
	switch k {
	case OpSetDetail:
		return "set detail"
	case OpInsertBlock:
		return "insert block"
	case OpDeleteBlock:
		return "delete block"
	case OpMoveBlock:
		return "move block"
	case OpSetAttr:
		return "set attribute"
	case OpInsertText:
		return "insert text"
	case OpDeleteText:
		return "delete text"
	case OpMark:
		return "mark"
	}
	return fmt.Sprintf("op kind %d", uint8(k))
}

func (d *Doc) ref(id ID) (iid, error) {
	x, ok := d.actors.internal(id)
	if !ok {
		return iid{}, fmt.Errorf("reference to unknown actor %s", short(id.Actor))
	}
	return x, nil
}

func (d *Doc) blockRef(id ID) (*block, error) {
	x, err := d.ref(id)
	if err != nil {
		return nil, err
	}
	b := d.blocks[x]
	if b == nil {
		return nil, fmt.Errorf("unknown block %d@%s", id.Counter, short(id.Actor))
	}
	return b, nil
}

func (d *Doc) applyOp(op *Op, id iid) error {
	d.lay = nil
	switch op.Kind {
	case OpSetDetail:
		setReg(&d.actors, d.details, op.Key, reg{op.Value, op.Unset, id})
	case OpInsertBlock:
		parent, err := d.parentRef(op.Parent)
		if err != nil {
			return err
		}
		ref, err := d.ref(op.Ref)
		if err != nil {
			return err
		}
		if ref.ctr >= id.ctr {
			return fmt.Errorf("position reference is not older than the op")
		}
		if d.blocks[id] != nil {
			return fmt.Errorf("duplicate block id")
		}
		b := &block{id: id, idx: int32(len(d.list)), attrs: map[string]reg{}, parent: parent, posID: id, locTS: id, text: newText(&d.actors)}
		b.attrs["type"] = reg{val: op.Value, ts: id}
		if err := d.insertPos(ref, id, b); err != nil {
			return err
		}
		d.blocks[id] = b
		d.list = append(d.list, b)
		b.edits.note(id.act, id.ctr)
		d.noteUnder(parent, id)
	case OpDeleteBlock:
		b, err := d.blockRef(op.Block)
		if err != nil {
			return err
		}
		dl := del{id: id, all: len(op.Seen) == 0}
		for _, s := range op.Seen {
			x, err := d.ref(s)
			if err != nil || x.ctr == 0 {
				return fmt.Errorf("delete saw an op of an unknown actor")
			}
			dl.seen.note(x.act, x.ctr)
		}
		b.dels = append(b.dels, dl)
	case OpMoveBlock:
		b, err := d.blockRef(op.Block)
		if err != nil {
			return err
		}
		parent, err := d.parentRef(op.Parent)
		if err != nil {
			return err
		}
		ref, err := d.ref(op.Ref)
		if err != nil {
			return err
		}
		if ref.ctr >= id.ctr {
			return fmt.Errorf("position reference is not older than the op")
		}
		if err := d.insertPos(ref, id, b); err != nil {
			return err
		}
		if d.actors.greater(id, b.locTS) {
			b.parent, b.posID, b.locTS = parent, id, id
		}
		b.edits.note(id.act, id.ctr)
		d.noteUnder(parent, id)
	case OpSetAttr:
		b, err := d.blockRef(op.Block)
		if err != nil {
			return err
		}
		setReg(&d.actors, b.attrs, op.Key, reg{op.Value, op.Unset, id})
		b.edits.note(id.act, id.ctr)
	case OpInsertText:
		b, err := d.blockRef(op.Block)
		if err != nil {
			return err
		}
		origin, err := d.ref(op.Ref)
		if err != nil {
			return err
		}
		right, err := d.ref(op.Right)
		if err != nil {
			return err
		}
		if origin.ctr >= id.ctr || right.ctr >= id.ctr {
			return fmt.Errorf("insert beside a character that is not older than it")
		}
		rs := []rune(op.Text)
		if err := b.text.integrate(origin, right, id, rs); err != nil {
			return err
		}
		b.edits.note(id.act, id.ctr+uint64(len(rs))-1)
	case OpDeleteText:
		b, err := d.blockRef(op.Block)
		if err != nil {
			return err
		}
		for _, s := range op.Spans {
			start, err := d.ref(s.Start)
			if err != nil {
				return err
			}
			if s.N <= 0 {
				return fmt.Errorf("delete of %d characters", s.N)
			}
			if err := b.text.deleteSpan(start, s.N); err != nil {
				return err
			}
		}
		b.edits.note(id.act, id.ctr)
	case OpMark:
		return d.applyMark(op, id)
	default:
		return fmt.Errorf("unknown operation")
	}
	return nil
}

// noteUnder records an op that put a block under parent as an edit of
// parent: a delete of parent that did not see it must not hide it.
func (d *Doc) noteUnder(parent, op iid) {
	if p := d.blocks[parent]; p != nil {
		p.edits.note(op.act, op.ctr)
	}
}

func (d *Doc) parentRef(id ID) (iid, error) {
	if id.IsZero() {
		return iid{}, nil
	}
	b, err := d.blockRef(id)
	if err != nil {
		return iid{}, err
	}
	return b.id, nil
}

func setReg(actors *actorTable, m map[string]reg, key string, r reg) {
	if old, ok := m[key]; ok && !actors.greater(r.ts, old.ts) {
		return
	}
	m[key] = r
}

// Details returns the details that are set.
func (d *Doc) Details() map[string]string {
	out := make(map[string]string, len(d.details))
	for k, r := range d.details {
		if !r.unset {
			out[k] = r.val
		}
	}
	return out
}

// Clone returns an independent copy.
func (d *Doc) Clone() *Doc {
	n := &Doc{
		actors:  actorTable{names: append([]string(nil), d.actors.names...), idx: make(map[string]uint32, len(d.actors.idx))},
		maxCtr:  d.maxCtr,
		legacy:  d.legacy,
		ranges:  make(map[uint32]rangeSet, len(d.ranges)),
		details: make(map[string]reg, len(d.details)),
		blocks:  make(map[iid]*block, len(d.blocks)),
		list:    make([]*block, len(d.list)),
		posOf:   make(map[iid]*block, len(d.posOf)),
	}
	for k, v := range d.actors.idx {
		n.actors.idx[k] = v
	}
	for k, v := range d.ranges {
		n.ranges[k] = append(rangeSet(nil), v...)
	}
	n.seq = d.seq.clone(&n.actors)
	for k, v := range d.details {
		n.details[k] = v
	}
	for id, b := range d.blocks {
		nb := *b
		nb.attrs = make(map[string]reg, len(b.attrs))
		for k, v := range b.attrs {
			nb.attrs[k] = v
		}
		nb.text = b.text.clone(&n.actors)
		nb.marks = append([]markOp(nil), b.marks...)
		nb.edits = append(stamps(nil), b.edits...)
		nb.dels = make([]del, len(b.dels))
		for i, dl := range b.dels {
			nb.dels[i] = del{id: dl.id, all: dl.all, seen: append(stamps(nil), dl.seen...)}
		}
		n.blocks[id] = &nb
		n.list[nb.idx] = &nb
	}
	for k, v := range d.posOf {
		n.posOf[k] = n.list[v.idx]
	}
	return n
}

// Text returns the text of a block ("" for an unknown block).
func (d *Doc) Text(block ID) string {
	b, err := d.blockRef(block)
	if err != nil {
		return ""
	}
	return b.text.String()
}

// TextLen returns the visible length of a block's text in characters.
func (d *Doc) TextLen(block ID) int {
	b, err := d.blockRef(block)
	if err != nil {
		return 0
	}
	return b.text.Len()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// DetailStamp is the ID of the write that set a detail's current value
// (ok false when the detail was never written).
func (d *Doc) DetailStamp(key string) (ID, bool) {
	r, ok := d.details[key]
	if !ok {
		return ID{}, false
	}
	return d.actors.external(r.ts), true
}
