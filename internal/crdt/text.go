package crdt

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Text is the character sequence of one block: an RGA whose characters are
// stored as runs (consecutive counters of one actor, each the RGA child of the
// one before), in a list of chunks that carry their visible length, so finding
// a position costs O(chunks) at worst and O(1) near the last edit.
type Text struct {
	actors *actorTable
	chunks []*chunk
	vis    int
	// index holds, per actor, its runs sorted by first counter, to find a
	// character by ID.
	index map[uint32]*runIndex
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
	x := t.index[id.act]
	if x == nil {
		return nil, 0, false
	}
	r := x.find(id.ctr)
	if r == nil {
		return nil, 0, false
	}
	return r, int(id.ctr - r.id.ctr), true
}

// split cuts r so its first k characters stay in r and the rest form a new
// run right after it (ri is r's index in its chunk, ci the chunk's index).
func (t *Text) split(ci, ri int, r *run, k int) *run {
	right := &run{id: iid{r.id.ctr + uint64(k), r.id.act}, n: r.n - k, del: r.del}
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
// start+1, …, by actor act, and returns the ID of the character it follows.
// The new counters must exceed every counter in the text, so the RGA rule
// places the run directly after its origin.
func (t *Text) insertLocal(pos int, s []rune, start uint64, act uint32) iid {
	if pos < 0 || pos > t.vis {
		panic(fmt.Sprintf("crdt: insert at %d outside text of length %d", pos, t.vis))
	}
	id := iid{start, act}
	if pos == 0 {
		t.resetCursor()
		t.insertRun(0, 0, &run{id: id, n: len(s), text: s})
		return iid{}
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
	r := c.runs[ri]
	origin := iid{r.id.ctr + uint64(off), r.id.act}
	if off == r.n-1 && r.id.act == act && r.id.ctr+uint64(r.n) == start {
		// Typing on: extend the run. No run holds counters above start, so
		// the index stays sorted without touching it.
		t.strOK = false
		r.text = append(r.text, s...)
		r.n += len(s)
		c.vis += len(s)
		t.vis += len(s)
		return origin
	}
	if off < r.n-1 {
		t.split(ci, ri, r, off+1)
		c = t.chunks[ci] // a chunk split may have moved r
		if r.c != c {
			ci++
		}
		ri = runPos(r.c, r)
	}
	t.insertRun(ci, ri+1, &run{id: id, n: len(s), text: s})
	return origin
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
		ri++
	}
	return out
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

// integrate inserts characters id, id+1, … after origin by the RGA rule:
// directly after the origin, past every run whose first ID is greater than
// id (those were inserted concurrently and win, with their descendants).
func (t *Text) integrate(origin, id iid, s []rune) error {
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
		if off > 0 {
			r = t.split(t.chunkIndex(r.c), runPos(r.c, r), r, off)
		}
		if r.n > n {
			t.split(t.chunkIndex(r.c), runPos(r.c, r), r, n)
		}
		t.markDeleted(r)
		n -= r.n
		start.ctr += uint64(r.n)
	}
	return nil
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
	for act, runs := range byActor {
		sort.Slice(runs, func(i, j int) bool { return runs[i].id.ctr < runs[j].id.ctr })
		x := &runIndex{}
		for i := 0; i < len(runs); i += leafMax / 2 {
			x.leaves = append(x.leaves, append(make([]*run, 0, leafMax+1), runs[i:min(i+leafMax/2, len(runs))]...))
		}
		nt.index[act] = x
	}
	return nt
}

// eachRun calls f on maximal runs: adjacent runs with consecutive IDs and the
// same deletion state are reported as one, so the result does not depend on
// how edits happened to split runs.
func (t *Text) eachRun(f func(id iid, n int, del bool, text []rune)) {
	var cur run
	var buf []rune
	flush := func() {
		if cur.n > 0 {
			f(cur.id, cur.n, cur.del, buf)
		}
	}
	for _, c := range t.chunks {
		for _, r := range c.runs {
			if cur.n > 0 && cur.del == r.del && cur.id.act == r.id.act && cur.id.ctr+uint64(cur.n) == r.id.ctr {
				cur.n += r.n
				buf = append(buf, r.text...)
				continue
			}
			flush()
			cur = run{id: r.id, n: r.n, del: r.del}
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
