package crdt

import (
	"fmt"
	"slices"
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
	idx    int32 // in Doc.list
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
	marks []markOp // in the order applied (marks.go)
}

// del is one delete of a block.
type del struct {
	id   iid
	seen stamps
	all  bool // written before deletes said what they saw: it holds
}

// Block is one block of the rendered tree.
type Block struct {
	ID    ID
	Type  string
	Attrs map[string]string // every attribute but "type"
	Text  string
	// Marks is the inline formatting of Text, ordered by (Start, End,
	// Type, Value); marks of one type never overlap.
	Marks    []Mark
	Children []*Block
	// Kept: the block was deleted on some device, but edited concurrently
	// on another (it or a block under it), so it stays. Deleting it again
	// now deletes it for good.
	Kept bool
}

// Mark is inline formatting over the characters [Start, End) of a block's
// text (offsets in characters, not bytes).
type Mark struct {
	Start, End int
	Type       string // one of the Mark* constants
	Value      string // MarkLink: the URL; MarkMention: the target (an object id, with an optional #anchor)
}

// Mark types. A mark of an expanding type grows when text is typed at its
// end (bold, italic, strike, highlight); links, mentions and code do not.
const (
	MarkBold      = "bold"
	MarkItalic    = "italic"
	MarkStrike    = "strike"
	MarkCode      = "code"
	MarkHighlight = "highlight"
	MarkLink      = "link"
	MarkMention   = "mention"
	// MarkRaw is inline Markdown source kept verbatim (inline HTML, an
	// image, a footnote reference…): never escaped on export.
	MarkRaw = "raw"
)

// Block types. Attributes they use are named beside them.
const (
	TypeParagraph = "paragraph"
	TypeHeading1  = "heading1"
	TypeHeading2  = "heading2"
	TypeHeading3  = "heading3"
	TypeHeading4  = "heading4"
	TypeHeading5  = "heading5"
	TypeHeading6  = "heading6"
	TypeTodo      = "todo"     // checked: "true"
	TypeBulleted  = "bulleted" //
	TypeNumbered  = "numbered" // start: the first item's number (the first of a run of items)
	TypeQuote     = "quote"    // children: the quoted blocks, when more than one paragraph
	TypeCallout   = "callout"  // kind (note, warning, tip…), fold ("", "+", "-"); Text: title; children: body
	TypeToggle    = "toggle"   // Text: summary; children: the folded blocks
	TypeCode      = "code"     // language; Text: the code, byte-exact
	TypeDivider   = "divider"
	TypeMath      = "math"     // Text: TeX
	TypeTable     = "table"    // children: column blocks, then row blocks
	TypeColumn    = "column"   // align ("", left, center, right)
	TypeRow       = "row"      // children: cell blocks
	TypeCell      = "cell"     // col: the id of its column block; Text (with marks): the cell
	TypeLink      = "link"     // target: an object id; Text: the title shown
	TypeBookmark  = "bookmark" // url; Text: the title shown
	TypeEmbed     = "embed"    // target: a file or object, size (e.g. "200" or "200x100")
	TypeRaw       = "raw"      // Text: source kept verbatim (HTML, footnotes, comments): never escaped
	TypeFile      = "file"     // file: its manifest (base64 of a files.Manifest); size (display, as embed); Text: caption
)

// IsBlockType reports whether typ is one of the Type* constants.
func IsBlockType(typ string) bool {
	switch typ {
	case TypeParagraph, TypeHeading1, TypeHeading2, TypeHeading3, TypeHeading4, TypeHeading5, TypeHeading6,
		TypeTodo, TypeBulleted, TypeNumbered, TypeQuote, TypeCallout, TypeToggle, TypeCode, TypeDivider, TypeMath,
		TypeTable, TypeColumn, TypeRow, TypeCell, TypeLink, TypeBookmark, TypeEmbed, TypeRaw, TypeFile:
		return true
	}
	return false
}

