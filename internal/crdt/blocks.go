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
	id      iid
	attrs   map[string]reg
	parent  iid // location register: parent block and position element,
	posID   iid // written together by insert and move, timestamped locTS
	locTS   iid
	deleted bool
	text    *Text
}

type posElem struct {
	id    iid
	block iid
}

// Block is one block of the rendered tree.
type Block struct {
	ID       ID
	Type     string
	Attrs    map[string]string // every attribute but "type"
	Text     string
	Children []*Block
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

// insertPos places a position element after ref by the RGA rule.
func (d *Doc) insertPos(ref, id, blk iid) error {
	i := 0
	if ref.ctr != 0 {
		i = -1
		for j, p := range d.pos {
			if p.id == ref {
				i = j + 1
				break
			}
		}
		if i < 0 {
			return fmt.Errorf("position after unknown block position %d@%s", ref.ctr, short(d.actors.names[ref.act]))
		}
	}
	for i < len(d.pos) && d.actors.greater(d.pos[i].id, id) {
		i++
	}
	d.pos = append(d.pos, posElem{})
	copy(d.pos[i+1:], d.pos[i:])
	d.pos[i] = posElem{id: id, block: blk}
	return nil
}

// Preview returns about the first n characters of the page's text, blocks
// in document order, whitespace folded to single spaces. It reads only the
// text it returns, so it stays cheap on long pages.
func (d *Doc) Preview(n int) string {
	var words []string
	left := n
	var walk func([]*Block)
	walk = func(bs []*Block) {
		for _, b := range bs {
			if left <= 0 {
				return
			}
			blk := d.blocks[d.actors.mustInternal(b.ID)]
			for _, w := range strings.Fields(blk.text.Prefix(left + 1)) {
				words = append(words, w)
				left -= utf8.RuneCountInString(w) + 1
			}
			walk(b.Children)
		}
	}
	walk(d.tree(false))
	s := []rune(strings.Join(words, " "))
	if len(s) > n {
		s = append(s[:n-1], '…')
	}
	return string(s)
}

// Blocks renders the block tree.
func (d *Doc) Blocks() []*Block { return d.tree(true) }

// tree renders the block tree, with or without the blocks' text. A block shows under its parent when its
// location register's position element is reached in sequence order; a
// block whose parent is deleted is hidden with it; blocks whose parent links
// form a cycle (concurrent moves into each other) are shown at the top level,
// which is a function of the state alone, so every replica agrees.
func (d *Doc) tree(withText bool) []*Block {
	parent := d.effectiveParents()
	out := map[iid]*Block{}
	var roots []*Block
	for _, p := range d.pos {
		b := d.blocks[p.block]
		if b.posID != p.id || !d.visible(b.id, parent) {
			continue
		}
		rb := &Block{ID: d.actors.external(b.id), Attrs: map[string]string{}}
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
		out[b.id] = rb
		if pp := parent[b.id]; pp.ctr == 0 {
			roots = append(roots, rb)
		}
	}
	// Attach children in sequence order.
	for _, p := range d.pos {
		b := d.blocks[p.block]
		rb, ok := out[b.id]
		if !ok || b.posID != p.id {
			continue
		}
		if pp := parent[b.id]; pp.ctr != 0 {
			out[pp].Children = append(out[pp].Children, rb)
		}
	}
	return roots
}

func (d *Doc) visible(id iid, parent map[iid]iid) bool {
	for id.ctr != 0 {
		b := d.blocks[id]
		if b == nil || b.deleted {
			return false
		}
		id = parent[id]
	}
	return true
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
	for _, p := range d.pos {
		start := p.block
		if state[start] == 2 {
			continue
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
	}
	return parent
}

// BlockIDs lists the visible blocks depth-first in document order.
func (d *Doc) BlockIDs() []ID {
	var out []ID
	var walk func([]*Block)
	walk = func(bs []*Block) {
		for _, b := range bs {
			out = append(out, b.ID)
			walk(b.Children)
		}
	}
	walk(d.Blocks())
	return out
}

// parentOf returns the effective parent of a visible block.
func (d *Doc) parentOf(id ID) ID {
	x, ok := d.actors.internal(id)
	if !ok {
		return ID{}
	}
	return d.actors.external(d.effectiveParents()[x])
}
