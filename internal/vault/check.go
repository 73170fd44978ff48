package vault

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/store"
)

// Problem is something Check found wrong in the store.
type Problem struct {
	Object change.ID
	// Kind: "change" (bytes, signature or author), "history" (a change
	// names a parent that is not stored, or does not apply), "heads",
	// "snapshot", "index" or "search".
	Kind   string
	Detail string
	// Repairable: rebuilt from the changes by Check with repair (index,
	// search and heads; not lost or damaged changes).
	Repairable bool
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: %s: %s", p.Object.Short(), p.Kind, p.Detail)
}

// CheckReport is what Check found.
type CheckReport struct {
	Objects, Changes int
	Problems         []Problem
	Repaired         int // objects whose index, search text or heads were rebuilt
}

// Check verifies the whole store, reporting every problem rather than
// stopping at the first: each change hashes to its id, carries a valid
// signature by a device of the vault, and has its parents stored (no hole
// in any history); each object's heads are those of its changes; every
// snapshot equals the replay of the changes it covers; and the index row
// and search text equal what the changes say. With repair, index rows,
// search text and heads found wrong are rebuilt from the changes (damaged
// or missing changes cannot be: their bytes are another device's or a
// node's to give back).
func (e *Engine) Check(ctx context.Context, repair bool) (CheckReport, error) {
	var r CheckReport
	var fix []*loaded
	err := e.db.View(ctx, func(tx store.Tx) error {
		members, err := e.members(tx)
		if err != nil {
			return err
		}
		ids, err := tx.ChangeObjects()
		if err != nil {
			return err
		}
		rows, err := tx.Objects()
		if err != nil {
			return err
		}
		for _, o := range rows {
			if !slices.Contains(ids, o.ID) {
				r.Problems = append(r.Problems, Problem{o.ID, "index", "an index row for an object with no changes", false})
			}
		}
		r.Objects = len(ids)
		for _, id := range ids {
			ps, l, n, err := e.checkObject(tx, members.MayAuthor, id)
			if err != nil {
				return err
			}
			r.Changes += n
			r.Problems = append(r.Problems, ps...)
			if l != nil && slices.ContainsFunc(ps, func(p Problem) bool { return p.Repairable }) {
				fix = append(fix, l)
			}
		}
		return nil
	})
	if err != nil || !repair || len(fix) == 0 {
		return r, err
	}
	err = e.db.Update(ctx, func(tx store.Tx) error {
		for _, l := range fix {
			e.mu.Lock()
			delete(e.textIndexed, l.id) // index its text now
			delete(e.cache, l.id)
			e.mu.Unlock()
			if err := e.save(tx, l); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		r.Repaired = len(fix)
	}
	return r, err
}

// checkObject checks one object's changes, heads, snapshots, index row and
// search text. It returns the problems, the object replayed from its
// changes (nil when they are damaged: nothing to rebuild from), and the
// number of changes checked.
func (e *Engine) checkObject(tx store.Tx, mayAuthor func(ed25519.PublicKey, time.Time) bool, id change.ID) ([]Problem, *loaded, int, error) {
	var ps []Problem
	problem := func(kind string, repairable bool, format string, args ...any) {
		ps = append(ps, Problem{id, kind, fmt.Sprintf(format, args...), repairable})
	}
	metas, raws, err := tx.ChangesAfter(id, 0)
	if err != nil {
		return nil, nil, 0, err
	}
	stored := map[change.ID]bool{}
	for _, m := range metas {
		stored[m.ID] = true
	}
	parents := map[change.ID][]change.ID{}
	named := map[change.ID]bool{}
	var changes []*change.Change
	damaged := false
	for i, m := range metas {
		c, err := change.ParseWithID(m.ID, raws[i])
		if err != nil {
			problem("change", false, "%v", err)
			damaged = true
			continue
		}
		if !mayAuthor(c.Author, c.Time) {
			problem("change", false, "change %s: its author is not a device of this vault", c.ID.Short())
			damaged = true
		}
		for _, p := range c.Parents {
			named[p] = true
			if !stored[p] {
				problem("history", false, "change %s names parent %s, which is not stored (a hole in the history)", c.ID.Short(), p.Short())
				damaged = true
			}
		}
		parents[c.ID] = c.Parents
		changes = append(changes, c)
	}
	if damaged {
		return ps, nil, len(metas), nil
	}
	var heads []change.ID
	for _, c := range changes {
		if !named[c.ID] {
			heads = append(heads, c.ID)
		}
	}
	slices.SortFunc(heads, compareIDs)
	have, err := tx.Heads(id)
	if err != nil {
		return nil, nil, 0, err
	}
	slices.SortFunc(have, compareIDs)
	if !slices.Equal(heads, have) {
		problem("heads", true, "the stored heads are %s, the changes' are %s", shortIDs(have), shortIDs(heads))
	}

	// Replay every change from nothing; check each snapshot against the
	// replay of what it covers (its causal past).
	row, err := tx.Object(id)
	noRow := errors.Is(err, store.ErrNotFound)
	if err != nil && !noRow {
		return nil, nil, 0, err
	}
	l := &loaded{id: id, key: e.objectKey(id), row: row, doc: crdt.NewDoc(), heads: heads}
	l.row.ID = id
	for _, c := range changes {
		if c.IsRoot() {
			l.row.Created = c.Time
			continue
		}
		if c.Snapshot {
			if err := e.checkSnapshot(c, changes, parents); err != nil {
				problem("snapshot", false, "snapshot %s: %v", c.ID.Short(), err)
			}
			continue
		}
		if err := e.applyStored(l.doc, l.key, c.ID, c.Raw); err != nil {
			problem("history", false, "%v", err)
			return ps, nil, len(metas), nil
		}
	}
	// The index row and search text the changes call for.
	d := l.doc.Details()
	wantType := d["type"]
	if wantType == "" {
		wantType = "page"
	}
	switch {
	case noRow:
		problem("index", true, "no index row")
	case row.Title != d["title"] || row.Type != wantType || row.Archived != (d["archived"] == "true"):
		problem("index", true, "the index row says %q (%s), the changes %q (%s)", row.Title, row.Type, d["title"], wantType)
	case row.Snippet != l.doc.Preview(snippetLen):
		problem("index", true, "the index row's snippet is out of date")
	case row.Changes != len(metas):
		problem("index", true, "the index row counts %d changes, the store holds %d", row.Changes, len(metas))
	}
	if title, body, ok, err := tx.IndexedText(id); err != nil {
		return nil, nil, 0, err
	} else if ok && (title != d["title"] || body != PlainText(l.doc.Blocks())) {
		problem("search", true, "the search index holds other text than the changes")
	}
	l.row.Changes = len(metas)
	for _, c := range changes {
		if c.Time.After(l.row.Updated) {
			l.row.Updated = c.Time
		}
	}
	return ps, l, len(metas), nil
}

// checkSnapshot compares a snapshot's state with the replay of the changes
// in its causal past.
func (e *Engine) checkSnapshot(snap *change.Change, all []*change.Change, parents map[change.ID][]change.ID) error {
	past := map[change.ID]bool{}
	stack := slices.Clone(snap.Parents)
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if past[id] {
			continue
		}
		past[id] = true
		stack = append(stack, parents[id]...)
	}
	key := e.objectKey(snap.Object)
	replay := crdt.NewDoc()
	for _, c := range all {
		if past[c.ID] && !c.IsRoot() && !c.Snapshot {
			if err := e.applyStored(replay, key, c.ID, c.Raw); err != nil {
				return err
			}
		}
	}
	p, err := snap.Open(key)
	if err != nil {
		return err
	}
	state, err := decodeState(p.State)
	if err != nil {
		return err
	}
	if !maps.Equal(state.Details(), replay.Details()) || markdown.Render(state.Blocks()) != markdown.Render(replay.Blocks()) {
		return fmt.Errorf("its state differs from the replay of the %d changes it covers", len(past))
	}
	return nil
}

func compareIDs(a, b change.ID) int { return slices.Compare(a[:], b[:]) }

func shortIDs(ids []change.ID) string {
	if len(ids) == 0 {
		return "none"
	}
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += id.Short()
	}
	return s
}