// markTypes are the Mark* constants.
var markTypes = []string{MarkBold, MarkItalic, MarkStrike, MarkCode, MarkHighlight, MarkLink, MarkMention, MarkRaw}

// IsMarkType reports whether typ is one of the Mark* constants.
func IsMarkType(typ string) bool { return slices.Contains(markTypes, typ) }

// posRune fills the position sequence: it is a Text whose characters are
// position elements (see Doc.seq), and they carry no text of their own.
var posRune = []rune{0}

// insertPos places position element id of block b after ref by the RGA
// rule, in O(log n) through the sequence's index.
func (d *Doc) insertPos(ref, id iid, b *block) error {
	if ref.ctr != 0 {
		if _, _, ok := d.seq.lookup(ref); !ok {
			return fmt.Errorf("position after unknown block position %d@%s", ref.ctr, short(d.actors.names[ref.act]))
		}
	}
	if err := d.seq.integrateRGA(ref, id, posRune); err != nil {
		return err
	}
	d.posOf[id] = b
	return nil
}

// eachPos calls f on every position element in sequence order, with the
// block it places.
func (d *Doc) eachPos(f func(elem iid, b *block)) {
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
// state (Doc.lay) and dropped by any op. Blocks are numbered by their
// index in Doc.list, so the layout is slices, not maps.
type layout struct {
	parent   []int32   // effective parent's index (-1: top level), cycles cut
	children [][]int32 // every block's children, deleted ones too, in order
	top      []int32   // the top-level blocks, in order
	deleted  []bool    // the block's delete holds
	kept     []bool    // deleted somewhere, but kept by a concurrent edit
	visible  []bool
}

func (l *layout) kids(p int32) []int32 {
	if p < 0 {
		return l.top
	}
	return l.children[p]
}

func (d *Doc) layout() *layout {
	if d.lay != nil {
		return d.lay
	}
	n := len(d.list)
	l := &layout{parent: d.effectiveParents(), children: make([][]int32, n), deleted: make([]bool, n), kept: make([]bool, n),
		visible: make([]bool, n)}
	// Blocks in sequence order, then grouped by parent in one backing
	// array (a counting sort): two allocations, not one per parent.
	order := make([]int32, 0, n)
	count := make([]int32, n+1) // count[p+1]: children of p (p = -1: top)
	d.eachPos(func(elem iid, b *block) {
		if b.posID == elem {
			order = append(order, b.idx)
			count[l.parent[b.idx]+1]++
		}
	})
	start := make([]int32, n+2)
	for i := range count {
		start[i+1] = start[i] + count[i]
	}
	backing := make([]int32, len(order))
	fill := append([]int32(nil), start[:n+1]...)
	for _, x := range order {
		p := l.parent[x] + 1
		backing[fill[p]] = x
		fill[p]++
	}
	l.top = backing[start[0]:start[1]:start[1]]
	for p := 0; p < n; p++ {
		if a, b := start[p+1], start[p+2]; b > a {
			l.children[p] = backing[a:b:b]
		}
	}
	memo := map[int32]stamps{}
	var under func(int32) stamps
	under = func(x int32) stamps {
		if s, ok := memo[x]; ok {
			return s
		}
		s := append(stamps(nil), d.list[x].edits...)
		for _, c := range l.children[x] {
			s.merge(under(c))
		}
		memo[x] = s
		return s
	}
	for i, b := range d.list {
		if len(b.dels) == 0 {
			continue
		}
		edits := under(int32(i))
		for _, dl := range b.dels {
			if dl.all || dl.seen.covers(edits) {
				l.deleted[i] = true
				break
			}
		}
		l.kept[i] = !l.deleted[i]
	}
	// Visible: not deleted, under a visible parent; walked from the top.
	var walk func([]int32)
	walk = func(kids []int32) {
		for _, c := range kids {
			if !l.deleted[c] {
				l.visible[c] = true
				walk(l.children[c])
			}
		}
	}
	walk(l.top)
	d.lay = l
	return l
}

// subtreeEdits is what a delete of x sees: the edits of x and of every
// block under it.
func (d *Doc) subtreeEdits(x *block) stamps {
	l := d.layout()
	var s stamps
	var walk func(int32)
	walk = func(b int32) {
		s.merge(d.list[b].edits)
		for _, c := range l.children[b] {
			walk(c)
		}
	}
	walk(x.idx)
	return s
}

// Preview returns about the first n characters of the page's text, blocks
// in document order, whitespace folded to single spaces. It reads only the
// text it returns, so it stays cheap on long pages.
func (d *Doc) Preview(n int) string {
	var words []string
	left := n
	l := d.layout()
	var walk func([]int32)
	walk = func(kids []int32) {
		for _, c := range kids {
			if left <= 0 {
				return
			}
			if !l.visible[c] {
				continue
			}
			for _, w := range strings.Fields(d.list[c].text.Prefix(left + 1)) {
				words = append(words, w)
				left -= utf8.RuneCountInString(w) + 1
			}
			walk(l.children[c])
		}
	}
	walk(l.top)
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
	var build func(kids []int32) []*Block
	build = func(kids []int32) []*Block {
		var out []*Block
		for _, c := range kids {
			if !l.visible[c] {
				continue
			}
			b := d.list[c]
			rb := &Block{ID: d.actors.external(b.id), Attrs: make(map[string]string, max(len(b.attrs)-1, 0)), Kept: l.kept[c]}
			if withText {
				rb.Text = b.text.String()
				rb.Marks = d.renderMarks(b)
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
			rb.Children = build(l.children[c])
			out = append(out, rb)
		}
		return out
	}
	return build(l.top)
}

// effectiveParents resolves cycles: each cycle is cut at the block whose
// location was written last, which moves to the top level. It returns each
// block's parent by index (-1: top level).
func (d *Doc) effectiveParents() []int32 {
	parent := make([]int32, len(d.list))
	for i, b := range d.list {
		parent[i] = -1
		if p := d.blocks[b.parent]; b.parent.ctr != 0 && p != nil {
			parent[i] = p.idx
		}
	}
	state := make([]uint8, len(d.list)) // 1 = on path, 2 = done
	var path []int32
	for start := range d.list {
		if state[start] == 2 {
			continue
		}
		path = path[:0]
		for id := int32(start); id >= 0 && state[id] != 2; id = parent[id] {
			if state[id] == 1 {
				// Cycle: from id around to id. Cut at the latest writer.
				cut := id
				for x := parent[id]; x != id; x = parent[x] {
					if d.actors.greater(d.list[x].locTS, d.list[cut].locTS) {
						cut = x
					}
				}
				parent[cut] = -1
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
	l := d.layout()
	var walk func([]int32)
	walk = func(kids []int32) {
		for _, c := range kids {
			if l.visible[c] {
				out = append(out, d.actors.external(d.list[c].id))
				walk(l.children[c])
			}
		}
	}
	walk(l.top)
	return out
}

// parentOf returns the effective parent of a block.
func (d *Doc) parentOf(id ID) ID {
	b, err := d.blockRef(id)
	if err != nil {
		return ID{}
	}
	if p := d.layout().parent[b.idx]; p >= 0 {
		return d.actors.external(d.list[p].id)
	}
	return ID{}
}

// childIDs lists the visible children of parent (zero = top level) in order.
func (d *Doc) childIDs(parent ID) []ID {
	p := int32(-1)
	if !parent.IsZero() {
		b, err := d.blockRef(parent)
		if err != nil {
			return nil
		}
		p = b.idx
	}
	l := d.layout()
	var out []ID
	for _, c := range l.kids(p) {
		if l.visible[c] {
			out = append(out, d.actors.external(d.list[c].id))
		}
	}
	return out
}
