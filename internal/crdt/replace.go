package crdt

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"mycel/internal/diff"
)

// key is what Replace matches blocks by.
type key struct{ typ, text string }

// target is a block of Replace's target tree, depth-first, with its
// parent's index (-1 = top level) and its children's.
type target struct {
	b        *Block
	parent   int
	children []int
}

func flattenTarget(bs []*Block) []target {
	var out []target
	var walk func([]*Block, int) []int
	walk = func(bs []*Block, parent int) []int {
		var idx []int
		for _, b := range bs {
			i := len(out)
			idx = append(idx, i)
			out = append(out, target{b: b, parent: parent})
			out[i].children = walk(b.Children, i)
		}
		return idx
	}
	walk(bs, -1)
	return out
}

// current is a visible block of the document, depth-first, read straight
// from the layout (rendering Blocks would build a copy of every block).
type current struct {
	b        *block
	id       ID
	key      key
	parent   int
	children []int
}

func (d *Doc) flattenCurrent() []current {
	l := d.layout()
	out := make([]current, 0, len(d.list))
	var walk func(kids []int32, parent int)
	walk = func(kids []int32, parent int) {
		for _, c := range kids {
			if !l.visible[c] {
				continue
			}
			b := d.list[c]
			i := len(out)
			out = append(out, current{b: b, id: d.actors.external(b.id), key: key{b.typ(), b.text.String()}, parent: parent})
			walk(l.children[c], i)
		}
	}
	walk(l.top, -1)
	// Children lists share one array: depth-first order lists each
	// block's children in order.
	count := make([]int, len(out))
	for _, f := range out {
		if f.parent >= 0 {
			count[f.parent]++
		}
	}
	backing := make([]int, 0, len(out))
	for i := range out {
		if count[i] > 0 {
			out[i].children = backing[len(backing) : len(backing) : len(backing)+count[i]]
			backing = backing[:len(backing)+count[i]]
		}
	}
	for i, f := range out {
		if f.parent >= 0 {
			out[f.parent].children = append(out[f.parent].children, i)
		}
	}
	return out
}

// typ is the block's type.
func (b *block) typ() string {
	if r, ok := b.attrs["type"]; ok && !r.unset {
		return r.val
	}
	return ""
}

// Replace edits the document so its block tree equals target (whose IDs are
// ignored), with few operations: blocks are matched to existing ones by a
// diff over (type, text), then blocks with the same content elsewhere count
// as moved, then unmatched neighbours pair up as edits of one another; text
// changes become character inserts and deletes, and only blocks out of
// order are moved. A moved or edited block keeps its identity, so
// concurrent edits to it survive; a deleted block records what it saw, so
// a concurrent edit keeps it. It costs O(n log n) in the blocks plus the
// text diffs of the blocks that changed. Write, edit and restore use it.
func (tx *Tx) Replace(blocks []*Block) { _ = tx.replace(blocks, false) }

// ReplaceByID is Replace for an editor that keeps the IDs of the blocks it
// shows: a target block with the ID of a current block is that block
// (moved, retyped, its text and marks edited as needed), one without (or
// with an ID the document does not show) is a new block, and a current
// block no target names is deleted. Nothing is matched by content, so a
// block the person deleted is deleted (keeping, as every delete does, a
// concurrent edit) and one they typed is new, even where the two look alike.
//
// It returns the ID of every block of the tree given, depth-first, as
// placed: an editor learns there the IDs of the blocks it sent as new.
func (tx *Tx) ReplaceByID(blocks []*Block) []ID { return tx.replace(blocks, true) }

