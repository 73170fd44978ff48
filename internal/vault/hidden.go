package vault

import (
	"bytes"
	"maps"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/store"
)

// Archiving an object and putting it in the bin hide it (from lists and
// search) without deleting anything. Neither may hide an edit made at the
// same time on another device: the details "archived" and "deleted" hold
// only while no change of the object is concurrent with the change that
// set them (neither before it nor after it in the history). An edit made
// while the object was archived elsewhere brings it back; an edit made
// after, knowing it was archived, leaves it archived. Whether they hold is
// a function of the object's set of changes, like everything else.

// hideKeys are the details that hide an object.
var hideKeys = []string{"archived", "deleted"}

// hidden is whether an object is archived or in the bin, as it holds.
type hidden struct{ archived, deleted bool }

// details returns d with the hiding details that do not hold removed.
func (h hidden) details(d map[string]string) map[string]string {
	out := maps.Clone(d)
	if !h.archived {
		delete(out, "archived")
	}
	if !h.deleted {
		delete(out, "deleted")
	}
	return out
}

// hideStamps are the stamps of the hiding details doc sets ("true"), by
// key: what hiddenBy needs of an object's state.
func hideStamps(doc *crdt.Doc) map[string]crdt.ID {
	var out map[string]crdt.ID
	d := doc.Details()
	for _, key := range hideKeys {
		if d[key] != "true" {
			continue
		}
		if out == nil {
			out = map[string]crdt.ID{}
		}
		out[key], _ = doc.DetailStamp(key)
	}
	return out
}

// hiddenIn works out whether the loaded object is archived or in the bin.
func (e *Engine) hiddenIn(tx store.Tx, l *loaded) (hidden, error) {
	return e.hiddenBy(tx, l.id, l.key, hideStamps(l.doc))
}

// hiddenBy is hiddenIn from the object's hiding stamps (hideStamps), so
// that it can run without the object's state at hand.
func (e *Engine) hiddenBy(tx store.Tx, id change.ID, key [32]byte, stamps map[string]crdt.ID) (hidden, error) {
	var h hidden
	var metas []store.ChangeMeta
	for _, k := range hideKeys {
		stamp, ok := stamps[k]
		if !ok {
			continue
		}
		if metas == nil {
			var err error
			if metas, err = tx.Changes(id, 0); err != nil {
				return h, err
			}
		}
		// Another device hiding it too (archive or bin), at the same time,
		// is no edit that hiding would hide.
		same := func(m *store.ChangeMeta) bool { return e.onlyHides(tx, key, m.ID) }
		holds := !concurrentWith(metas, []byte(stamp.Actor), stamp.Counter, same, func(m *store.ChangeMeta) uint64 {
			s, _ := e.startsOf(tx, key, []change.ID{m.ID}) // 0 for a change that does not open
			return s
		})
		if k == "archived" {
			h.archived = holds
		} else {
			h.deleted = holds
		}
	}
	return h, nil
}

// onlyHides reports whether change id does nothing but archive the object
// or put it in the bin.
func (e *Engine) onlyHides(tx store.Tx, key [32]byte, id change.ID) bool {
	raw, err := tx.RawChange(id)
	if err != nil {
		return false
	}
	_, p, err := openStored(key, id, raw)
	if err != nil || len(p.Ops) == 0 {
		return false
	}
	for _, op := range p.Ops {
		if op.Kind != crdt.OpSetDetail || (op.Key != "archived" && op.Key != "deleted") || op.Unset || op.Value != "true" {
			return false
		}
	}
	return true
}

// concurrentWith reports whether some edit of the object is concurrent
// with the change by author that holds counter ctr (same says an edit
// that does not count: one that does the same).
func concurrentWith(metas []store.ChangeMeta, author []byte, ctr uint64, same func(*store.ChangeMeta) bool, start func(*store.ChangeMeta) uint64) bool {
	edit := func(m *store.ChangeMeta) bool { return m.ID != m.Object && !m.Snapshot && !m.Inert }
	// The change holding the op: by author, starting at or before ctr,
	// the latest such (an author's counters never repeat).
	w := -1
	var wStart uint64
	for i := range metas {
		m := &metas[i]
		if !edit(m) || !bytes.Equal(m.Author, author) {
			continue
		}
		if s := start(m); s <= ctr && (w < 0 || s > wStart) {
			w, wStart = i, s
		}
	}
	if w < 0 {
		return false
	}
	index := make(map[[32]byte]int, len(metas))
	for i, m := range metas {
		index[m.ID] = i
	}
	related := make([]bool, len(metas)) // w itself, its ancestors and descendants
	related[w] = true
	stack := []int{w}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range metas[i].Parents {
			if j, ok := index[p]; ok && !related[j] {
				related[j] = true
				stack = append(stack, j)
			}
		}
	}
	// Descendants: metas are in arrival order, a causal order, so one pass
	// finds every change with w in its past.
	after := make([]bool, len(metas))
	after[w] = true
	for i, m := range metas {
		for _, p := range m.Parents {
			if j, ok := index[p]; ok && after[j] {
				after[i] = true
			}
		}
	}
	for i := range metas {
		if edit(&metas[i]) && !related[i] && !after[i] && !same(&metas[i]) {
			return true
		}
	}
	return false
}
