package vault

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/member"
	"mycel/internal/object"
	"mycel/internal/store"
)

// One device key, one writer. Two stores with the same device key (a
// copied data folder) would each number their changes from the same
// counters, and two changes by one key with the same counters cannot both
// be part of an object's state. mycel keeps that from happening and heals
// it when it did:
//
//   - a restored backup is always a new device (a new key);
//   - a store that receives a change by its own key that it did not write
//     knows another copy writes with its key: it refuses to write until
//     `mycel check --repair` gives it a key of its own;
//   - when two changes by one key do overlap, every device keeps the same
//     one, the lesser by (Lamport counter, id), whatever order they came
//     in; the other is inert: stored and synced (so heads agree
//     everywhere), but not part of the state; and so is a change that
//     refers to what an inert change made (it cannot apply without it);
//   - `mycel check --repair` on the store that wrote an inert change
//     writes its content again as a new change, built on what it was built
//     on, so nothing typed is lost.

const (
	cloneSetting      = "key_in_use_elsewhere" // JSON cloneNote
	inertSetting      = "inert_objects"        // JSON list of object ids with inert changes
	reauthoredSetting = "reauthored"           // JSON list of inert changes written again
)

type cloneNote struct {
	Change string    `json:"change"`
	Object string    `json:"object"`
	Seen   time.Time `json:"seen"`
}

// ErrKeyInUse is wrapped by the refusal to write of a store whose device
// key another copy of the data folder uses too.
var ErrKeyInUse = errors.New("this device's key is used by another copy of its data folder")

func (e *Engine) noteClone(tx store.Tx, c *change.Change) error {
	if have, err := tx.Setting(cloneSetting); err != nil || len(have) > 0 {
		return err
	}
	b, _ := json.Marshal(cloneNote{Change: c.ID.String(), Object: c.Object.String(), Seen: time.Now().UTC()})
	return tx.SetSetting(cloneSetting, b)
}

// checkWriter refuses to write when another store writes with this key.
func (e *Engine) checkWriter(tx store.Tx) error {
	b, err := tx.Setting(cloneSetting)
	if err != nil || len(b) == 0 {
		return err
	}
	var n cloneNote
	json.Unmarshal(b, &n)
	return fmt.Errorf("%w: it sent change %.12s, which this copy did not write. Two copies writing with one key would fork pages, so this copy writes nothing until `mycel check --repair` gives it a device key of its own (nothing is lost)", ErrKeyInUse, n.Change)
}

// mayWrite is checkWriter in a transaction of its own.
func (e *Engine) mayWrite(ctx context.Context) error {
	return e.db.View(ctx, e.checkWriter)
}

func (e *Engine) inertObjects(tx store.Tx) (map[change.ID]bool, error) {
	out := map[change.ID]bool{}
	ids, err := settingIDs(tx, inertSetting)
	for _, id := range ids {
		out[id] = true
	}
	return out, err
}

func settingIDs(tx store.Tx, key string) ([]change.ID, error) {
	b, err := tx.Setting(key)
	if err != nil || b == nil {
		return nil, err
	}
	var hex []string
	if err := json.Unmarshal(b, &hex); err != nil {
		return nil, fmt.Errorf("setting %s is damaged: %w", key, err)
	}
	var out []change.ID
	for _, h := range hex {
		if id, err := change.ParseID(h); err == nil {
			out = append(out, id)
		}
	}
	return out, nil
}

func addSettingID(tx store.Tx, key string, id change.ID) error {
	ids, err := settingIDs(tx, key)
	if err != nil || slices.Contains(ids, id) {
		return err
	}
	hex := []string{}
	for _, x := range append(ids, id) {
		hex = append(hex, x.String())
	}
	b, _ := json.Marshal(hex)
	return tx.SetSetting(key, b)
}

