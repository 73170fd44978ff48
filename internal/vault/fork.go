package vault

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

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
// used by a stored change of l's object. It replays the object's changes,
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
	if err != nil {
		return false, err
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

// replayCanonical replays changes in the order every device computes and
// says which are inert. A change after an inert one in its history is
// tried on a copy of the state: if it does not apply, it referred to what
// the inert change made, and is inert too. A change that does not apply
// for another reason is an error.
func (e *Engine) replayCanonical(id change.ID, metas []store.ChangeMeta, rawOf map[change.ID][]byte) (*crdt.Doc, map[change.ID]bool, error) {
	key := e.objectKey(id)
	doc := crdt.NewDoc()
	inert := map[change.ID]bool{}
	after := map[change.ID]bool{} // an inert change is in its past
	for _, m := range object.Order(metas) {
		if slices.ContainsFunc(m.Parents, func(p change.ID) bool { return inert[p] || after[p] }) {
			after[m.ID] = true
		}
		if m.ID == m.Object || m.Snapshot {
			continue
		}
		try := doc
		if after[m.ID] {
			try = doc.Clone()
		}
		err := e.applyStored(try, key, m.ID, rawOf[m.ID])
		switch {
		case crdt.IsOverlap(err), err != nil && after[m.ID]:
			inert[m.ID] = true
		case err != nil:
			return nil, nil, err
		default:
			doc = try
		}
	}
	return doc, inert, nil
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

// reauthor writes again, as new changes by this device, the content of the
// inert changes this store wrote (see the top of this file): each inert
// change that no other inert change of this store builds on is replayed
// with its causal past, and that state is written on top of the version it
// was built on, so it merges with everything else. It returns how many it
// wrote.
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
	byID := map[change.ID]*store.ChangeMeta{}
	rawOf := map[change.ID][]byte{}
	for i := range metas {
		byID[metas[i].ID] = &metas[i]
		rawOf[metas[i].ID] = raws[i]
	}
	builtOn := map[change.ID]bool{}
	for _, m := range metas {
		if m.Inert && m.Local {
			for _, p := range m.Parents {
				builtOn[p] = true
			}
		}
	}
	n := 0
	for _, m := range metas {
		if !m.Inert || !m.Local || builtOn[m.ID] || slices.Contains(done, m.ID) {
			continue
		}
		// The state its writer saw: its causal past and itself.
		past := closure(byID, []change.ID{m.ID})
		var mine []store.ChangeMeta
		for _, x := range metas {
			if past[x.ID] {
				x.Inert = false
				mine = append(mine, x)
			}
		}
		target, _, err := e.replayCanonical(id, mine, rawOf)
		if err != nil {
			return n, fmt.Errorf("write again the content of change %s: %w", m.ID.Short(), err)
		}
		// What it was built on: the part of its past that is in the state.
		var base []change.ID
		named := map[change.ID]bool{}
		for _, x := range metas {
			if past[x.ID] && !x.Inert {
				for _, p := range x.Parents {
					named[p] = true
				}
			}
		}
		for _, x := range metas {
			if past[x.ID] && !x.Inert && !named[x.ID] {
				base = append(base, x.ID)
			}
		}
		details, blocks := target.Details(), target.Blocks()
		if _, err := e.Edit(ctx, id, EditOptions{Base: base, NewVersion: true}, func(t *crdt.Tx) error {
			t.ReplaceDetails(details)
			t.Replace(blocks)
			return nil
		}); err != nil {
			return n, err
		}
		if err := e.db.Update(ctx, func(tx store.Tx) error { return addSettingID(tx, reauthoredSetting, m.ID) }); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// closure is the set of changes from, with every ancestor in byID.
func closure(byID map[change.ID]*store.ChangeMeta, from []change.ID) map[change.ID]bool {
	in := map[change.ID]bool{}
	stack := slices.Clone(from)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if in[x] || byID[x] == nil {
			continue
		}
		in[x] = true
		stack = append(stack, byID[x].Parents...)
	}
	return in
}
