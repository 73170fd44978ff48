package memstore

import (
	"crypto/sha256"
	"fmt"

	"mycel/internal/change"
	"mycel/internal/store"
)

func (t *tx) MemberRecords() ([][]byte, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	var recs [][]byte
	st.members.ascend("", func(_ string, r []byte) bool {
		recs = append(recs, append([]byte{}, r...))
		return true
	})
	return recs, nil
}

// PutMemberRecord recognizes a record already stored by the hash of its
// bytes, so the log stays a set however often peers send it.
func (t *tx) PutMemberRecord(raw []byte) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	h := sha256Key(raw)
	if st.memberHash.has(h) {
		return nil
	}
	st.lastOrder++
	st.memberHash.put(t.gen, h, struct{}{})
	st.members.put(t.gen, seqKey(st.lastOrder), append([]byte{}, raw...))
	return nil
}

func sha256Key(b []byte) string {
	h := sha256.Sum256(b)
	return string(h[:])
}

func (t *tx) PutSnapshot(object change.ID, s store.Snapshot) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	s.Sealed = append([]byte{}, s.Sealed...)
	st.snapshots.put(t.gen, idKey(object), s)
	return nil
}

func (t *tx) Snapshot(object change.ID) (store.Snapshot, error) {
	st, err := t.r()
	if err != nil {
		return store.Snapshot{}, err
	}
	s, ok := st.snapshots.get(idKey(object))
	if !ok {
		return store.Snapshot{}, fmt.Errorf("snapshot of %s: %w", object.Short(), store.ErrNotFound)
	}
	s.Sealed = append([]byte{}, s.Sealed...)
	return s, nil
}

func (t *tx) DeleteSnapshot(object change.ID) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	st.snapshots.del(t.gen, idKey(object))
	return nil
}

func (t *tx) PutHeld(peer string, object change.ID, heads [32]byte) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	st.held.put(t.gen, heldKey(peer, object), heads)
	return nil
}

func (t *tx) Held(peer string) (map[change.ID][32]byte, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	held := map[change.ID][32]byte{}
	prefix := heldPrefix(peer)
	st.held.prefixed(prefix, func(k string, h [32]byte) bool {
		held[keyID(k[len(prefix):])] = h
		return true
	})
	return held, nil
}

// Quarantine moves the stored change aside: the object and bytes kept are
// the store's own, with d's reason and time. A change quarantined again
// replaces its earlier entry, and is listed last.
func (t *tx) Quarantine(d store.Damaged) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	c, ok := st.changes.get(idKey(d.ID))
	if !ok {
		return fmt.Errorf("quarantine change %s: %w", d.ID.Short(), store.ErrNotFound)
	}
	t.clearDamaged(d.ID)
	st.lastOrder++
	rec := &damagedRec{d: store.Damaged{ID: d.ID, Object: c.meta.Object, Raw: c.raw, Reason: d.Reason, Time: ms(d.Time)}, order: st.lastOrder}
	st.damaged.put(t.gen, idKey(d.ID), rec)
	st.damagedBy.put(t.gen, idKey(rec.d.Object)+seqKey(rec.order), rec)
	t.delRec(c)
	return nil
}

// Damaged lists an object's quarantined changes in the order they were
// quarantined.
func (t *tx) Damaged(object change.ID) ([]store.Damaged, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	var ds []store.Damaged
	st.damagedBy.prefixed(idKey(object), func(_ string, rec *damagedRec) bool {
		d := rec.d
		d.Raw = append([]byte{}, d.Raw...)
		ds = append(ds, d)
		return true
	})
	return ds, nil
}

func (t *tx) DamagedObjects() ([]change.ID, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	return prefixIDs(st.damagedBy.distinctPrefixes(32)), nil
}

func (t *tx) IsDamaged(id change.ID) (bool, error) {
	st, err := t.r()
	if err != nil {
		return false, err
	}
	return st.damaged.has(idKey(id)), nil
}

func (t *tx) ClearDamaged(id change.ID) error {
	if _, err := t.w(); err != nil {
		return err
	}
	t.clearDamaged(id)
	return nil
}

func (t *tx) clearDamaged(id change.ID) {
	st := t.st
	if rec, ok := st.damaged.get(idKey(id)); ok {
		st.damaged.del(t.gen, idKey(id))
		st.damagedBy.del(t.gen, idKey(rec.d.Object)+seqKey(rec.order))
	}
}
