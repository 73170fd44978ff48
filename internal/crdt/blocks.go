package crdt

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// reg is a last-writer-wins register: the write with the greatest ID wins.
type reg struct {
	val   string
	unset bool
	ts    iid
}

type block struct {
	id     iid
	attrs  map[string]reg
	parent iid // location register: parent block and position element,
	posID  iid // written together by insert and move, timestamped locTS
	locTS  iid
	// dels are the deletes of the block; edits, per actor, the greatest
	// counter of the ops made on it (its creation, moves, attributes, text,
	// and blocks inserted or moved under it). A delete holds only if it saw
	// every edit of the block and of the blocks under it (see layout).
	dels  []del
	edits stamps
	text  *Text
}

// del is one delete of a block.
type del struct {
	id   iid
	seen stamps
	all  bool // written before deletes said what they saw: it holds
}

// Block is one block of the rendered tree.
type Block struct {
	ID       ID
	Type     string
	Attrs    map[string]string // every attribute but "type"
	Text     string
	Children []*Block
	// Kept: the block was deleted on some device, but edited concurrently
	// on another (it or a block under it), so it stays. Deleting it again
	// now deletes it for good.
	Kept bool
}

// Block types.
const (
	TypeParagraph = "paragraph"
	TypeHeading1  = "heading1"
	TypeHeading2  = "heading2"
	TypeHeading3  = "heading3"
	TypeTodo      = "todo"
	TypeBulleted  = "bulleted"
	TypeNumbered  = "numbered"
	TypeQuote     = "quote"
	TypeCode      = "code"
	TypeLink      = "link"
)

// posRune fills the position sequence: it is a Text whose characters are
// position elements (see Doc.seq), and they carry no text of their own.
var posRune = []rune{0}

// insertPos places position element id of block blk after ref by the RGA
// rule, in O(log n) through the sequence's index.
func (d *Doc) insertPos(ref, id, blk iid) error {
	if ref.ctr != 0 {
		if _, _, ok := d.seq.lookup(ref); !ok {
			return fmt.Errorf("position after unknown block position %d@%s", ref.ctr, short(d.actors.names[ref.act]))
		}
	}
	if err := d.seq.integrate(ref, id, posRune); err != nil {
		return err
	}
	d.posOf[id] = blk
	return nil
}

// eachPos calls f on every position element in sequence order, with the
// block it places.
func (d *Doc) eachPos(f func(elem, blk iid)) {
	for _, c := range d.seq.chunks {
		for _, r := range c.runs {
			for k := 0; k < r.n; k++ {
				e := iid{r.id.ctr + uint64(k), r.id.act}
				f(e, d.posOf[e])
			}
		}
	}
}

// layout is the block tree as the state defines it, computed once per
// state (Doc.lay) and dropped by any op.
type layout struct {
	parent   map[iid]iid   // effective parent of every block (cycles cut)
	children map[iid][]iid // every block's children, deleted ones too, in order; zero = top level
	deleted  map[iid]bool  // blocks whose delete holds
	kept     map[iid]bool  // blocks deleted somewhere but kept by a concurrent edit
	visible  map[iid]bool
}

func (d *Doc) layout() *layout {
	if d.lay != nil {
		return d.lay
	}
	l := &layout{parent: d.effectiveParents(), children: map[iid][]iid{}, deleted: map[iid]bool{}, kept: map[iid]bool{},
		visible: make(map[iid]bool, len(d.blocks))}
	d.eachPos(func(elem, blk iid) {
		if b := d.blocks[blk]; b.posID == elem {
			p := l.parent[blk]
			l.children[p] = append(l.children[p], blk)
		}
	})
	memo := map[iid]stamps{}
	var under func(iid) stamps
	under = func(x iid) stamps {
		if s, ok := memo[x]; ok {
			return s
		}
		s := append(stamps(nil), d.blocks[x].edits...)
		for _, c := range l.children[x] {
			s.merge(under(c))
		}
		memo[x] = s
		return s
	}
	for id, b := range d.blocks {
		if len(b.dels) == 0 {
			continue
		}
		edits := under(id)
		for _, dl := range b.dels {
			if dl.all || dl.seen.covers(edits) {
				l.deleted[id] = true
				break
			}
		}
		if !l.deleted[id] {
			l.kept[id] = true
		}
	}
	// Visible: not deleted, under a visible parent; walked from the top.
	var walk func(iid)
	walk = func(p iid) {
		for _, c := range l.children[p] {
			if !l.deleted[c] {
				l.visible[c] = true
				walk(c)
			}
		}
	}
	walk(iid{})
	d.lay = l
	return l
}

