package vault

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"slices"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/store"
)

// Problem is something Check found wrong in the store.
type Problem struct {
	Object change.ID
	// Kind: "store" (the file itself), "device key" (another copy of this
	// data folder writes with its key), "change" (bytes, signature or
	// author), "damaged" (a change found damaged, waiting for sync to
	// bring it back), "history" (a change names a parent that is not
	// stored, or does not apply), "fork" (changes by one key that overlap),
	// "heads", "snapshot", "index" or "search".
	Kind   string
	Detail string
	// Repairable: Check with repair fixes it here. Damaged and missing
	// changes are not rebuilt here (their bytes are another device's or a
	// node's to give back), but repair moves a damaged one aside, and sync
	// then brings it back.
	Repairable bool
}

func (p Problem) String() string {
	if p.Object == (change.ID{}) {
		return fmt.Sprintf("%s: %s", p.Kind, p.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", p.Object.Short(), p.Kind, p.Detail)
}

// CheckReport is what Check found.
type CheckReport struct {
	Objects, Changes int
	Problems         []Problem
	// Repaired counts objects whose index, search text, heads, snapshot
	// or inert changes were rebuilt, or whose damaged changes were moved
	// aside for sync to bring back; Rekeyed, that the store got a device
	// key of its own; Rewritten, the inert changes it wrote again.
	Repaired  int
	Rekeyed   bool
	Rewritten int
	// Chunks are the file chunks here, Files the files of the pages;
	// FilesIncomplete lists those not all here yet (not a problem: sync
	// fetches them); ChunksRemoved, the damaged chunks repair removed.
	Chunks, Files   int
	FilesIncomplete []string
	ChunksRemoved   int
}

// Check verifies the whole store, reporting every problem rather than
// stopping at the first: the store file's structure; each change hashes to
// its id, carries a valid signature by a device of the vault, and has its
// parents stored (no hole in any history); changes of one device key do
// not overlap unnoticed; each object's heads are those of its changes;
// every snapshot equals the replay of the changes it covers; and the index
// row and search text equal what the changes say. With repair, what can
// be rebuilt from the changes is; a damaged change is moved aside so that
// sync brings it back; a store whose key another copy uses gets a key of
// its own; and the inert changes it wrote are written again.
func (e *Engine) Check(ctx context.Context, repair bool) (CheckReport, error) {
	var r CheckReport
	var fix []*checked
	if err := e.db.IntegrityCheck(ctx); err != nil {
		r.Problems = append(r.Problems, Problem{Kind: "store", Detail: fmt.Sprintf("%v: restore a backup, or recover the vault on this device again from the phrase", err)})
	}
	cloned := false
	err := e.db.View(ctx, func(tx store.Tx) error {
		if err := e.checkWriter(tx); err != nil {
			cloned = true
			r.Problems = append(r.Problems, Problem{Kind: "device key", Detail: err.Error(), Repairable: true})
		}
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
				if ds, err := tx.Damaged(o.ID); err != nil || len(ds) > 0 {
					continue // its only change is being fetched again
				}
				r.Problems = append(r.Problems, Problem{o.ID, "index", "an index row for an object with no changes", false})
			}
		}
		damagedObjs, err := tx.DamagedObjects()
		if err != nil {
			return err
		}
		for _, id := range damagedObjs {
			ds, err := tx.Damaged(id)
			if err != nil {
				return err
			}
			for _, d := range ds {
				r.Problems = append(r.Problems, Problem{id, "damaged", fmt.Sprintf("change %s was found damaged (%s) and waits for sync with another device or the backup node to bring it back", d.ID.Short(), d.Reason), false})
			}
		}
		r.Objects = len(ids)
		for _, id := range ids {
			c, err := e.checkObject(tx, members.MayAuthor, id)
			if err != nil {
				return err
			}
			r.Changes += c.changes
			r.Problems = append(r.Problems, c.problems...)
			if slices.ContainsFunc(c.problems, func(p Problem) bool { return p.Repairable }) {
				fix = append(fix, c)
			}
		}
		return nil
	})
	if err == nil {
		err = e.checkChunks(ctx, &r, repair)
	}
	if err != nil || !repair {
		return r, err
	}
	if cloned {
		if err := e.Rekey(ctx); err != nil {
			return r, fmt.Errorf("give this store a device key of its own: %w", err)
		}
		r.Rekeyed = true
	}
	for _, c := range fix {
		if err := e.repair(ctx, c); err != nil {
			return r, err
		}
		r.Repaired++
	}
	for _, c := range fix {
		n, err := e.reauthor(ctx, c.id)
		if err != nil {
			return r, err
		}
		r.Rewritten += n
	}
	return r, nil
}

