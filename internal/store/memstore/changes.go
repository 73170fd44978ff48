package memstore

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"mycel/internal/change"
	"mycel/internal/store"
)

// keep is m as the store keeps it: its own copies, its time as stored.
func keep(m store.ChangeMeta, raw []byte) store.ChangeMeta {
	m.Parents = slices.Clone(m.Parents)
	m.Author = clone(m.Author)
	m.Time = ms(m.Time)
	m.Size = len(raw)
	m.Chunks = slices.Clone(m.Chunks)
	return m
}

// out is m as handed out: the caller's copies.
func out(m store.ChangeMeta) store.ChangeMeta {
	m.Parents = slices.Clone(m.Parents)
	m.Author = clone(m.Author)
	m.Chunks = nil // indexed, not read back (as SQLite keeps it)
	return m
}

func (t *tx) PutChange(m store.ChangeMeta, raw []byte) (int64, bool, error) {
	st, err := t.w()
	if err != nil {
		return 0, false, err
	}
	if st.changes.has(idKey(m.ID)) {
		return 0, false, nil
	}
	st.lastSeq++
	m = keep(m, raw)
	m.Seq = st.lastSeq
	t.putRec(&changeRec{meta: m, raw: clone(raw)})
	t.putChunkRefs(m.ID, m.Object, m.Chunks)
	return m.Seq, true, nil
}

// putRec writes a change record to the three trees that hold it.
func (t *tx) putRec(c *changeRec) {
	st := t.st
	st.changes.put(t.gen, idKey(c.meta.ID), c)
	st.bySeq.put(t.gen, seqKey(c.meta.Seq), c)
	st.byObject.put(t.gen, idKey(c.meta.Object)+seqKey(c.meta.Seq), c)
}

func (t *tx) delRec(c *changeRec) {
	st := t.st
	st.changes.del(t.gen, idKey(c.meta.ID))
	st.bySeq.del(t.gen, seqKey(c.meta.Seq))
	st.byObject.del(t.gen, idKey(c.meta.Object)+seqKey(c.meta.Seq))
}

func (t *tx) HasChange(id change.ID) (bool, error) {
	st, err := t.r()
	if err != nil {
		return false, err
	}
	return st.changes.has(idKey(id)), nil
}

func (t *tx) StoredOf(ids []change.ID) (map[change.ID]bool, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	found := map[change.ID]bool{}
	for _, id := range ids {
		if st.changes.has(idKey(id)) {
			found[id] = true
		}
	}
	return found, nil
}

func (t *tx) RawChange(id change.ID) ([]byte, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	c, ok := st.changes.get(idKey(id))
	if !ok {
		return nil, fmt.Errorf("change %s: %w", id.Short(), store.ErrNotFound)
	}
	return append([]byte{}, c.raw...), nil
}

// after lists an object's changes stored after arrival number seq, in
// order.
func (st *state) after(object change.ID, seq int64) []*changeRec {
	var recs []*changeRec
	prefix := idKey(object)
	st.byObject.ascend(prefix+seqKey(seq+1), func(k string, c *changeRec) bool {
		if k[:len(prefix)] != prefix {
			return false
		}
		recs = append(recs, c)
		return true
	})
	return recs
}

func (t *tx) Changes(object change.ID, seq int64) ([]store.ChangeMeta, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	var ms []store.ChangeMeta
	for _, c := range st.after(object, max(seq, 0)) {
		ms = append(ms, out(c.meta))
	}
	return ms, nil
}

func (t *tx) ChangeRange(object change.ID, seq int64, limit int, withRaw bool) ([]store.ChangeMeta, [][]byte, error) {
	st, err := t.r()
	if err != nil {
		return nil, nil, err
	}
	var ms []store.ChangeMeta
	var raws [][]byte
	for _, c := range st.after(object, max(seq, 0)) {
		if limit > 0 && len(ms) == limit {
			break
		}
		m := out(c.meta)
		ms = append(ms, store.ChangeMeta{ID: m.ID, Object: m.Object, Parents: m.Parents, Size: m.Size, Seq: m.Seq})
		if withRaw {
			raws = append(raws, append([]byte{}, c.raw...))
		}
	}
	return ms, raws, nil
}

