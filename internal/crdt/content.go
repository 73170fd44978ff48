package crdt

import "mycel/internal/diff"

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
