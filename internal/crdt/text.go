package crdt

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Text is the character sequence of one block: a Fugue sequence (FugueMax,
// Weidner & Kleppmann 2023) whose characters are stored as runs
// (consecutive counters of one actor, each inserted right after the one
// before, with one right origin), in a list of chunks that carry their
// visible length, so finding a position costs O(chunks) at worst and O(1)
// near the last edit. The position sequence of blocks (Doc.seq) is a Text
// too, still ordered by the RGA rule (integrateRGA).
type Text struct {
	actors *actorTable
	chunks []*chunk
	vis    int
	// index holds, per actor, its runs sorted by first counter, to find a
	// character by ID.
	index map[uint32]*runIndex
	// hit is the run lookup found last: edits come in runs of one
	// another (a word deleted character by character, typing after what
	// was just typed). Checked against its fields as they are now; cleared
	// when the run leaves the text.
	hit *run
	// cursor: chunks[curChunk] starts at visible position curPos. Local edits
	// keep it valid; operations located by ID reset it.
	curChunk, curPos int
	// str is the visible text, when strOK: rendering a page asks every
	// block for its text, and most blocks did not change since last time.
	str   string
	strOK bool
}

type run struct {
	id   iid
	n    int
	del  bool
	text []rune // nil once deleted
	c    *chunk
	// left and right are the origins of the run's first character: the
	// characters it was inserted between (zero: the start, the end). Each
	// later character of the run has the one before it as left origin and
	// the same right origin, so splitting a run needs no new data.
	left, right iid
}

type chunk struct {
	runs []*run
	vis  int
	idx  int // position in Text.chunks, renumbered when a chunk is inserted
}

// maxChunk bounds the runs in a chunk: insertion into a chunk is a memmove of
// at most this many pointers, and locating a position scans few chunks.
const maxChunk = 64

func newText(actors *actorTable) *Text {
	t := &Text{actors: actors, index: map[uint32]*runIndex{}}
	t.appendChunk()
	return t
}

// Len is the number of visible characters.
func (t *Text) Len() int { return t.vis }

// String returns the visible text.
func (t *Text) String() string {
	if t.strOK {
		return t.str
	}
	b := make([]byte, 0, t.vis)
	for _, c := range t.chunks {
		for _, r := range c.runs {
			if !r.del {
				for _, ch := range r.text {
					b = utf8.AppendRune(b, ch)
				}
			}
		}
	}
	t.str, t.strOK = string(b), true
	return t.str
}

// Prefix returns up to n visible characters from the start.
func (t *Text) Prefix(n int) string {
	var b strings.Builder
	for _, c := range t.chunks {
		for _, r := range c.runs {
			if r.del {
				continue
			}
			for _, ch := range r.text {
				if n == 0 {
					return b.String()
				}
				b.WriteRune(ch)
				n--
			}
		}
	}
	return b.String()
}

func (t *Text) visLen(r *run) int {
	if r.del {
		return 0
	}
	return r.n
}

// seek returns the index of the chunk holding visible position pos (or the
// last chunk when pos == t.vis) and that chunk's first visible position.
func (t *Text) seek(pos int) (int, int) {
	ci, start := t.curChunk, t.curPos
	if ci >= len(t.chunks) || start > t.vis {
		ci, start = 0, 0
	}
	for ci > 0 && pos < start {
		ci--
		start -= t.chunks[ci].vis
	}
	for ci < len(t.chunks)-1 && pos >= start+t.chunks[ci].vis {
		start += t.chunks[ci].vis
		ci++
	}
	t.curChunk, t.curPos = ci, start
	return ci, start
}

// resetCursor is called after edits located by ID, which may change chunks
// before the cursor.
func (t *Text) resetCursor() { t.curChunk, t.curPos = 0, 0 }

func (t *Text) chunkIndex(c *chunk) int {
	if t.chunks[c.idx] != c {
		panic("crdt: chunk index out of date")
	}
	return c.idx
}

// appendChunk adds an empty chunk at the end.
func (t *Text) appendChunk() *chunk {
	c := &chunk{idx: len(t.chunks)}
	t.chunks = append(t.chunks, c)
	return c
}

func runPos(c *chunk, r *run) int {
	for i, x := range c.runs {
		if x == r {
			return i
		}
	}
	panic("crdt: run not in chunk")
}

// insertRun puts r into chunk ci at index ri, splitting the chunk if full.
func (t *Text) insertRun(ci, ri int, r *run) {
	t.strOK = false
	c := t.chunks[ci]
	c.runs = append(c.runs, nil)
	copy(c.runs[ri+1:], c.runs[ri:])
	c.runs[ri] = r
	r.c = c
	v := t.visLen(r)
	c.vis += v
	t.vis += v
	t.indexAdd(r)
	if len(c.runs) > maxChunk {
		t.splitChunk(ci)
	}
}

func (t *Text) splitChunk(ci int) {
	c := t.chunks[ci]
	half := len(c.runs) / 2
	nc := &chunk{runs: make([]*run, len(c.runs)-half, maxChunk+1)}
	copy(nc.runs, c.runs[half:])
	clear(c.runs[half:])
	c.runs = c.runs[:half]
	for _, r := range nc.runs {
		r.c = nc
		nc.vis += t.visLen(r)
	}
	c.vis -= nc.vis
	t.chunks = append(t.chunks, nil)
	copy(t.chunks[ci+2:], t.chunks[ci+1:])
	t.chunks[ci+1] = nc
	for i := ci + 1; i < len(t.chunks); i++ {
		t.chunks[i].idx = i
	}
}

func (t *Text) indexAdd(r *run) {
	x := t.index[r.id.act]
	if x == nil {
		x = &runIndex{}
		t.index[r.id.act] = x
	}
	x.add(r)
}

// lookup finds the run holding id and the offset of id in it.
func (t *Text) lookup(id iid) (*run, int, bool) {
	if r := t.hit; r != nil && r.id.act == id.act && id.ctr >= r.id.ctr && id.ctr < r.id.ctr+uint64(r.n) {
		return r, int(id.ctr - r.id.ctr), true
	}
	x := t.index[id.act]
	if x == nil {
		return nil, 0, false
	}
	r := x.find(id.ctr)
	if r == nil {
		return nil, 0, false
	}
	t.hit = r
	return r, int(id.ctr - r.id.ctr), true
}

// split cuts r so its first k characters stay in r and the rest form a new
// run right after it (ri is r's index in its chunk, ci the chunk's index).
func (t *Text) split(ci, ri int, r *run, k int) *run {
	right := &run{id: iid{r.id.ctr + uint64(k), r.id.act}, n: r.n - k, del: r.del,
		left: iid{r.id.ctr + uint64(k) - 1, r.id.act}, right: r.right}
	if !r.del {
		right.text = r.text[k:]
		r.text = r.text[:k:k] // cap-limited: appending to r must not overwrite right
	}
	r.n = k
	// Visible length of the chunk is unchanged; insertRun adds right's
	// share, so take it off first.
	v := t.visLen(right)
	r.c.vis -= v
	t.vis -= v
	t.insertRun(ci, ri+1, right)
	return right
}

// insertLocal inserts s at visible position pos as characters start,
// start+1, …, by actor act, and returns their origins: the visible
// character before pos (zero at the start) and the character right after
// that one, deleted or not (zero at the end). The run goes between the two,
// where every replica's integrate puts it: the new counters exceed every
// counter in the text, so nothing concurrent is there yet.
func (t *Text) insertLocal(pos int, s []rune, start uint64, act uint32) (left, right iid) {
	if pos < 0 || pos > t.vis {
		panic(fmt.Sprintf("crdt: insert at %d outside text of length %d", pos, t.vis))
	}
	id := iid{start, act}
	if pos == 0 {
		t.resetCursor()
		if first := t.firstRun(); first != nil {
			right = first.id
		}
		t.insertRun(0, 0, &run{id: id, n: len(s), text: s, right: right})
		return iid{}, right
	}
	ci, cstart := t.seek(pos - 1)
	c := t.chunks[ci]
	off := pos - 1 - cstart
	ri := 0
	for ; ; ri++ {
		v := t.visLen(c.runs[ri])
		if off < v {
			break
		}
		off -= v
	}
	return t.insertAfter(ci, ri, off, s, start, act)
}

// insertAfterID inserts s right after character id (see insertLocal).
func (t *Text) insertAfterID(id iid, s []rune, start uint64, act uint32) (left, right iid) {
	t.resetCursor()
	r, off, ok := t.lookup(id)
	if !ok {
		panic("crdt: insert after an unknown character")
	}
	return t.insertAfter(t.chunkIndex(r.c), runPos(r.c, r), off, s, start, act)
}

// insertAfter inserts s as characters start, … by act right after
// character off of run ri of chunk ci, and returns their origins (see
// insertLocal).
func (t *Text) insertAfter(ci, ri, off int, s []rune, start uint64, act uint32) (left, right iid) {
	id := iid{start, act}
	c := t.chunks[ci]
	r := c.runs[ri]
	left = iid{r.id.ctr + uint64(off), r.id.act}
	if off < r.n-1 {
		right = iid{left.ctr + 1, left.act}
		t.split(ci, ri, r, off+1)
		c = t.chunks[ci] // a chunk split may have moved r
		if r.c != c {
			ci++
		}
		ri = runPos(r.c, r)
	} else if next := t.runAfter(ci, ri); next != nil {
		right = next.id
	}
	if off == r.n-1 && !r.del && r.id.act == act && r.id.ctr+uint64(r.n) == start && r.right == right {
		// Typing on: extend the run. No run holds counters above start, so
		// the index stays sorted without touching it.
		t.strOK = false
		r.text = append(r.text, s...)
		r.n += len(s)
		c.vis += len(s)
		t.vis += len(s)
		return left, right
	}
	t.insertRun(ci, ri+1, &run{id: id, n: len(s), text: s, left: left, right: right})
	return left, right
}

// firstRun is the first run of the text, deleted or not (nil when empty).
func (t *Text) firstRun() *run {
	for _, c := range t.chunks {
		if len(c.runs) > 0 {
			return c.runs[0]
		}
	}
	return nil
}

// runAfter is the run after runs[ri] of chunk ci (nil at the end).
func (t *Text) runAfter(ci, ri int) *run {
	if ri+1 < len(t.chunks[ci].runs) {
		return t.chunks[ci].runs[ri+1]
	}
	for ci++; ci < len(t.chunks); ci++ {
		if len(t.chunks[ci].runs) > 0 {
			return t.chunks[ci].runs[0]
		}
	}
	return nil
}

// deleteLocal deletes n visible characters from pos and returns their IDs.
func (t *Text) deleteLocal(pos, n int) []span {
	if pos < 0 || n < 0 || pos+n > t.vis {
		panic(fmt.Sprintf("crdt: delete %d at %d outside text of length %d", n, pos, t.vis))
	}
	var out []span
	ci, cstart := t.seek(pos)
	off := pos - cstart
	ri := 0
	for n > 0 {
		c := t.chunks[ci]
		if ri >= len(c.runs) {
			ci, ri = ci+1, 0
			continue
		}
		r := c.runs[ri]
		v := t.visLen(r)
		if off >= v {
			off -= v
			ri++
			continue
		}
		if off > 0 {
			r = t.split(ci, ri, r, off)
			off = 0
			ci = t.chunkIndex(r.c)
			ri = runPos(r.c, r)
		}
		if r.n > n {
			t.split(ci, ri, r, n)
			ci = t.chunkIndex(r.c)
			ri = runPos(r.c, r)
		}
		t.markDeleted(r)
		if k := len(out) - 1; k >= 0 && out[k].start.act == r.id.act && out[k].start.ctr+uint64(out[k].n) == r.id.ctr {
			out[k].n += r.n
		} else {
			out = append(out, span{r.id, r.n})
		}
		n -= r.n
		ri = t.mergeDeleted(ci, ri) + 1
	}
	return out
}

// continues reports whether run q goes on where run p ends: the next
// counters of the same actor, typed right after p's last character with
// the same right origin, in the same deletion state; such runs are one.
func continues(p, q *run) bool { return p.del == q.del && follows(p, q) }

// mergeDeleted joins the deleted run at runs[ri] of chunk ci with deleted
// neighbours in its chunk that it continues or that continue it (typing
// then deleting leaves many), and returns the index of the run that now
// holds its characters. Fewer runs: less memory, faster everything.
func (t *Text) mergeDeleted(ci, ri int) int {
	c := t.chunks[ci]
	r := c.runs[ri]
	if !r.del {
		return ri
	}
	if ri+1 < len(c.runs) && continues(r, c.runs[ri+1]) {
		t.absorb(c, ri)
	}
	if ri > 0 && continues(c.runs[ri-1], r) {
		t.absorb(c, ri-1)
		return ri - 1
	}
	return ri
}

// absorb makes runs[i] of c take in runs[i+1], which it continues.
func (t *Text) absorb(c *chunk, i int) {
	p, q := c.runs[i], c.runs[i+1]
	t.index[q.id.act].remove(q)
	if t.hit == q {
		t.hit = nil
	}
	p.n += q.n
	copy(c.runs[i+1:], c.runs[i+2:])
	c.runs[len(c.runs)-1] = nil
	c.runs = c.runs[:len(c.runs)-1]
}

func (t *Text) markDeleted(r *run) {
	if r.del {
		return
	}
	r.del = true
	r.text = nil
	t.strOK = false
	r.c.vis -= r.n
	t.vis -= r.n
}

type span struct {
	start iid
	n     int
}

// place is a character's place in the sequence as of now: chunk, run in
// the chunk, offset in the run. Places compare in sequence order; they are
// only valid until the next insert.
type place struct{ ci, ri, off int }

func (a place) cmp(b place) int {
	switch {
	case a.ci != b.ci:
		return a.ci - b.ci
	case a.ri != b.ri:
		return a.ri - b.ri
	}
	return a.off - b.off
}

var startPlace = place{-1, 0, 0}

func (t *Text) endPlace() place { return place{len(t.chunks), 0, 0} }

// placeOf returns the place of id; zero is the start (isLeft) or the end.
func (t *Text) placeOf(id iid, isLeft bool) (place, bool) {
	if id.ctr == 0 {
		if isLeft {
			return startPlace, true
		}
		return t.endPlace(), true
	}
	r, off, ok := t.lookup(id)
	if !ok {
		return place{}, false
	}
	return place{t.chunkIndex(r.c), runPos(r.c, r), off}, true
}

// integrate inserts characters id, id+1, … between their origins left and
// right by FugueMax's rule, in the form of Gentle's YjsMod (which "The Art
// of the Fugue" shows equal to FugueMax): among the characters now between
// the origins (all inserted concurrently), it skips those anchored further
// right or inside the range, and a run with the same origins sorts by ID,
// greater first. Runs inserted at one place concurrently, typed forwards
// or backwards, never interleave. An insert without a right origin (all
// of them before Fugue) has the end as its right origin: those alone order
// exactly as the RGA rule did, so old histories replay to the same text.
//
// Only the first character of each run is examined: the others have the
// character before them as left origin, which lies inside the range, so
// the rule passes over them; which runs happen to be split does not change
// the result.
func (t *Text) integrate(left, right, id iid, s []rune) error {
	t.resetCursor()
	var lr, rr *run // the runs ending with left, starting with right
	if left.ctr != 0 {
		r, off, ok := t.lookup(left)
		if !ok {
			return fmt.Errorf("insert after unknown character %d@%s", left.ctr, short(t.actors.names[left.act]))
		}
		if off < r.n-1 {
			t.split(t.chunkIndex(r.c), runPos(r.c, r), r, off+1)
		}
		lr = r
	}
	if right.ctr != 0 {
		r, off, ok := t.lookup(right)
		if !ok {
			return fmt.Errorf("insert before unknown character %d@%s", right.ctr, short(t.actors.names[right.act]))
		}
		if off > 0 {
			r = t.split(t.chunkIndex(r.c), runPos(r.c, r), r, off)
		}
		rr = r
	}
	// From here on nothing moves until the insert.
	ci, ri := 0, 0
	if lr != nil {
		ci, ri = t.chunkIndex(lr.c), runPos(lr.c, lr)+1
	}
	dci, dri := ci, ri
	if next := t.runAt(ci, ri); next != rr {
		// Something was inserted between the origins concurrently (or
		// the origins are not in order): the rule decides.
		lp, rp := startPlace, t.endPlace()
		if lr != nil {
			lp = place{ci, ri - 1, lr.n - 1}
		}
		if rr != nil {
			rp = place{t.chunkIndex(rr.c), runPos(rr.c, rr), 0}
		}
		if rp.cmp(lp) <= 0 {
			return fmt.Errorf("insert whose right origin is not after its left origin")
		}
		dci, dri = t.scan(lp, rp, ci, ri, id)
	}
	// Remote typing arrives one change at a time: extend the run it
	// continues, so runs stay as long as where they were typed.
	if prev := t.runBefore(dci, dri); prev != nil && prev == lr && !prev.del && prev.id.act == id.act &&
		prev.id.ctr+uint64(prev.n) == id.ctr && prev.right == right {
		t.strOK = false
		prev.text = append(prev.text, s...)
		prev.n += len(s)
		prev.c.vis += len(s)
		t.vis += len(s)
		return nil
	}
	t.insertRun(dci, dri, &run{id: id, n: len(s), text: s, left: left, right: right})
	return nil
}

// scan applies the rule to the runs from runs[ri] of chunk ci (just after
// the left origin, at lp) up to the right origin (at rp), for an insert
// with ID id, and returns where the insert goes.
func (t *Text) scan(lp, rp place, ci, ri int, id iid) (int, int) {
	dci, dri := ci, ri
	scanning := false
	for {
		if ri >= len(t.chunks[ci].runs) && ci < len(t.chunks)-1 {
			ci, ri = ci+1, 0
			continue
		}
		if !scanning {
			dci, dri = ci, ri
		}
		if ri >= len(t.chunks[ci].runs) || (place{ci, ri, 0}).cmp(rp) >= 0 {
			return dci, dri // the end, or the right origin
		}
		o := t.chunks[ci].runs[ri]
		ol, ok := t.placeOf(o.left, true)
		if !ok {
			panic("crdt: a run's left origin is not in its text")
		}
		if c := ol.cmp(lp); c < 0 {
			return dci, dri
		} else if c == 0 {
			or, ok := t.placeOf(o.right, false)
			if !ok {
				panic("crdt: a run's right origin is not in its text")
			}
			switch c := or.cmp(rp); {
			case c < 0:
				scanning = true
			case c == 0 && t.actors.greater(id, o.id):
				return dci, dri
			default:
				scanning = false
			}
		}
		ri++
	}
}

// runAt is the run at position ri of chunk ci or, past its end, the first
// of the next chunks (nil at the end of the text).
func (t *Text) runAt(ci, ri int) *run {
	for ; ci < len(t.chunks); ci, ri = ci+1, 0 {
		if ri < len(t.chunks[ci].runs) {
			return t.chunks[ci].runs[ri]
		}
	}
	return nil
}

// runBefore is the run before position ri of chunk ci (nil at the start).
func (t *Text) runBefore(ci, ri int) *run {
	if ri > 0 {
		return t.chunks[ci].runs[ri-1]
	}
	for ci--; ci >= 0; ci-- {
		if n := len(t.chunks[ci].runs); n > 0 {
			return t.chunks[ci].runs[n-1]
		}
	}
	return nil
}

// integrateRGA inserts characters id, id+1, … after origin by the RGA rule:
// directly after the origin, past every run whose first ID is greater than
// id (those were inserted concurrently and win, with their descendants).
// The position sequence of blocks keeps this rule.
func (t *Text) integrateRGA(origin, id iid, s []rune) error {
	t.resetCursor()
	ci, ri := 0, 0
	if origin.ctr != 0 {
		r, off, ok := t.lookup(origin)
		if !ok {
			return fmt.Errorf("insert after unknown character %d@%s", origin.ctr, short(t.actors.names[origin.act]))
		}
		ci = t.chunkIndex(r.c)
		ri = runPos(r.c, r)
		if off < r.n-1 {
			t.split(ci, ri, r, off+1)
			ci = t.chunkIndex(r.c)
			ri = runPos(r.c, r)
		}
		ri++
	}
	for ci < len(t.chunks) {
		c := t.chunks[ci]
		if ri >= len(c.runs) {
			if ci == len(t.chunks)-1 {
				break
			}
			ci, ri = ci+1, 0
			continue
		}
		if !t.actors.greater(c.runs[ri].id, id) {
			break
		}
		ri++
	}
	t.insertRun(ci, ri, &run{id: id, n: len(s), text: s})
	return nil
}

// deleteSpan marks n characters from start deleted; they may lie in several runs.
func (t *Text) deleteSpan(start iid, n int) error {
	t.resetCursor()
	for n > 0 {
		r, off, ok := t.lookup(start)
		if !ok {
			return fmt.Errorf("delete of unknown character %d@%s", start.ctr, short(t.actors.names[start.act]))
		}
		if k := min(n, r.n-off); !r.del && k < r.n && t.deleteIntoNeighbour(r, off, k) {
			n -= k
			start.ctr += uint64(k)
			continue
		}
		if off > 0 {
			r = t.split(t.chunkIndex(r.c), runPos(r.c, r), r, off)
		}
		if r.n > n {
			t.split(t.chunkIndex(r.c), runPos(r.c, r), r, n)
		}
		t.markDeleted(r)
		n -= r.n
		start.ctr += uint64(r.n)
		t.mergeDeleted(t.chunkIndex(r.c), runPos(r.c, r))
	}
	return nil
}

// deleteIntoNeighbour deletes k characters of visible run r from offset
// off when they are its first ones and the run before it is a deleted run
// it continues, or its last ones and the run after it is a deleted run
// continuing it: the boundary between the two moves, and no run is split
// (backspacing, and deleting forwards, do this all the time). It reports
// whether it could.
func (t *Text) deleteIntoNeighbour(r *run, off, k int) bool {
	c := r.c
	ri := runPos(c, r)
	switch {
	case off == 0 && ri > 0 && c.runs[ri-1].del && follows(c.runs[ri-1], r):
		p := c.runs[ri-1]
		p.n += k
		old := r.id.ctr
		r.id.ctr += uint64(k) // still the first counter after p's: the index stays sorted
		t.index[r.id.act].rekeyed(r, old)
		r.n -= k
		r.text = r.text[k:]
		r.left = iid{r.id.ctr - 1, r.id.act}
	case off+k == r.n && ri+1 < len(c.runs) && c.runs[ri+1].del && follows(r, c.runs[ri+1]):
		q := c.runs[ri+1]
		r.n -= k
		r.text = r.text[:r.n:r.n]
		old := q.id.ctr
		q.id.ctr -= uint64(k)
		t.index[q.id.act].rekeyed(q, old)
		q.n += k
		q.left = iid{q.id.ctr - 1, q.id.act}
	default:
		return false
	}
	c.vis -= k
	t.vis -= k
	t.strOK = false
	return true
}

// follows reports whether q's characters come right after p's as one
// typing does (whatever either's deletion state): see continues.
func follows(p, q *run) bool {
	return p.id.act == q.id.act && p.id.ctr+uint64(p.n) == q.id.ctr &&
		q.left == (iid{q.id.ctr - 1, q.id.act}) && q.right == p.right
}

// clone deep-copies the text onto another actor table (with the same indices).
func (t *Text) clone(actors *actorTable) *Text {
	nt := &Text{actors: actors, vis: t.vis, str: t.str, strOK: t.strOK, chunks: make([]*chunk, len(t.chunks)), index: make(map[uint32]*runIndex, len(t.index))}
	byActor := map[uint32][]*run{}
	for i, c := range t.chunks {
		nc := &chunk{runs: make([]*run, len(c.runs), maxChunk+1), vis: c.vis, idx: i}
		for j, r := range c.runs {
			nr := *r
			nr.c = nc
			nr.text = r.text[:len(r.text):len(r.text)]
			nc.runs[j] = &nr
			byActor[nr.id.act] = append(byActor[nr.id.act], &nr)
		}
		nt.chunks[i] = nc
	}
	nt.indexAll(byActor)
	return nt
}

// indexAll builds the index from every run, grouped by actor, and reports
// whether no two runs share a character.
func (t *Text) indexAll(byActor map[uint32][]*run) bool {
	for act, runs := range byActor {
		slices.SortFunc(runs, func(a, b *run) int { return cmp.Compare(a.id.ctr, b.id.ctr) })
		for i := 1; i < len(runs); i++ {
			if runs[i-1].id.ctr+uint64(runs[i-1].n) > runs[i].id.ctr {
				return false
			}
		}
		t.index[act] = newRunIndex(runs)
	}
	return true
}

// appendDecoded adds a run at the end of a text being decoded without
// indexing it: the decoder indexes all runs at once (indexDecoded), one
// sort per actor instead of a search per run.
func (t *Text) appendDecoded(r *run) {
	ci := len(t.chunks) - 1
	if len(t.chunks[ci].runs) >= maxChunk/2 {
		t.appendChunk()
		ci++
	}
	c := t.chunks[ci]
	c.runs = append(c.runs, r)
	r.c = c
	v := t.visLen(r)
	c.vis += v
	t.vis += v
	t.strOK = false
}

// indexDecoded indexes the runs appendDecoded added, and reports whether
// no two of them share a character.
func (t *Text) indexDecoded() bool {
	byActor := map[uint32][]*run{}
	for _, c := range t.chunks {
		for _, r := range c.runs {
			byActor[r.id.act] = append(byActor[r.id.act], r)
		}
	}
	return t.indexAll(byActor)
}

// eachRun calls f on maximal runs: adjacent runs with consecutive IDs, the
// same deletion state and the second continuing the first (its left origin
// the first's last character, the same right origin) are reported as one,
// so the result does not depend on how edits happened to split runs.
func (t *Text) eachRun(f func(r *run)) {
	var cur run
	var buf []rune
	flush := func() {
		if cur.n > 0 {
			cur.text = buf
			f(&cur)
		}
	}
	for _, c := range t.chunks {
		for _, r := range c.runs {
			if cur.n > 0 && cur.del == r.del && cur.id.act == r.id.act && cur.id.ctr+uint64(cur.n) == r.id.ctr &&
				r.left == (iid{r.id.ctr - 1, r.id.act}) && r.right == cur.right {
				cur.n += r.n
				buf = append(buf, r.text...)
				continue
			}
			flush()
			cur = run{id: r.id, n: r.n, del: r.del, left: r.left, right: r.right}
			buf = append(buf[:0:0], r.text...)
		}
	}
	flush()
}

// before returns the element just before id in the sequence (zero when id
// is the first), in O(log n); id must be in the text.
func (t *Text) before(id iid) iid {
	r, off, ok := t.lookup(id)
	if !ok {
		panic("crdt: before an unknown element")
	}
	if off > 0 {
		return iid{r.id.ctr + uint64(off) - 1, r.id.act}
	}
	ci, ri := t.chunkIndex(r.c), runPos(r.c, r)
	for {
		if ri > 0 {
			p := t.chunks[ci].runs[ri-1]
			return iid{p.id.ctr + uint64(p.n) - 1, p.id.act}
		}
		if ci == 0 {
			return iid{}
		}
		ci--
		ri = len(t.chunks[ci].runs)
	}
}

// appendRun adds a run at the end of the text (decoding a state).
func (t *Text) appendRun(r *run) {
	ci := len(t.chunks) - 1
	if len(t.chunks[ci].runs) >= maxChunk/2 {
		t.appendChunk()
		ci++
	}
	t.insertRun(ci, len(t.chunks[ci].runs), r)
}