// subtreeEdits is what a delete of x sees: the edits of x and of every
// block under it.
func (d *Doc) subtreeEdits(x iid) stamps {
	l := d.layout()
	var s stamps
	var walk func(iid)
	walk = func(b iid) {
		s.merge(d.blocks[b].edits)
		for _, c := range l.children[b] {
			walk(c)
		}
	}
	walk(x)
	return s
}

// Preview returns about the first n characters of the page's text, blocks
// in document order, whitespace folded to single spaces. It reads only the
// text it returns, so it stays cheap on long pages.
func (d *Doc) Preview(n int) string {
	var words []string
	left := n
	l := d.layout()
	var walk func(iid)
	walk = func(p iid) {
		for _, c := range l.children[p] {
			if left <= 0 {
				return
			}
			if !l.visible[c] {
				continue
			}
			for _, w := range strings.Fields(d.blocks[c].text.Prefix(left + 1)) {
				words = append(words, w)
				left -= utf8.RuneCountInString(w) + 1
			}
			walk(c)
		}
	}
	walk(iid{})
	s := []rune(strings.Join(words, " "))
	if len(s) > n {
		s = append(s[:n-1], '…')
	}
	return string(s)
}

// Blocks renders the block tree.
func (d *Doc) Blocks() []*Block { return d.tree(true) }

// tree renders the block tree, with or without the blocks' text. A block
// shows under its parent in the order of its position element in the
// sequence; a deleted block is hidden with everything under it, unless an
// edit the delete did not see (a concurrent one) is in it, which keeps it;
// blocks whose parent links form a cycle (concurrent moves into each
// other) are shown at the top level. All of it is a function of the state
// alone, so every replica renders alike.
func (d *Doc) tree(withText bool) []*Block {
	l := d.layout()
	var build func(p iid) []*Block
	build = func(p iid) []*Block {
		var out []*Block
		for _, c := range l.children[p] {
			if !l.visible[c] {
				continue
			}
			b := d.blocks[c]
			rb := &Block{ID: d.actors.external(b.id), Attrs: map[string]string{}, Kept: l.kept[c]}
			if withText {
				rb.Text = b.text.String()
			}
			for k, r := range b.attrs {
				if r.unset {
					continue
				}
				if k == "type" {
					rb.Type = r.val
				} else {
					rb.Attrs[k] = r.val
				}
			}
			rb.Children = build(c)
			out = append(out, rb)
		}
		return out
	}
	return build(iid{})
}

// effectiveParents resolves cycles: each cycle is cut at the block whose
// location was written last, which moves to the top level.
func (d *Doc) effectiveParents() map[iid]iid {
	parent := make(map[iid]iid, len(d.blocks))
	for id, b := range d.blocks {
		p := b.parent
		if p.ctr != 0 && d.blocks[p] == nil {
			p = iid{}
		}
		parent[id] = p
	}
	state := make(map[iid]uint8, len(d.blocks)) // 1 = on path, 2 = done
	d.eachPos(func(_, start iid) {
		if state[start] == 2 {
			return
		}
		var path []iid
		for id := start; id.ctr != 0 && state[id] != 2; id = parent[id] {
			if state[id] == 1 {
				// Cycle: from id around to id. Cut at the latest writer.
				cut := id
				for x := parent[id]; x != id; x = parent[x] {
					if d.actors.greater(d.blocks[x].locTS, d.blocks[cut].locTS) {
						cut = x
					}
				}
				parent[cut] = iid{}
				break
			}
			state[id] = 1
			path = append(path, id)
		}
		for _, id := range path {
			state[id] = 2
		}
	})
	return parent
}

// BlockIDs lists the visible blocks depth-first in document order.
func (d *Doc) BlockIDs() []ID {
	var out []ID
	l := d.layout()
	var walk func(iid)
	walk = func(p iid) {
		for _, c := range l.children[p] {
			if l.visible[c] {
				out = append(out, d.actors.external(c))
				walk(c)
			}
		}
	}
	walk(iid{})
	return out
}

// parentOf returns the effective parent of a visible block.
func (d *Doc) parentOf(id ID) ID {
	x, ok := d.actors.internal(id)
	if !ok {
		return ID{}
	}
	return d.actors.external(d.layout().parent[x])
}

// childIDs lists the visible children of parent (zero = top level) in order.
func (d *Doc) childIDs(parent ID) []ID {
	p, err := d.parentRef(parent)
	if err != nil {
		return nil
	}
	l := d.layout()
	var out []ID
	for _, c := range l.children[p] {
		if l.visible[c] {
			out = append(out, d.actors.external(c))
		}
	}
	return out
}
