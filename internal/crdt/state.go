package crdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"
)

// stateMagic starts every encoded state; the digit is the format version.
// Format 3 gives every text run its Fugue origins. Formats 1 (before
// deletes said what they saw, and before counters were kept as ranges) and
// 2 are still read, for legacy snapshot changes, whose states are checked
// and compared but never edited: their runs have no origins (see Legacy).
const (
	stateMagic   = "MYS3"
	stateMagicV2 = "MYS2"
	stateMagicV1 = "MYS1"
)

// MarshalState encodes the whole state, tombstones and IDs included, in a
// canonical form: equal states give equal bytes whatever order their changes
// came in. Snapshots carry it; convergence tests compare it.
func (d *Doc) MarshalState() []byte {
	// Canonical actor numbering: by name, over the actors with changes (an
	// uncommitted Tx may have interned its actor, which is no state).
	var names []string
	for i, n := range d.actors.names {
		if len(d.ranges[uint32(i)]) > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	remap := make([]uint64, len(d.actors.names))
	for i, n := range names {
		remap[d.actors.idx[n]] = uint64(i)
	}
	var e enc
	if d.legacy {
		// A state read from format 2 has no origins to write: it stays
		// in its format (format 1 reads as 2).
		e.b = append(e.b, stateMagicV2...)
	} else {
		e.b = append(e.b, stateMagic...)
	}
	e.uint(uint64(len(names)))
	for _, n := range names {
		e.str(n)
	}
	id := func(x iid) {
		e.uint(x.ctr)
		if x.ctr != 0 {
			e.uint(remap[x.act])
		}
	}
	stamped := func(s stamps) {
		c := make([]stamp, len(s))
		for i, x := range s {
			c[i] = stamp{uint32(remap[x.act]), x.ctr}
		}
		sort.Slice(c, func(i, j int) bool { return c[i].act < c[j].act })
		e.uint(uint64(len(c)))
		for _, x := range c {
			e.uint(uint64(x.act))
			e.uint(x.ctr)
		}
	}
	e.uint(d.maxCtr)
	for _, n := range names {
		rs := d.ranges[d.actors.idx[n]]
		e.uint(uint64(len(rs)))
		last := uint64(0)
		for _, r := range rs {
			e.uint(r.lo - last)
			e.uint(r.hi - r.lo)
			last = r.hi
		}
	}
	regs := func(m map[string]reg) {
		e.uint(uint64(len(m)))
		for _, k := range sortedKeys(m) {
			r := m[k]
			e.str(k)
			e.str(r.val)
			e.bool(r.unset)
			id(r.ts)
		}
	}
	regs(d.details)
	e.uint(uint64(len(d.posOf)))
	d.eachPos(func(elem iid, b *block) {
		id(elem)
		id(b.id)
	})
	ids := make([]iid, 0, len(d.blocks))
	for k := range d.blocks {
		ids = append(ids, k)
	}
	sort.Slice(ids, func(i, j int) bool { return d.actors.greater(ids[j], ids[i]) })
	e.uint(uint64(len(ids)))
	for _, k := range ids {
		b := d.blocks[k]
		id(b.id)
		id(b.parent)
		id(b.posID)
		id(b.locTS)
		dels := append([]del(nil), b.dels...)
		sort.Slice(dels, func(i, j int) bool { return d.actors.greater(dels[j].id, dels[i].id) })
		e.uint(uint64(len(dels)))
		for _, dl := range dels {
			id(dl.id)
			e.bool(dl.all)
			stamped(dl.seen)
		}
		stamped(b.edits)
		regs(b.attrs)
		var runs []run
		b.text.eachRun(func(ru *run) { runs = append(runs, *ru) })
		e.uint(uint64(len(runs)))
		e.runs(runs, remap, d.legacy)
		if d.legacy {
			continue
		}
		marks := append([]markOp(nil), b.marks...)
		sort.Slice(marks, func(i, j int) bool { return d.actors.greater(marks[j].id, marks[i].id) })
		e.uint(uint64(len(marks)))
		for _, m := range marks {
			id(m.id)
			e.str(m.typ)
			e.str(m.value)
			e.bool(m.unset)
			id(m.start.at)
			e.bool(m.start.after)
			id(m.end.at)
			e.bool(m.end.after)
		}
	}
	return e.b
}

// Legacy reports whether the state was decoded from a format without
// Fugue origins (1 or 2): it renders and compares like any other, but
// takes no change (Apply fails): replay the object from its changes.
func (d *Doc) Legacy() bool { return d.legacy }

// ErrState is wrapped by every error decoding a state.
var ErrState = errors.New("invalid object state")

// UnmarshalState decodes a state written by MarshalState. Input is untrusted:
// every count, reference and string is checked.
func UnmarshalState(data []byte) (*Doc, error) {
	d := NewDoc()
	if err := d.unmarshal(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrState, err)
	}
	return d, nil
}