// checked is what checkObject found of one object, and what repairing it
// takes.
type checked struct {
	id       change.ID
	problems []Problem
	changes  int
	damaged  []change.ID          // changes whose bytes do not hash to their id
	l        *loaded              // the object replayed from its changes (nil: cannot be)
	inert    map[change.ID]bool   // what the inert flags must be, when they are wrong
	badSnap  bool                 // the local snapshot is not what its changes make
	unwrit   []store.ChangeMeta   // inert changes this store wrote and has not written again
	metas    []store.ChangeMeta   // as stored
	rawOf    map[change.ID][]byte // their bytes
	parents  map[change.ID][]change.ID
}

// checkObject checks one object's changes, heads, snapshots, index row
// and search text.
func (e *Engine) checkObject(tx store.Tx, mayAuthor func(ed25519.PublicKey) bool, id change.ID) (*checked, error) {
	c := &checked{id: id, rawOf: map[change.ID][]byte{}, parents: map[change.ID][]change.ID{}}
	problem := func(kind string, repairable bool, format string, args ...any) {
		c.problems = append(c.problems, Problem{id, kind, fmt.Sprintf(format, args...), repairable})
	}
	metas, raws, err := tx.ChangesAfter(id, 0)
	if err != nil {
		return nil, err
	}
	c.metas, c.changes = metas, len(metas)
	stored := map[change.ID]bool{}
	ids := make([]change.ID, len(metas))
	for i, m := range metas {
		stored[m.ID] = true
		c.rawOf[m.ID] = raws[i]
		ids[i] = m.ID
	}
	named := map[change.ID]bool{}
	var changes []*change.Change
	broken := false
	// All at once: an object's changes are mostly by a few devices, whose
	// keys' tables then pay (change.VerifyBatch).
	verified, errs := change.VerifyBatch(ids, raws)
	for i, m := range metas {
		ch, err := verified[i].Change(), errs[i]
		if err != nil {
			problem("change", true, "%v (repair moves it aside, and sync brings it back)", err)
			c.damaged = append(c.damaged, m.ID)
			broken = true
			continue
		}
		if !mayAuthor(ch.Author) {
			problem("change", false, "change %s: its author is not a device of this vault", ch.ID.Short())
			broken = true
		}
		for _, p := range ch.Parents {
			named[p] = true
			if !stored[p] {
				if lost, _ := tx.IsDamaged(p); lost {
					continue // reported as damaged
				}
				problem("history", false, "change %s names parent %s, which is not stored (a hole in the history)", ch.ID.Short(), p.Short())
				broken = true
			}
		}
		c.parents[ch.ID] = ch.Parents
		changes = append(changes, ch)
	}
	if broken {
		return c, nil
	}
	var heads []change.ID
	for _, ch := range changes {
		if !named[ch.ID] {
			heads = append(heads, ch.ID)
		}
	}
	slices.SortFunc(heads, compareIDs)
	have, err := tx.Heads(id)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(have, compareIDs)
	if !slices.Equal(heads, have) {
		problem("heads", true, "the stored heads are %s, the changes' are %s", shortIDs(have), shortIDs(heads))
	}
	// Which changes are inert is a function of the set: replay in the
	// order every device computes, and compare.
	doc, inert, err := e.replayCanonical(id, metas, c.rawOf)
	if err != nil {
		problem("history", false, "%v", err)
		return c, nil
	}
	for _, m := range metas {
		if m.Inert != inert[m.ID] {
			problem("fork", true, "change %s is marked %s, but the changes say it is %s", m.ID.Short(), inertWord(m.Inert), inertWord(inert[m.ID]))
			c.inert = inert
		}
	}
	done, err := settingIDs(tx, reauthoredSetting)
	if err != nil {
		return nil, err
	}
	for _, m := range metas {
		if inert[m.ID] && m.Local && !slices.Contains(done, m.ID) {
			c.unwrit = append(c.unwrit, m)
		}
	}
	if len(c.unwrit) > 0 {
		problem("fork", true, "%d changes this store wrote overlap with changes another copy of its device key wrote, and are not part of the page (repair writes their content again)", len(c.unwrit))
	}
	row, err := tx.Object(id)
	noRow := errors.Is(err, store.ErrNotFound)
	if err != nil && !noRow {
		return nil, err
	}
	l := &loaded{id: id, key: e.objectKey(id), row: row, doc: doc, heads: heads}
	l.row.ID = id
	for _, ch := range changes {
		if ch.IsRoot() {
			l.row.Created = shownTime(ch, e.Now())
		}
		if ch.Snapshot {
			if err := e.checkSnapshot(ch, changes, c.parents, inert); err != nil {
				problem("snapshot", false, "snapshot change %s: %v", ch.ID.Short(), err)
			}
		}
		if t := shownTime(ch, e.Now()); t.After(l.row.Updated) {
			l.row.Updated = t
		}
		l.seq = max(l.seq, metaSeq(metas, ch.ID))
	}
	if snap, err := tx.Snapshot(id); err == nil {
		if err := e.checkLocalSnapshot(id, snap, metas, c.rawOf, inert); err != nil {
			problem("snapshot", true, "the local snapshot: %v", err)
			c.badSnap = true
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	// The index row and search text the changes call for.
	d := l.doc.Details()
	h, err := e.hiddenIn(tx, l)
	if err != nil {
		return nil, err
	}
	wantType := d["type"]
	if wantType == "" {
		wantType = "page"
	}
	switch {
	case noRow:
		problem("index", true, "no index row")
	case row.Title != d["title"] || row.Type != wantType || row.Archived != h.archived || row.Deleted != h.deleted:
		problem("index", true, "the index row says %q (%s), the changes %q (%s)", row.Title, row.Type, d["title"], wantType)
	case row.Snippet != l.doc.Preview(snippetLen):
		problem("index", true, "the index row's snippet is out of date")
	case row.Changes != len(metas):
		problem("index", true, "the index row counts %d changes, the store holds %d", row.Changes, len(metas))
	}
	if title, body, ok, err := tx.IndexedText(id); err != nil {
		return nil, err
	} else if ok && (title != d["title"] || body != PlainText(l.doc.Blocks())) {
		problem("search", true, "the search index holds other text than the changes")
	}
	l.row.Changes = len(metas)
	c.l = l
	return c, nil
}

func metaSeq(metas []store.ChangeMeta, id change.ID) int64 {
	for _, m := range metas {
		if m.ID == id {
			return m.Seq
		}
	}
	return 0
}

func inertWord(inert bool) string {
	if inert {
		return "inert"
	}
	return "part of the page"
}

// repair fixes what checkObject found that can be fixed here.
func (e *Engine) repair(ctx context.Context, c *checked) error {
	e.forget(c.id)
	e.mu.Lock()
	delete(e.textIndexed, c.id) // index its text now
	e.mu.Unlock()
	if len(c.damaged) > 0 {
		for _, bad := range c.damaged {
			if err := e.db.Update(ctx, func(tx store.Tx) error { return e.quarantineIn(tx, c.id, bad, "its bytes do not hash to its id") }); err != nil {
				return err
			}
		}
		return nil // the rest is checked again once it is back
	}
	return e.db.Update(ctx, func(tx store.Tx) error {
		for id, inert := range c.inert {
			if err := tx.SetInert(id, inert); err != nil {
				return err
			}
		}
		if c.inert != nil {
			if err := addSettingID(tx, inertSetting, c.id); err != nil {
				return err
			}
		}
		if c.badSnap || c.inert != nil {
			if err := tx.DeleteSnapshot(c.id); err != nil {
				return err
			}
		}
		if c.l == nil {
			return nil
		}
		if err := e.save(tx, c.l); err != nil {
			return err
		}
		blocks := c.l.doc.Blocks()
		c.l.row.TextStale, c.l.row.Body, c.l.row.Links = false, PlainText(blocks), LinksOf(blocks)
		return tx.PutObject(c.l.row)
	})
}

// checkSnapshot compares a snapshot change's state (written by older
// versions) with the replay of the changes in its causal past.
func (e *Engine) checkSnapshot(snap *change.Change, all []*change.Change, parents map[change.ID][]change.ID, inert map[change.ID]bool) error {
	past := ancestry(parents, snap.Parents)
	key := e.objectKey(snap.Object)
	replay := crdt.NewDoc()
	for _, c := range all {
		if past[c.ID] && !c.IsRoot() && !c.Snapshot && !inert[c.ID] {
			if err := e.applyStored(replay, key, c.ID, c.Raw); err != nil {
				return err
			}
		}
	}
	p, err := snap.Open(key)
	if err != nil {
		return err
	}
	state, err := crdt.UnmarshalState(p.State)
	if err != nil {
		return err
	}
	return sameState(state, replay, len(past))
}

// checkLocalSnapshot compares a local snapshot with the replay of the
// changes it covers.
func (e *Engine) checkLocalSnapshot(id change.ID, snap store.Snapshot, metas []store.ChangeMeta, rawOf map[change.ID][]byte, inert map[change.ID]bool) error {
	key := e.objectKey(id)
	state, err := openSnapshot(key, id, snap.Sealed)
	if err != nil {
		return err
	}
	replay := crdt.NewDoc()
	n := 0
	for _, m := range metas {
		if m.Seq > snap.Seq || m.ID == m.Object || m.Snapshot || inert[m.ID] {
			continue
		}
		n++
		if err := e.applyStored(replay, key, m.ID, rawOf[m.ID]); err != nil {
			return err
		}
	}
	return sameState(state, replay, n)
}

func sameState(state, replay *crdt.Doc, n int) error {
	if !maps.Equal(state.Details(), replay.Details()) || markdown.Render(state.Blocks()) != markdown.Render(replay.Blocks()) {
		return fmt.Errorf("its state differs from the replay of the %d changes it covers", n)
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