// resolveOverlap is called when c reuses counters of its author already
// used by a stored change of l's object, and for every change of an object
// that has inert changes (whether c refers to one needs the whole history). It replays the object's changes,
// c among them, in the order every device computes (object.Order: least
// (Lamport, id) first): a change that overlaps one placed before it, or
// builds on an inert one, is inert. It updates the stored inert flags and
// l's state, and says whether c is inert.
func (e *Engine) resolveOverlap(tx store.Tx, l *loaded, c *change.Change) (bool, error) {
	metas, raws, err := tx.ChangesAfter(l.id, 0)
	if err != nil {
		return false, err
	}
	rawOf := make(map[change.ID][]byte, len(metas)+1)
	for i, m := range metas {
		rawOf[m.ID] = raws[i]
	}
	rawOf[c.ID] = c.Raw
	doc, inert, err := e.replayCanonical(l.id, append(metas, store.MetaOf(c)), rawOf)
	var re *replayError
	if errors.As(err, &re) && re.change == c.ID {
		return false, admit.Rejectf(c.ID, "%v", re.err) // nothing stored has changed
	}
	if err != nil {
		return false, fmt.Errorf("object %s: the changes stored do not replay (run mycel check): %w", l.id.Short(), err)
	}
	for _, m := range metas {
		if m.Inert != inert[m.ID] {
			if err := tx.SetInert(m.ID, inert[m.ID]); err != nil {
				return false, err
			}
		}
	}
	if err := tx.DeleteSnapshot(l.id); err != nil {
		return false, err
	}
	if err := addSettingID(tx, inertSetting, l.id); err != nil {
		return false, err
	}
	l.doc, l.snapSize = doc, 0
	l.sinceSnap, l.bytesSince = len(metas)+1, 1<<30 // snapshot the new state soon
	return inert[c.ID], nil
}

// replayError says which change did not apply in a canonical replay.
type replayError struct {
	change change.ID
	err    error
}

func (e *replayError) Error() string { return fmt.Sprintf("change %s: %v", e.change.Short(), e.err) }

// counters is a range of counters one change used.
type counters struct {
	lo, hi uint64
	id     change.ID
}

// replayCanonical replays changes in the order every device computes and
// says which are inert: a change whose counters overlap those of one
// placed before it (by the same key), and a change that refers to what an
// inert change made. Two overlapping changes give their elements the same
// ids, so a reference into the shared range means the inert one's element
// when the inert change is in the referring change's past and no change in
// the state covering it is; it means the other's otherwise. A change that
// does not apply for another reason is a *replayError.
func (e *Engine) replayCanonical(id change.ID, metas []store.ChangeMeta, rawOf map[change.ID][]byte) (*crdt.Doc, map[change.ID]bool, error) {
	doc, inert, _, err := e.replayWhy(id, metas, rawOf)
	return doc, inert, err
}

// replayWhy is replayCanonical, also saying which inert changes are so
// because they refer to what an inert change made (the others overlap).
func (e *Engine) replayWhy(id change.ID, metas []store.ChangeMeta, rawOf map[change.ID][]byte) (*crdt.Doc, map[change.ID]bool, map[change.ID]bool, error) {
	key := e.objectKey(id)
	refers := map[change.ID]bool{}
	doc := crdt.NewDoc()
	inert := map[change.ID]bool{}
	parents := parentsOf(metas)
	applied, lost := map[string][]counters{}, map[string][]counters{}
	pasts := map[change.ID]map[change.ID]bool{}
	past := func(x change.ID) map[change.ID]bool {
		if p, ok := pasts[x]; ok {
			return p
		}
		pasts[x] = ancestry(parents, parents[x])
		return pasts[x]
	}
	// refersToLost reports whether ch refers to an element an inert change
	// in m's past made: as a block, a parent, a reference, a right origin
	// (a text insert's, a mark's end) or a span.
	refersToLost := func(m store.ChangeMeta, ch *crdt.Change) bool {
		if len(lost) == 0 {
			return false
		}
		end := ch.End()
		check := func(r crdt.ID, n uint64) bool {
			if r.IsZero() || r.Actor == ch.Actor && r.Counter >= ch.Start && r.Counter <= end {
				return false // none, or its own: a change may reuse an inert one's counters
			}
			for _, l := range lost[r.Actor] {
				if r.Counter > l.hi || r.Counter+n-1 < l.lo || !past(m.ID)[l.id] {
					continue
				}
				covered := false
				for _, a := range applied[r.Actor] {
					if a.lo <= max(r.Counter, l.lo) && min(r.Counter+n-1, l.hi) <= a.hi && past(m.ID)[a.id] {
						covered = true
					}
				}
				if !covered {
					return true
				}
			}
			return false
		}
		for _, op := range ch.Ops {
			if check(op.Block, 1) || check(op.Parent, 1) || check(op.Ref, 1) || check(op.Right, 1) {
				return true
			}
			for _, sp := range op.Spans {
				if check(sp.Start, uint64(max(sp.N, 1))) {
					return true
				}
			}
		}
		return false
	}
	for _, m := range object.Order(metas) {
		if m.ID == m.Object || m.Snapshot {
			continue
		}
		c, p, err := openStored(key, m.ID, rawOf[m.ID])
		if err != nil {
			return nil, nil, nil, &replayError{m.ID, err}
		}
		ch := p.CRDT(c)
		span := counters{ch.Start, ch.End(), m.ID}
		if refersToLost(m, ch) {
			inert[m.ID], refers[m.ID] = true, true
			lost[ch.Actor] = append(lost[ch.Actor], span)
			continue
		}
		switch err := doc.Apply(ch); {
		case crdt.IsOverlap(err):
			inert[m.ID] = true
			lost[ch.Actor] = append(lost[ch.Actor], span)
		case err != nil:
			return nil, nil, nil, &replayError{m.ID, err}
		default:
			applied[ch.Actor] = append(applied[ch.Actor], span)
		}
	}
	return doc, inert, refers, nil
}