func (tx *Tx) replace(blocks []*Block, byID bool) []ID {
	d := tx.d
	cur := d.flattenCurrent()
	tgt := flattenTarget(blocks)
	curKeys := make([]key, len(cur))
	for i, f := range cur {
		curKeys[i] = f.key
	}
	tgtKeys := make([]key, len(tgt))
	for i, f := range tgt {
		tgtKeys[i] = key{f.b.Type, f.b.Text}
	}

	// match[i] is the index in cur of the block target i reuses, or -1.
	// First the diff's equal runs; then blocks that moved (same type and
	// text elsewhere); then, within each gap of the diff, the remaining
	// neighbours pair up as edits of one another.
	match := make([]int, len(tgt))
	for i := range match {
		match[i] = -1
	}
	used := make([]bool, len(cur))
	if byID {
		at := make(map[ID]int, len(cur))
		for i, f := range cur {
			at[f.id] = i
		}
		for i, f := range tgt {
			if j, ok := at[f.b.ID]; ok && !used[j] {
				match[i], used[j] = j, true
			}
		}
	}
	var script []diff.Edit
	if !byID {
		script = diff.Lines(curKeys, tgtKeys)
	}
	for _, e := range script {
		if e.Kind == diff.Equal {
			for j := 0; j < e.N; j++ {
				match[e.B+j] = e.A + j
				used[e.A+j] = true
			}
		}
	}
	if !byID && (len(script) > 1 || len(script) == 1 && script[0].Kind != diff.Equal) {
		spare := map[key][]int{}
		for i, k := range curKeys {
			if !used[i] {
				spare[k] = append(spare[k], i)
			}
		}
		for i, k := range tgtKeys {
			if q := spare[k]; match[i] < 0 && len(q) > 0 {
				match[i], used[q[0]] = q[0], true
				spare[k] = q[1:]
			}
		}
		var dels, inss []int
		pair := func() {
			for len(dels) > 0 && len(inss) > 0 {
				match[inss[0]], used[dels[0]] = dels[0], true
				dels, inss = dels[1:], inss[1:]
			}
			dels, inss = dels[:0], inss[:0]
		}
		for _, e := range script {
			switch e.Kind {
			case diff.Equal:
				pair()
			case diff.Delete:
				for j := 0; j < e.N; j++ {
					if !used[e.A+j] {
						dels = append(dels, e.A+j)
					}
				}
			case diff.Insert:
				for j := 0; j < e.N; j++ {
					if match[e.B+j] < 0 {
						inss = append(inss, e.B+j)
					}
				}
			}
		}
		pair()
	}

	// Children of the top level and of every current block, by index in
	// cur, as they are now: placing a parent's children reads these rather
	// than the document (which would lay the tree out again after each op).
	var topKids []int
	for i, f := range cur {
		if f.parent < 0 {
			topKids = append(topKids, i)
		}
	}
	kidsOf := func(p int) []int {
		if p < 0 {
			return topKids
		}
		return cur[p].children
	}
	placedID := make([]ID, len(tgt)) // the block each target became
	moved := make([]bool, len(cur))  // moved away by this Replace
	wanted := make([]int, len(cur))  // the place call that wants it
	stay := make([]int, len(cur))    // the place call that keeps it where it is
	calls := 0

	// ref is the position element a block must follow to land right after
	// prev (a block already placed) under parent, or first when prev is nil:
	// just before the first current child still there, else right after
	// the parent's own element.
	ref := func(pcur int, parent *block, prev *block) iid {
		if prev != nil {
			return prev.posID
		}
		if pcur >= 0 || parent == nil {
			for _, k := range kidsOf(pcur) {
				if !moved[k] {
					return d.seq.before(cur[k].b.posID)
				}
			}
		}
		if parent == nil {
			return iid{}
		}
		return parent.posID
	}

	// place puts target children under a parent: pcur is the parent's
	// index in cur (-1: the top level, or a block this Replace made, which
	// has none), parent its block (nil: top level).
	var place func(pcur int, parentID ID, parent *block, children []int)
	place = func(pcur int, parentID ID, parent *block, children []int) {
		if len(children) == 0 {
			return // what sat under parent and is not wanted is deleted below
		}
		calls++
		// Which of the wanted children already sit under parent, in an
		// order we can keep? The longest common subsequence stays put.
		want := make([]int, 0, len(children))
		for _, c := range children {
			if m := match[c]; m >= 0 {
				want = append(want, m)
				wanted[m] = calls
			}
		}
		var have []int
		if parent != nil && pcur < 0 {
			have = nil // a new block has no children yet
		} else {
			for _, k := range kidsOf(pcur) {
				if wanted[k] == calls && !moved[k] {
					have = append(have, k)
				}
			}
		}
		if slices.Equal(have, want) {
			for _, k := range have {
				stay[k] = calls
			}
		} else {
			for _, e := range diff.Lines(have, want) {
				if e.Kind == diff.Equal {
					for j := 0; j < e.N; j++ {
						stay[have[e.A+j]] = calls
					}
				}
			}
		}
		var prev *block
		type placed struct {
			cur int // -1: inserted now
			b   *block
			id  ID
		}
		done := make([]placed, len(children))
		for i, c := range children {
			t := tgt[c].b
			p := placed{cur: match[c]}
			if p.cur < 0 {
				p.id = tx.insertAt(parentID, ref(pcur, parent, prev), t.Type)
				p.b = d.blocks[d.actors.mustInternal(p.id)]
				tx.setAttrs(p.id, nil, cellAttrs(tgt, c, placedID))
				tx.InsertText(p.id, 0, t.Text)
				if len(t.Marks) > 0 {
					tx.syncMarks(p.b, p.id, t.Marks)
				}
			} else {
				old := cur[p.cur]
				p.b, p.id = old.b, old.id
				if stay[p.cur] != calls {
					tx.moveAt(p.id, parentID, ref(pcur, parent, prev))
					moved[p.cur] = true
				}
				if old.key.typ != t.Type {
					tx.SetAttr(p.id, "type", t.Type)
				}
				tx.syncAttrs(p.b, p.id, cellAttrs(tgt, c, placedID))
				tx.editText(p.id, old.key.text, t.Text)
				tx.syncMarks(p.b, p.id, t.Marks)
			}
			done[i] = p
			placedID[c] = p.id
			prev = p.b
		}
		for i, c := range children {
			place(done[i].cur, done[i].id, done[i].b, tgt[c].children)
		}
	}
	var top []int
	for i, f := range tgt {
		if f.parent < 0 {
			top = append(top, i)
		}
	}
	place(-1, ID{}, nil, top)
	// Delete what is left, from the top: a block under a deleted one goes
	// with it (and comes back with it, if a concurrent edit keeps it). Each
	// delete sees the edits of everything under it now (blocks moved out
	// are not; hidden ones are), worked out before the first delete so that
	// the tree is laid out once.
	var gone []int
	for i, f := range cur {
		if !used[i] && (f.parent < 0 || used[f.parent]) {
			gone = append(gone, i)
		}
	}
	if len(gone) == 0 {
		return placedID
	}
	l := d.layout()
	seen := make([]stamps, len(gone))
	for i, g := range gone {
		var walk func(int32)
		walk = func(x int32) {
			seen[i].merge(d.list[x].edits)
			for _, c := range l.children[x] {
				walk(c)
			}
		}
		walk(cur[g].b.idx)
	}
	for i, g := range gone {
		tx.deleteSeen(cur[g].id, seen[i])
	}
	return placedID
}