func (d *Doc) unmarshal(data []byte) error {
	if len(data) < len(stateMagic) {
		return errors.New("bad magic")
	}
	v1, v2 := false, false
	switch string(data[:len(stateMagic)]) {
	case stateMagic:
	case stateMagicV2:
		v2 = true
	case stateMagicV1:
		v1, v2 = true, true
	default:
		return errors.New("bad magic")
	}
	r := dec{b: data[len(stateMagic):]}
	na := r.count()
	for i := 0; i < na && r.err == nil; i++ {
		name := r.raw()
		if name == "" || (i > 0 && name <= d.actors.names[i-1]) {
			return errors.New("actors not sorted and unique")
		}
		d.actors.intern(name)
	}
	actor := func() uint32 {
		a := r.uint()
		if a >= uint64(na) {
			r.fail("actor index out of range")
			return 0
		}
		return uint32(a)
	}
	id := func() iid {
		c := r.uint()
		if c == 0 {
			return iid{}
		}
		return iid{c, actor()}
	}
	stamped := func() stamps {
		n := r.count()
		var s stamps
		for i := 0; i < n && r.err == nil; i++ {
			a := actor()
			if i > 0 && a <= s[len(s)-1].act {
				r.fail("stamps not sorted")
			}
			s = append(s, stamp{a, r.uint()})
		}
		return s
	}
	d.maxCtr = r.uint()
	for i := 0; i < na && r.err == nil; i++ {
		if v1 {
			if m := r.uint(); m != 0 {
				d.ranges[uint32(i)] = rangeSet{{1, m}}
			}
			continue
		}
		n := r.count()
		var rs rangeSet
		last := uint64(0)
		for j := 0; j < n && r.err == nil; j++ {
			lo := last + r.uint()
			hi := lo + r.uint()
			if lo == 0 || (j > 0 && lo <= last+1) || hi < lo || hi > d.maxCtr {
				r.fail("counter ranges out of order")
			}
			rs = append(rs, counterRange{lo, hi})
			last = hi
		}
		if len(rs) > 0 {
			d.ranges[uint32(i)] = rs
		}
	}
	regs := func(m map[string]reg) {
		n := r.count()
		for i := 0; i < n && r.err == nil; i++ {
			k := r.str()
			m[k] = reg{val: r.str(), unset: r.bool(), ts: id()}
		}
	}
	regs(d.details)
	np := r.count()
	posBlock := make(map[iid]iid, np) // resolved once the blocks are read
	for i := 0; i < np && r.err == nil; i++ {
		elem, blk := id(), id()
		if elem.ctr == 0 || blk.ctr == 0 {
			r.fail("empty position element")
			break
		}
		if _, dup := posBlock[elem]; dup {
			r.fail("duplicate position element")
			break
		}
		posBlock[elem] = blk
		d.seq.appendRun(&run{id: elem, n: 1, text: posRune})
	}
	nb := r.count()
	for i := 0; i < nb && r.err == nil; i++ {
		b := &block{attrs: map[string]reg{}, text: newText(&d.actors)}
		b.id, b.parent, b.posID, b.locTS = id(), id(), id(), id()
		if v1 {
			if r.bool() {
				b.dels = []del{{all: true}}
			}
		} else {
			nd := r.count()
			for j := 0; j < nd && r.err == nil; j++ {
				dl := del{id: id(), all: r.bool()}
				dl.seen = stamped()
				b.dels = append(b.dels, dl)
			}
			b.edits = stamped()
		}
		regs(b.attrs)
		nr := r.count()
		if v2 {
			r.legacyRuns(b.text, nr, id)
		} else {
			r.runs(b.text, nr, actor)
		}
		if !v2 {
			nm := r.count()
			if nm > 0 {
				b.marks = make([]markOp, 0, min(nm, len(r.b)/8)) // a mark takes 8 bytes at least
			}
			for j := 0; j < nm && r.err == nil; j++ {
				m := markOp{id: id(), typ: r.markType(), value: r.str(), unset: r.bool()}
				m.start = anchor{id(), r.bool()}
				m.end = anchor{id(), r.bool()}
				if m.id.ctr == 0 || m.typ == "" || m.start.at.ctr == 0 {
					r.fail("bad mark")
				}
				b.marks = append(b.marks, m)
			}
		}
		if r.err == nil {
			if b.id.ctr == 0 || d.blocks[b.id] != nil {
				return errors.New("bad or duplicate block id")
			}
			b.idx = int32(len(d.list))
			d.blocks[b.id] = b
			d.list = append(d.list, b)
		}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return errors.New("trailing bytes")
	}
	d.legacy = v2
	// References must resolve, so rendering never meets a dangling ID,
	// and integrating never meets an unknown origin.
	for _, b := range d.list {
		var prev *run
		for _, c := range b.text.chunks {
			for _, ru := range c.runs {
				for i, o := range [2]iid{ru.left, ru.right} {
					if o.ctr == 0 || i == 0 && prev != nil && o == (iid{prev.id.ctr + uint64(prev.n) - 1, prev.id.act}) {
						continue // the end, or the character just before (most runs)
					}
					if _, _, ok := b.text.lookup(o); !ok {
						return errors.New("text origin names no character of its block")
					}
				}
				prev = ru
			}
		}
		for _, m := range b.marks {
			for _, a := range [2]iid{m.start.at, m.end.at} {
				if _, _, ok := b.text.lookup(a); a.ctr != 0 && !ok {
					return errors.New("mark anchored to no character of its block")
				}
			}
		}
	}
	for elem, blk := range posBlock {
		b := d.blocks[blk]
		if b == nil {
			return errors.New("position element of unknown block")
		}
		d.posOf[elem] = b
	}
	for _, b := range d.blocks {
		if b.parent.ctr != 0 && d.blocks[b.parent] == nil {
			return errors.New("block under unknown parent")
		}
		if d.posOf[b.posID] != b || b.posID.ctr == 0 {
			return errors.New("block location names no position element")
		}
	}
	return nil
}