func (t *tx) ChangesAfter(object change.ID, seq int64) ([]store.ChangeMeta, [][]byte, error) {
	st, err := t.r()
	if err != nil {
		return nil, nil, err
	}
	var ms []store.ChangeMeta
	var raws [][]byte
	for _, c := range st.after(object, max(seq, 0)) {
		ms = append(ms, out(c.meta))
		raws = append(raws, append([]byte{}, c.raw...))
	}
	return ms, raws, nil
}

func (t *tx) Meta(id change.ID) (store.ChangeMeta, error) {
	st, err := t.r()
	if err != nil {
		return store.ChangeMeta{}, err
	}
	c, ok := st.changes.get(idKey(id))
	if !ok {
		return store.ChangeMeta{}, fmt.Errorf("change %s: %w", id.Short(), store.ErrNotFound)
	}
	return out(c.meta), nil
}

func (t *tx) CountChanges() (int, error) {
	st, err := t.r()
	if err != nil {
		return 0, err
	}
	return st.changes.len(), nil
}

// LastSeq is the arrival number of the last change stored that is still
// there (as SQLite's max(seq)).
func (t *tx) LastSeq() (int64, error) {
	st, err := t.r()
	if err != nil {
		return 0, err
	}
	return st.lastStored(), nil
}

func (st *state) lastStored() int64 {
	_, c, ok := st.bySeq.last()
	if !ok {
		return 0
	}
	return c.meta.Seq
}

func (t *tx) ChangedBy(author []byte, seq int64) ([]change.ID, int64, error) {
	st, err := t.r()
	if err != nil {
		return nil, 0, err
	}
	last := st.lastStored()
	if last <= seq {
		return nil, seq, nil
	}
	seen := map[change.ID]bool{}
	var objs []change.ID
	st.bySeq.ascend(seqKey(max(seq+1, 0)), func(_ string, c *changeRec) bool {
		if (author == nil || bytes.Equal(c.meta.Author, author)) && !seen[c.meta.Object] {
			seen[c.meta.Object] = true
			objs = append(objs, c.meta.Object)
		}
		return true
	})
	slices.SortFunc(objs, compareIDs)
	return objs, last, nil
}

func compareIDs(a, b change.ID) int { return bytes.Compare(a[:], b[:]) }

func (t *tx) ChangeObjects() ([]change.ID, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	return prefixIDs(st.byObject.distinctPrefixes(32)), nil
}

func prefixIDs(keys []string) []change.ID {
	var ids []change.ID
	for _, k := range keys {
		ids = append(ids, keyID(k))
	}
	return ids
}

func (t *tx) SetInert(id change.ID, inert bool) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	c, ok := st.changes.get(idKey(id))
	if !ok {
		return fmt.Errorf("change %s: %w", id.Short(), store.ErrNotFound)
	}
	n := *c // records are never changed: a new one replaces it
	n.meta.Inert = inert
	t.putRec(&n)
	return nil
}

// DeleteChange removes a change; one not stored is nothing to remove. Its
// arrival number is not given again.
func (t *tx) DeleteChange(id change.ID) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	if c, ok := st.changes.get(idKey(id)); ok {
		t.delRec(c)
		t.dropChunkRefs(c.meta.ID, c.meta.Object, c.meta.Chunks)
	}
	return nil
}

func (t *tx) Heads(object change.ID) ([]change.ID, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	h, _ := st.heads.get(idKey(object))
	return slices.Clone(h), nil
}

func (t *tx) AllHeads() (map[change.ID][]change.ID, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	all := map[change.ID][]change.ID{}
	st.heads.ascend("", func(k string, h []change.ID) bool {
		all[keyID(k)] = slices.Clone(h)
		return true
	})
	return all, nil
}

// SetHeads keeps heads sorted and once each, as the SQLite store's
// primary key does.
func (t *tx) SetHeads(object change.ID, heads []change.ID) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	if len(heads) == 0 {
		st.heads.del(t.gen, idKey(object))
		return nil
	}
	h := slices.Clone(heads)
	slices.SortFunc(h, compareIDs)
	st.heads.put(t.gen, idKey(object), slices.Compact(h))
	return nil
}