// cellAttrs returns target c's attributes, with a cell's column named by
// position ("#k": the table's k-th column, as Markdown has it) resolved to
// that column's block ID, placed before any cell.
func cellAttrs(tgt []target, c int, placedID []ID) map[string]string {
	t := tgt[c].b
	col, ok := t.Attrs[AttrColumn]
	if t.Type != TypeCell || !ok || !strings.HasPrefix(col, "#") || tgt[c].parent < 0 || tgt[tgt[c].parent].parent < 0 {
		return t.Attrs
	}
	k, err := strconv.Atoi(col[1:])
	if err != nil {
		return t.Attrs
	}
	for _, x := range tgt[tgt[tgt[c].parent].parent].children {
		if tgt[x].b.Type != TypeColumn {
			continue
		}
		if k == 0 {
			out := maps.Clone(t.Attrs)
			out[AttrColumn] = placedID[x].String()
			return out
		}
		k--
	}
	return t.Attrs
}

// syncAttrs makes b's attributes (but its type) those in want.
func (tx *Tx) syncAttrs(b *block, id ID, want map[string]string) {
	if len(want) == 0 && len(b.attrs) == 1 {
		if _, ok := b.attrs["type"]; ok {
			return // the usual case: none but its type
		}
	}
	same := true
	n := 0
	for k, r := range b.attrs {
		if k == "type" || r.unset {
			continue
		}
		n++
		if v, ok := want[k]; !ok || v != r.val {
			same = false
			break
		}
	}
	if same && n == len(want) {
		return
	}
	old := map[string]string{}
	for k, r := range b.attrs {
		if k != "type" && !r.unset {
			old[k] = r.val
		}
	}
	tx.setAttrs(id, old, want)
}