// Rekey gives this store a device key of its own, as a new device of the
// vault with the same name (the membership log says so): for a copy of a
// data folder whose key another copy uses. The old key stays a member
// (the other copy writes with it).
func (e *Engine) Rekey(ctx context.Context) error {
	s, err := readSecrets(e.dir)
	if err != nil {
		return err
	}
	name := DefaultDeviceName()
	if devs, err := e.Devices(ctx); err == nil {
		for _, d := range devs {
			if d.This {
				name = d.Name
			}
		}
	}
	_, device, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	rec, err := member.NewRecord(e.vault, member.Add, device.Public().(ed25519.PublicKey), name, e.Now())
	if err != nil {
		return err
	}
	if err := e.db.Update(ctx, func(tx store.Tx) error { return tx.PutMemberRecord(rec) }); err != nil {
		return err
	}
	s.DeviceSeed = device.Seed()
	if err := writeSecrets(filepath.Join(e.dir, SecretsFile), s); err != nil {
		return err
	}
	e.mu.Lock()
	e.device = device
	clear(e.cache)
	e.mu.Unlock()
	return e.db.Update(ctx, func(tx store.Tx) error { return tx.SetSetting(cloneSetting, []byte{}) })
}

// reauthor writes again, as new changes by this device, what the inert
// changes this store wrote held (see the top of this file):
//
//   - a change that lost an overlap is replayed with its causal past (its
//     writer's view, where it was part of the page), and that state is
//     written on top of the version it was built on, so it merges with
//     everything else: each such change that no other of them builds on;
//   - a change that referred to what a losing change made (an edit of a
//     text that is no longer part of the page) cannot be replayed without
//     it, and its writer must not write the losing change's content again
//     (that is its own writer's to do, or the page would hold it twice):
//     the text it typed is added at the end of the page instead.
//
// It returns how many it wrote. (A crash between writing one and noting it
// written writes it twice when repair runs again: twice, never lost.)
func (e *Engine) reauthor(ctx context.Context, id change.ID) (int, error) {
	var metas []store.ChangeMeta
	var raws [][]byte
	var done []change.ID
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		if metas, raws, err = tx.ChangesAfter(id, 0); err != nil {
			return err
		}
		done, err = settingIDs(tx, reauthoredSetting)
		return err
	})
	if err != nil {
		return 0, err
	}
	rawOf := map[change.ID][]byte{}
	for i := range metas {
		rawOf[metas[i].ID] = raws[i]
	}
	_, inert, refers, err := e.replayWhy(id, metas, rawOf)
	if err != nil {
		return 0, err
	}
	builtOn := map[change.ID]bool{}
	for _, m := range metas {
		if inert[m.ID] && !refers[m.ID] && m.Local {
			for _, p := range m.Parents {
				builtOn[p] = true
			}
		}
	}
	n := 0
	for _, m := range metas {
		if !inert[m.ID] || !m.Local || slices.Contains(done, m.ID) {
			continue
		}
		var err error
		switch {
		case refers[m.ID]:
			err = e.keepTyped(ctx, id, m, rawOf[m.ID])
		case !builtOn[m.ID]:
			err = e.rewriteLost(ctx, id, m, metas, rawOf, inert)
		default:
			continue // a later one of its own replays it
		}
		if err != nil {
			return n, fmt.Errorf("write again the content of change %s: %w", m.ID.Short(), err)
		}
		if err := e.db.Update(ctx, func(tx store.Tx) error { return addSettingID(tx, reauthoredSetting, m.ID) }); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// rewriteLost writes again the page as the writer of m (which lost an
// overlap) saw it, on top of the part of m's past that is in the page.
func (e *Engine) rewriteLost(ctx context.Context, id change.ID, m store.ChangeMeta, metas []store.ChangeMeta, rawOf map[change.ID][]byte, inert map[change.ID]bool) error {
	past := ancestry(parentsOf(metas), []change.ID{m.ID})
	var mine []store.ChangeMeta
	for _, x := range metas {
		if past[x.ID] {
			mine = append(mine, x)
		}
	}
	target, _, err := e.replayCanonical(id, mine, rawOf)
	if err != nil {
		return err
	}
	// What it was built on: the part of its past that is in the page.
	base := headsOf(mine, func(x *store.ChangeMeta) bool { return !inert[x.ID] })
	details, blocks := target.Details(), target.Blocks()
	_, err = e.Edit(ctx, id, EditOptions{Base: base, NewVersion: true}, func(t *crdt.Tx) error {
		t.ReplaceDetails(details)
		t.Replace(blocks)
		return nil
	})
	return err
}

// keepTyped adds at the end of the page the text change m typed, block by
// block.
func (e *Engine) keepTyped(ctx context.Context, id change.ID, m store.ChangeMeta, raw []byte) error {
	_, p, err := openStored(e.objectKey(id), m.ID, raw)
	if err != nil {
		return err
	}
	var order []crdt.ID
	typed := map[crdt.ID]string{}
	for _, op := range p.Ops {
		if op.Kind != crdt.OpInsertText {
			continue
		}
		if _, ok := typed[op.Block]; !ok {
			order = append(order, op.Block)
		}
		typed[op.Block] += op.Text
	}
	var blocks []*crdt.Block
	for _, b := range order {
		if t := typed[b]; strings.TrimSpace(t) != "" {
			blocks = append(blocks, &crdt.Block{Type: crdt.TypeParagraph, Attrs: map[string]string{}, Text: t})
		}
	}
	if len(blocks) == 0 {
		return nil
	}
	_, err = e.Edit(ctx, id, EditOptions{NewVersion: true}, func(t *crdt.Tx) error {
		t.AppendBlocks(blocks)
		return nil
	})
	return err
}

// Equivocator is a device that signed two different changes of one object
// at the same counters: a copy of its data folder writing too, or a device
// that means harm. Every device keeps the same one of them (see above);
// status names the device so that a person can find out which it was.
type Equivocator struct {
	Key  ed25519.PublicKey
	Name string
	// Inert is how many of its changes of the object are kept out of the
	// state because they overlap one of its own that sorts first.
	Inert int
}

// Equivocators lists the devices whose changes of object id overlap each
// other. It costs a replay of the object's history, but only for an object
// that has inert changes at all.
func (e *Engine) Equivocators(ctx context.Context, id change.ID) ([]Equivocator, error) {
	var metas []store.ChangeMeta
	var raws [][]byte
	var names map[string]string
	err := e.db.View(ctx, func(tx store.Tx) error {
		objs, err := e.inertObjects(tx)
		if err != nil || !objs[id] {
			return err
		}
		if metas, raws, err = tx.ChangesAfter(id, 0); err != nil {
			return err
		}
		l, err := e.members(tx)
		if err != nil {
			return err
		}
		names = map[string]string{}
		for _, d := range l.Devices() {
			if n, err := d.Name(e.vault.ReadKey); err == nil {
				names[string(d.Key)] = n
			}
		}
		return nil
	})
	if err != nil || len(metas) == 0 {
		return nil, err
	}
	rawOf := make(map[change.ID][]byte, len(metas))
	for i := range metas {
		rawOf[metas[i].ID] = raws[i]
	}
	_, inert, refers, err := e.replayWhy(id, metas, rawOf)
	if err != nil {
		return nil, err
	}
	var out []Equivocator
	for _, m := range object.Order(metas) {
		if !inert[m.ID] || refers[m.ID] {
			continue
		}
		i := slices.IndexFunc(out, func(q Equivocator) bool { return q.Key.Equal(m.Author) })
		if i < 0 {
			out = append(out, Equivocator{Key: ed25519.PublicKey(m.Author), Name: names[string(m.Author)]})
			i = len(out) - 1
		}
		out[i].Inert++
	}
	return out, nil
}