type enc struct{ b []byte }

// Origin modes of a run in format 3: none (the start, or the end), the
// character next to the run in the sequence (the one just before it for
// the left origin, the first of the next run for the right one: mostly
// where they still are), or given.
const (
	originNone = iota
	originNext
	originGiven
)

// runs writes a text's maximal runs: each id as a step from where the run
// before ended, origins by mode (legacy: format 2, none).
func (e *enc) runs(runs []run, remap []uint64, legacy bool) {
	if legacy {
		for _, ru := range runs {
			e.uint(ru.id.ctr)
			e.uint(remap[ru.id.act])
			e.uint(uint64(ru.n))
			e.bool(ru.del)
			if !ru.del {
				e.str(string(ru.text))
			}
		}
		return
	}
	var end uint64
	for i, ru := range runs {
		e.sint(int64(ru.id.ctr - end))
		e.uint(remap[ru.id.act])
		e.uint(uint64(ru.n))
		e.bool(ru.del)
		if !ru.del {
			e.str(string(ru.text))
		}
		end = ru.id.ctr + uint64(ru.n)
		var before, after iid
		if i > 0 {
			p := runs[i-1]
			before = iid{p.id.ctr + uint64(p.n) - 1, p.id.act}
		}
		if i+1 < len(runs) {
			after = runs[i+1].id
		}
		mode := func(o, next iid) uint64 {
			switch {
			case o.ctr == 0:
				return originNone
			case o == next:
				return originNext
			}
			return originGiven
		}
		lm, rm := mode(ru.left, before), mode(ru.right, after)
		e.uint(lm | rm<<2)
		for _, o := range []struct {
			m  uint64
			id iid
		}{{lm, ru.left}, {rm, ru.right}} {
			if o.m == originGiven {
				e.sint(int64(o.id.ctr - ru.id.ctr))
				e.uint(remap[o.id.act])
			}
		}
	}
}

// sint writes a signed number (zigzag).
func (e *enc) sint(v int64) { e.uint(uint64(v<<1) ^ uint64(v>>63)) }

func (e *enc) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) str(s string)  { e.uint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// dec reads what enc wrote; the first error sticks and later reads return zero.
type dec struct {
	b   []byte
	err error
}

func (r *dec) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
}