// Park keeps the first copy of a change parked twice.
func (t *tx) Park(m store.ChangeMeta, raw []byte) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	if st.parked.has(idKey(m.ID)) {
		return nil
	}
	st.lastOrder++
	m = keep(m, raw)
	m.Seq = 0 // parked changes have not arrived
	p := &parkedRec{meta: m, raw: clone(raw), order: st.lastOrder}
	st.parked.put(t.gen, idKey(m.ID), p)
	st.parkedBy.put(t.gen, idKey(m.Object)+seqKey(p.order), p)
	return nil
}

// Parked lists an object's parked changes in the order they were parked.
func (t *tx) Parked(object change.ID) ([]store.ChangeMeta, [][]byte, error) {
	st, err := t.r()
	if err != nil {
		return nil, nil, err
	}
	var ms []store.ChangeMeta
	var raws [][]byte
	st.parkedBy.prefixed(idKey(object), func(_ string, p *parkedRec) bool {
		ms = append(ms, out(p.meta))
		raws = append(raws, append([]byte{}, p.raw...))
		return true
	})
	return ms, raws, nil
}

func (t *tx) Unpark(id change.ID) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	if p, ok := st.parked.get(idKey(id)); ok {
		st.parked.del(t.gen, idKey(id))
		st.parkedBy.del(t.gen, idKey(p.meta.Object)+seqKey(p.order))
	}
	return nil
}

func (t *tx) ParkedBytes(object change.ID) (int64, error) {
	st, err := t.r()
	if err != nil {
		return 0, err
	}
	prefix := "" // every object's
	if object != (change.ID{}) {
		prefix = idKey(object)
	}
	var n int64
	st.parkedBy.prefixed(prefix, func(_ string, p *parkedRec) bool {
		n += int64(len(p.raw))
		return true
	})
	return n, nil
}

func (t *tx) DropOldestParked() (change.ID, bool, error) {
	st, err := t.r()
	if err != nil {
		return change.ID{}, false, err
	}
	var oldest *parkedRec
	st.parkedBy.prefixed("", func(_ string, p *parkedRec) bool {
		if !p.meta.Local && (oldest == nil || p.order < oldest.order) {
			oldest = p
		}
		return true
	})
	if oldest == nil {
		return change.ID{}, false, nil
	}
	return oldest.meta.ID, true, t.Unpark(oldest.meta.ID)
}

func (t *tx) ParkedObjects() ([]change.ID, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	return prefixIDs(st.parkedBy.distinctPrefixes(32)), nil
}

func (t *tx) PurgeObject(object change.ID) (int, error) {
	st, err := t.w()
	if err != nil {
		return 0, err
	}
	p := idKey(object)
	var recs []*changeRec
	st.byObject.prefixed(p, func(_ string, c *changeRec) bool { recs = append(recs, c); return true })
	for _, c := range recs {
		t.delRec(c)
		t.dropChunkRefs(c.meta.ID, c.meta.Object, c.meta.Chunks)
	}
	var parked []*parkedRec
	st.parkedBy.prefixed(p, func(_ string, r *parkedRec) bool { parked = append(parked, r); return true })
	for _, r := range parked {
		st.parked.del(t.gen, idKey(r.meta.ID))
		st.parkedBy.del(t.gen, p+seqKey(r.order))
	}
	var damaged []change.ID
	st.damagedBy.prefixed(p, func(_ string, r *damagedRec) bool { damaged = append(damaged, r.d.ID); return true })
	for _, id := range damaged {
		t.clearDamaged(id)
	}
	var held []string
	st.held.ascend("", func(k string, _ [32]byte) bool {
		if strings.HasSuffix(k, p) {
			held = append(held, k)
		}
		return true
	})
	for _, k := range held {
		st.held.del(t.gen, k)
	}
	st.heads.del(t.gen, p)
	st.objects.del(t.gen, p)
	st.snapshots.del(t.gen, p)
	return len(recs), nil
}
