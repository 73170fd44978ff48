package crdt

import (
	"mycel/internal/diff"
)

// flatBlock is a block in depth-first order with its parent's index (-1 =
// top level) and its children's indices.
type flatBlock struct {
	b        *Block
	parent   int
	children []int
}

func flatten(bs []*Block) []flatBlock {
	var out []flatBlock
	var walk func([]*Block, int) []int
	walk = func(bs []*Block, parent int) []int {
		var idx []int
		for _, b := range bs {
			i := len(out)
			idx = append(idx, i)
			out = append(out, flatBlock{b: b, parent: parent})
			out[i].children = walk(b.Children, i)
		}
		return idx
	}
	walk(bs, -1)
	return out
}

func blockKey(b *Block) string { return b.Type + "\x00" + b.Text }

// Replace edits the document so its block tree equals target (whose IDs are
// ignored), with few operations: blocks are matched to existing ones by a
// diff over (type, text), then blocks with the same content elsewhere count
// as moved, then unmatched neighbours pair up as edits of one another; text
// changes become character inserts and deletes, and only blocks out of
// order are moved. A moved or edited block keeps its identity, so
// concurrent edits to it survive; a deleted block records what it saw, so
// a concurrent edit keeps it. It costs O(n log n) in the blocks plus the
// text diffs of the blocks that changed (one edited block of a 10,000-block
// page is a few milliseconds). Write, edit and restore use it.
func (tx *Tx) Replace(target []*Block) {
	d := tx.d
	cur := flatten(d.Blocks())
	tgt := flatten(target)
	curKeys := make([]string, len(cur))
	for i, f := range cur {
		curKeys[i] = blockKey(f.b)
	}
	tgtKeys := make([]string, len(tgt))
	for i, f := range tgt {
		tgtKeys[i] = blockKey(f.b)
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
	script := diff.Lines(curKeys, tgtKeys)
	for _, e := range script {
		if e.Kind == diff.Equal {
			for j := 0; j < e.N; j++ {
				match[e.B+j] = e.A + j
				used[e.A+j] = true
			}
		}
	}
	spare := map[string][]int{}
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

	// The children of every parent as they are now, read once: placing a
	// parent's children must not ask the document (which would rebuild
	// the tree after every op).
	kids := map[ID][]ID{}
	for _, f := range cur {
		p := ID{}
		if f.parent >= 0 {
			p = cur[f.parent].b.ID
		}
		kids[p] = append(kids[p], f.b.ID)
	}
	moved := map[ID]bool{} // blocks this Replace moved away from their parent

	// ref is the position element a block must follow to land right after
	// sibling prev under parent, or first under it when prev is zero.
	ref := func(parent, prev ID) iid {
		if !prev.IsZero() {
			return d.blocks[d.actors.mustInternal(prev)].posID
		}
		for _, k := range kids[parent] {
			if !moved[k] {
				// Just before the first child still there.
				return d.seq.before(d.blocks[d.actors.mustInternal(k)].posID)
			}
		}
		if parent.IsZero() {
			return iid{}
		}
		return d.blocks[d.actors.mustInternal(parent)].posID
	}

	var place func(parent ID, children []int)
	place = func(parent ID, children []int) {
		// Which of the wanted children already sit under parent, in an
		// order we can keep? The longest common subsequence stays put.
		want := make([]ID, 0, len(children))
		for _, c := range children {
			if m := match[c]; m >= 0 {
				want = append(want, cur[m].b.ID)
			}
		}
		wantSet := make(map[ID]bool, len(want))
		for _, id := range want {
			wantSet[id] = true
		}
		var have []ID
		for _, id := range kids[parent] {
			if wantSet[id] && !moved[id] {
				have = append(have, id)
			}
		}
		stay := map[ID]bool{}
		for _, e := range diff.Lines(have, want) {
			if e.Kind == diff.Equal {
				for j := 0; j < e.N; j++ {
					stay[have[e.A+j]] = true
				}
			}
		}
		prev := ID{}
		ids := make([]ID, len(children))
		for i, c := range children {
			t := tgt[c].b
			var id ID
			if m := match[c]; m < 0 {
				id = tx.insertAt(parent, ref(parent, prev), t.Type)
				tx.setAttrs(id, nil, t.Attrs)
				tx.InsertText(id, 0, t.Text)
			} else {
				old := cur[m].b
				id = old.ID
				if !stay[id] {
					tx.moveAt(id, parent, ref(parent, prev))
					moved[id] = true
				}
				if old.Type != t.Type {
					tx.SetAttr(id, "type", t.Type)
				}
				tx.setAttrs(id, old.Attrs, t.Attrs)
				tx.editText(id, old.Text, t.Text)
			}
			ids[i] = id
			prev = id
		}
		for i, c := range children {
			place(ids[i], tgt[c].children)
		}
	}
	var top []int
	for i, f := range tgt {
		if f.parent < 0 {
			top = append(top, i)
		}
	}
	place(ID{}, top)
	// Delete what is left, from the top: a block under a deleted one goes
	// with it (and comes back with it, if a concurrent edit keeps it). Each
	// delete sees the edits of everything under it now (blocks moved out
	// are not; hidden ones are), worked out before the first delete so that
	// the tree is laid out once.
	var gone []ID
	for i, f := range cur {
		if !used[i] && (f.parent < 0 || used[f.parent]) {
			gone = append(gone, f.b.ID)
		}
	}
	if len(gone) == 0 {
		return
	}
	l := d.layout()
	seen := make([]stamps, len(gone))
	for i, id := range gone {
		var walk func(iid)
		walk = func(x iid) {
			seen[i].merge(d.blocks[x].edits)
			for _, c := range l.children[x] {
				walk(c)
			}
		}
		walk(d.actors.mustInternal(id))
	}
	for i, id := range gone {
		tx.deleteSeen(id, seen[i])
	}
}

func (tx *Tx) setAttrs(id ID, old, want map[string]string) {
	for _, k := range sortedKeys(want) {
		if v, ok := old[k]; !ok || v != want[k] {
			tx.SetAttr(id, k, want[k])
		}
	}
	for _, k := range sortedKeys(old) {
		if _, ok := want[k]; !ok {
			tx.UnsetAttr(id, k)
		}
	}
}

// editText turns old into new with character inserts and deletes.
func (tx *Tx) editText(id ID, old, new string) {
	if old == new {
		return
	}
	a, b := []rune(old), []rune(new)
	pos := 0
	for _, e := range diff.Diff(a, b) {
		switch e.Kind {
		case diff.Equal:
			pos += e.N
		case diff.Delete:
			tx.DeleteText(id, pos, e.N)
		case diff.Insert:
			tx.InsertText(id, pos, string(b[e.B:e.B+e.N]))
			pos += e.N
		}
	}
}

// ReplaceDetails sets every detail in want and unsets every other one,
// except the keys in keep, which stay as they are. (To change only some
// details, see SetDetails.)
func (tx *Tx) ReplaceDetails(want map[string]string, keep ...string) {
	skip := map[string]bool{}
	for _, k := range keep {
		skip[k] = true
	}
	have := tx.d.Details()
	for _, k := range sortedKeys(want) {
		if v, ok := have[k]; !skip[k] && (!ok || v != want[k]) {
			tx.SetDetail(k, want[k])
		}
	}
	for _, k := range sortedKeys(have) {
		if _, ok := want[k]; !ok && !skip[k] {
			tx.UnsetDetail(k)
		}
	}
}

// AppendBlocks adds blocks (with their children) after the last top-level block.
func (tx *Tx) AppendBlocks(blocks []*Block) {
	after := ID{}
	if top := tx.d.childIDs(ID{}); len(top) > 0 {
		after = top[len(top)-1]
	}
	var add func(parent, after ID, bs []*Block)
	add = func(parent, after ID, bs []*Block) {
		for _, b := range bs {
			id := tx.insertFilled(parent, after, b)
			add(id, ID{}, b.Children)
			after = id
		}
	}
	add(ID{}, after, blocks)
}

// insertFilled inserts a block with b's type, attributes and text (not its
// children).
func (tx *Tx) insertFilled(parent, after ID, b *Block) ID {
	id := tx.InsertBlock(parent, after, b.Type)
	tx.setAttrs(id, nil, b.Attrs)
	tx.InsertText(id, 0, b.Text)
	return id
}

// Details returns the details as the transaction has left them so far.
func (tx *Tx) Details() map[string]string { return tx.d.Details() }

// SetDetails sets the details in want; an empty value unsets the detail.
// Details not in want stay as they are.
func (tx *Tx) SetDetails(want map[string]string) {
	have := tx.d.Details()
	for _, k := range sortedKeys(want) {
		v, ok := have[k]
		switch {
		case want[k] == "" && ok:
			tx.UnsetDetail(k)
		case want[k] != "" && (!ok || v != want[k]):
			tx.SetDetail(k, want[k])
		}
	}
}