func (r *dec) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("truncated number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length and rejects one larger than the bytes left, so a
// forged count cannot make us allocate.
func (r *dec) count() int {
	v := r.uint()
	if v > uint64(len(r.b))+1 {
		r.fail("count larger than input")
		return 0
	}
	return int(v)
}

// sint reads what enc.sint wrote.
func (r *dec) sint() int64 {
	u := r.uint()
	return int64(u>>1) ^ -int64(u&1)
}

// legacyRuns reads n runs of format 1 or 2 into t (no origins).
func (r *dec) legacyRuns(t *Text, n int, id func() iid) {
	for j := 0; j < n && r.err == nil; j++ {
		ru := &run{id: id(), n: int(r.bounded(1 << 30)), del: r.bool()}
		if !r.runText(ru) {
			return
		}
		if _, _, dup := t.lookup(ru.id); dup {
			r.fail("duplicate character id")
			return
		}
		t.appendRun(ru)
	}
}

// runText reads a run's text (none when deleted) and checks the run.
func (r *dec) runText(ru *run) bool {
	if !ru.del {
		ru.text = []rune(r.str())
		if len(ru.text) != ru.n {
			r.fail("run length does not match its text")
		}
	}
	if ru.n <= 0 || ru.id.ctr == 0 {
		r.fail("empty run")
	}
	return r.err == nil
}

// runs reads n runs of format 3 into t.
func (r *dec) runs(t *Text, n int, actor func() uint32) {
	var end uint64
	var prev *run
	prevWantsNext := false // prev's right origin is this run's first character
	for j := 0; j < n && r.err == nil; j++ {
		ru := &run{id: iid{end + uint64(r.sint()), actor()}, n: int(r.bounded(1 << 30)), del: r.bool()}
		if !r.runText(ru) {
			return
		}
		end = ru.id.ctr + uint64(ru.n)
		if end < ru.id.ctr || end > MaxCounter+1 {
			r.fail("counter out of range")
			return
		}
		if prevWantsNext {
			prev.right = ru.id
		}
		modes := r.bounded(originGiven | originGiven<<2)
		lm, rm := modes&3, modes>>2
		if lm > originGiven || rm > originGiven {
			r.fail("bad origin mode")
			return
		}
		given := func() iid {
			return iid{ru.id.ctr + uint64(r.sint()), actor()}
		}
		switch lm {
		case originNext:
			if prev == nil {
				r.fail("left origin before the first run")
				return
			}
			ru.left = iid{prev.id.ctr + uint64(prev.n) - 1, prev.id.act}
		case originGiven:
			ru.left = given()
		}
		prevWantsNext = rm == originNext
		switch rm {
		case originGiven:
			ru.right = given()
		}
		if (lm == originGiven && ru.left.ctr == 0) || (rm == originGiven && ru.right.ctr == 0) {
			r.fail("origin with counter 0")
		}
		if r.err != nil {
			return
		}
		t.appendDecoded(ru)
		prev = ru
	}
	if prevWantsNext && r.err == nil {
		r.fail("right origin after the last run")
	}
	if r.err == nil && !t.indexDecoded() {
		r.fail("duplicate character id")
	}
}

// bounded reads a number and rejects one above max.
func (r *dec) bounded(max uint64) uint64 {
	v := r.uint()
	if v > max {
		r.fail("number out of range")
		return 0
	}
	return v
}

// str reads text, which must be UTF-8.
func (r *dec) str() string {
	s := r.raw()
	if !utf8.ValidString(s) {
		r.fail("string is not UTF-8")
		return ""
	}
	return s
}

// raw reads a length-prefixed byte string (actor names are keys, not text).
func (r *dec) raw() string { return string(r.rawBytes()) }

// rawBytes reads a length-prefixed string's bytes, in the input.
func (r *dec) rawBytes() []byte {
	n := r.uint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("truncated string")
		return nil
	}
	b := r.b[:n:n]
	r.b = r.b[n:]
	return b
}

// markType reads a mark's type as str does, one of markTypes without
// allocating: a page holds thousands of marks of a few types.
func (r *dec) markType() string {
	b := r.rawBytes()
	for _, k := range markTypes {
		if string(b) == k {
			return k
		}
	}
	if !utf8.Valid(b) {
		r.fail("string is not UTF-8")
		return ""
	}
	return string(b)
}

func (r *dec) bool() bool {
	if r.err != nil {
		return false
	}
	if len(r.b) == 0 {
		r.fail("truncated bool")
		return false
	}
	v := r.b[0]
	r.b = r.b[1:]
	if v > 1 {
		r.fail("bad bool")
	}
	return v == 1
}
