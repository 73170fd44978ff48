package storetest

import (
	"errors"
	"fmt"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
)

func testSettings(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	update(t, s, func(tx store.Tx) error {
		if v, err := tx.Setting("k"); v != nil || err != nil {
			t.Fatalf("unset setting = %q, %v", v, err)
		}
		must(t, tx.SetSetting("k", []byte("v1")))
		must(t, tx.SetSetting("other", []byte("x")))
		must(t, tx.SetSetting("empty", nil))
		return tx.SetSetting("k", []byte("v2"))
	})
	view(t, s, func(tx store.Tx) error {
		if v, err := tx.Setting("k"); string(v) != "v2" || err != nil {
			t.Fatalf("setting = %q, %v", v, err)
		}
		if v, err := tx.Setting("other"); string(v) != "x" || err != nil {
			t.Fatalf("other setting = %q, %v", v, err)
		}
		// Set to nothing is not unset.
		if v, err := tx.Setting("empty"); v == nil || len(v) != 0 || err != nil {
			t.Fatalf("empty setting = %#v, %v; want empty, not nil", v, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		for _, k := range []string{"r/b", "r/a", "r/c", "r", "r0", "q/a", "r/%_"} {
			must(t, tx.SetSetting(k, []byte("v"+k)))
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.SettingsWithPrefix("r/", 0)
		if err != nil || len(got) != 4 || string(got["r/a"]) != "vr/a" || string(got["r/%_"]) != "vr/%_" {
			t.Fatalf("settings under r/ = %q, %v", got, err)
		}
		if got, err := tx.SettingsWithPrefix("r/", 2); err != nil || len(got) != 2 || got["r/%_"] == nil || got["r/a"] == nil {
			t.Fatalf("the first 2 settings under r/ = %q, %v", got, err)
		}
		if got, err := tx.SettingsWithPrefix("none/", 0); err != nil || len(got) != 0 {
			t.Fatalf("settings under none/ = %q, %v", got, err)
		}
		return nil
	})
}

func testMembers(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	view(t, s, func(tx store.Tx) error {
		if recs, err := tx.MemberRecords(); err != nil || len(recs) != 0 {
			t.Fatalf("members of an empty store = %q, %v", recs, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		for _, r := range []string{"r2", "r1", "r2", "r3"} {
			must(t, tx.PutMemberRecord([]byte(r)))
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		must(t, tx.PutMemberRecord([]byte("r1"))) // in a later transaction too
		return tx.PutMemberRecord([]byte("r0"))
	})
	view(t, s, func(tx store.Tx) error {
		recs, err := tx.MemberRecords()
		if err != nil || fmt.Sprintf("%q", recs) != `["r2" "r1" "r3" "r0"]` {
			t.Fatalf("members = %q, %v; want each once, in the order first stored", recs, err)
		}
		return nil
	})
}

func testSnapshots(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	o2 := id(0x20)
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.Snapshot(obj); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("snapshot of an object without one: %v", err)
		}
		must(t, tx.PutSnapshot(obj, store.Snapshot{Seq: 4, Sealed: []byte("first")}))
		must(t, tx.PutSnapshot(obj, store.Snapshot{Seq: 9, Sealed: []byte("second")})) // replaces
		return tx.PutSnapshot(o2, store.Snapshot{Seq: 2, Sealed: []byte("other")})
	})
	view(t, s, func(tx store.Tx) error {
		if sn, err := tx.Snapshot(obj); err != nil || sn.Seq != 9 || string(sn.Sealed) != "second" {
			t.Fatalf("snapshot = %d %q, %v", sn.Seq, sn.Sealed, err)
		}
		if sn, err := tx.Snapshot(o2); err != nil || sn.Seq != 2 || string(sn.Sealed) != "other" {
			t.Fatalf("other snapshot = %d %q, %v", sn.Seq, sn.Sealed, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		must(t, tx.DeleteSnapshot(obj))
		return tx.DeleteSnapshot(id(0x77)) // none: nothing to do
	})
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.Snapshot(obj); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted snapshot: %v", err)
		}
		if sn, err := tx.Snapshot(o2); err != nil || sn.Seq != 2 {
			t.Fatalf("deleting one snapshot took another: %v, %v", sn, err)
		}
		return nil
	})
}

func testHeld(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	o2 := id(0x20)
	update(t, s, func(tx store.Tx) error {
		if h, err := tx.Held("p1"); err != nil || len(h) != 0 {
			t.Fatalf("held of an unknown peer = %v, %v", h, err)
		}
		must(t, tx.PutHeld("p1", obj, [32]byte{1}))
		must(t, tx.PutHeld("p1", o2, [32]byte{2}))
		must(t, tx.PutHeld("p1", obj, [32]byte{3})) // the last word wins
		must(t, tx.PutHeld("p10", obj, [32]byte{4}))
		return tx.PutHeld("p", obj, [32]byte{5})
	})
	view(t, s, func(tx store.Tx) error {
		for peer, want := range map[string]map[change.ID][32]byte{
			"p1":  {obj: {3}, o2: {2}},
			"p10": {obj: {4}},
			"p":   {obj: {5}},
			"p2":  {},
		} {
			h, err := tx.Held(peer)
			if err != nil || fmt.Sprint(h) != fmt.Sprint(want) {
				t.Fatalf("held %s = %v, %v; want %v", peer, h, err, want)
			}
		}
		return nil
	})
}

// A damaged change is moved aside: no longer stored, listed as damaged,
// until it is stored again and the record cleared.
func testQuarantine(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	o2 := id(0x20)
	c3 := meta(id(3), obj, 2, c2.ID)
	d1 := meta(id(0x21), o2, 1, o2)
	update(t, s, func(tx store.Tx) error {
		put(t, tx, c1, c2, c3, meta(o2, o2, 0), d1)
		return tx.SetHeads(obj, []change.ID{c3.ID})
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.Quarantine(store.Damaged{ID: id(0x66), Reason: "x", Time: ms(1)}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("quarantine of a change not stored: %v", err)
		}
		must(t, tx.Quarantine(store.Damaged{ID: c3.ID, Object: obj, Reason: "bytes hash to 77aa", Time: ms(5000)}))
		must(t, tx.Quarantine(store.Damaged{ID: c2.ID, Reason: "signature", Time: ms(6000)}))
		must(t, tx.Quarantine(store.Damaged{ID: d1.ID, Reason: "r", Time: ms(7000)}))
		// Seen at once, in the same transaction.
		if ok, err := tx.HasChange(c3.ID); ok || err != nil {
			t.Fatalf("has a quarantined change: %v, %v", ok, err)
		}
		if ok, err := tx.IsDamaged(c3.ID); !ok || err != nil {
			t.Fatalf("is damaged = %v, %v", ok, err)
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		for _, c := range []change.ID{c2.ID, c3.ID, d1.ID} {
			if ok, err := tx.HasChange(c); ok || err != nil {
				t.Fatalf("has a quarantined change: %v, %v", ok, err)
			}
			if _, err := tx.RawChange(c); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("raw of a quarantined change: %v", err)
			}
			if _, err := tx.Meta(c); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("meta of a quarantined change: %v", err)
			}
			if ok, err := tx.IsDamaged(c); !ok || err != nil {
				t.Fatalf("is damaged = %v, %v", ok, err)
			}
		}
		if got, err := tx.StoredOf([]change.ID{c1.ID, c2.ID, c3.ID}); err != nil || len(got) != 1 || !got[c1.ID] {
			t.Fatalf("stored of = %v, %v", got, err)
		}
		if ms, err := tx.Changes(obj, 0); err != nil || len(ms) != 1 || ms[0].ID != c1.ID {
			t.Fatalf("changes = %v, %v", idsOf(ms), err)
		}
		if n, err := tx.CountChanges(); err != nil || n != 2 {
			t.Fatalf("count = %d, %v", n, err)
		}
		if heads, err := tx.Heads(obj); err != nil || len(heads) != 1 || heads[0] != c3.ID {
			t.Fatalf("heads are the caller's: %v, %v", heads, err)
		}
		if ok, err := tx.IsDamaged(c1.ID); ok || err != nil {
			t.Fatalf("a stored change is damaged: %v, %v", ok, err)
		}
		ds, err := tx.Damaged(obj)
		must(t, err)
		if len(ds) != 2 {
			t.Fatalf("damaged = %+v", ds)
		}
		want := map[change.ID]string{
			c3.ID: fmt.Sprintf("%s %q %q %d", obj.Short(), raw(c3.ID), "bytes hash to 77aa", 5000),
			c2.ID: fmt.Sprintf("%s %q %q %d", obj.Short(), raw(c2.ID), "signature", 6000),
		}
		for _, d := range ds {
			if got := fmt.Sprintf("%s %q %q %d", d.Object.Short(), d.Raw, d.Reason, d.Time.UnixMilli()); got != want[d.ID] {
				t.Fatalf("damaged %s = %s, want %s (the stored bytes, kept)", d.ID.Short(), got, want[d.ID])
			}
		}
		if ds, err := tx.Damaged(id(0x77)); err != nil || len(ds) != 0 {
			t.Fatalf("damaged of an object without = %v, %v", ds, err)
		}
		if objs, err := tx.DamagedObjects(); err != nil || !sameIDs(objs, []change.ID{obj, o2}) {
			t.Fatalf("damaged objects = %v, %v", objs, err)
		}
		return nil
	})
	// Sync brings a change back: it is stored again, then forgotten as
	// damaged.
	update(t, s, func(tx store.Tx) error {
		put(t, tx, c3)
		if ok, err := tx.IsDamaged(c3.ID); !ok || err != nil {
			t.Fatalf("storing again is not clearing: %v, %v", ok, err)
		}
		must(t, tx.ClearDamaged(c3.ID))
		must(t, tx.ClearDamaged(d1.ID))
		return tx.ClearDamaged(id(0x66)) // not damaged: nothing to do
	})
	view(t, s, func(tx store.Tx) error {
		if ok, err := tx.HasChange(c3.ID); !ok || err != nil {
			t.Fatalf("a change stored again: %v, %v", ok, err)
		}
		if ok, err := tx.IsDamaged(c3.ID); ok || err != nil {
			t.Fatalf("a cleared change is damaged: %v, %v", ok, err)
		}
		if ds, err := tx.Damaged(obj); err != nil || len(ds) != 1 || ds[0].ID != c2.ID {
			t.Fatalf("damaged after clearing = %+v, %v", ds, err)
		}
		if objs, err := tx.DamagedObjects(); err != nil || len(objs) != 1 || objs[0] != obj {
			t.Fatalf("damaged objects after clearing = %v, %v", objs, err)
		}
		return nil
	})
	// A change damaged again is listed once, with the latest reason.
	update(t, s, func(tx store.Tx) error {
		put(t, tx, c2)
		return tx.Quarantine(store.Damaged{ID: c2.ID, Reason: "again", Time: ms(8000)})
	})
	view(t, s, func(tx store.Tx) error {
		if ds, err := tx.Damaged(obj); err != nil || len(ds) != 1 || ds[0].Reason != "again" || !ds[0].Time.Equal(ms(8000)) {
			t.Fatalf("damaged twice = %+v, %v", ds, err)
		}
		return nil
	})
}

// What a store hands out is the caller's to change, and what it is handed
// stays as it was handed.
func testCallersSlices(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	m := meta(id(2), obj, 1, obj)
	r := []byte("change bytes")
	setting := []byte("value")
	rec := []byte("record")
	sealed := []byte("sealed")
	parked := []byte("parked bytes")
	pm := meta(id(7), obj, 5, id(6))
	update(t, s, func(tx store.Tx) error {
		put(t, tx, c1)
		if _, _, err := tx.PutChange(m, r); err != nil {
			return err
		}
		must(t, tx.Park(pm, parked))
		must(t, tx.SetSetting("k", setting))
		must(t, tx.PutMemberRecord(rec))
		must(t, tx.PutSnapshot(obj, store.Snapshot{Seq: 1, Sealed: sealed}))
		heads := []change.ID{m.ID}
		must(t, tx.SetHeads(obj, heads))
		heads[0] = id(0x99)
		// Scribbled over after the put, in the same transaction.
		for _, b := range [][]byte{m.Author, r, setting, rec, sealed, parked, pm.Author} {
			for i := range b {
				b[i] = 'X'
			}
		}
		m.Parents[0], pm.Parents[0] = id(0x99), id(0x99)
		return nil
	})
	scribble := func(tx store.Tx) {
		ms, raws, _ := tx.ChangesAfter(obj, 0)
		for i := range ms {
			ms[i].Author[0], raws[i][0] = 'Y', 'Y'
			if len(ms[i].Parents) > 0 {
				ms[i].Parents[0] = id(0x98)
			}
		}
		if b, _ := tx.RawChange(m.ID); len(b) > 0 {
			b[0] = 'Y'
		}
		if mt, _ := tx.Meta(m.ID); len(mt.Parents) > 0 {
			mt.Parents[0], mt.Author[0] = id(0x98), 'Y'
		}
		if ps, prs, _ := tx.Parked(obj); len(ps) > 0 {
			ps[0].Parents[0], ps[0].Author[0], prs[0][0] = id(0x98), 'Y', 'Y'
		}
		if v, _ := tx.Setting("k"); len(v) > 0 {
			v[0] = 'Y'
		}
		if recs, _ := tx.MemberRecords(); len(recs) > 0 {
			recs[0][0] = 'Y'
		}
		if sn, _ := tx.Snapshot(obj); len(sn.Sealed) > 0 {
			sn.Sealed[0] = 'Y'
		}
		if h, _ := tx.Heads(obj); len(h) > 0 {
			h[0] = id(0x98)
		}
		if all, _ := tx.AllHeads(); len(all[obj]) > 0 {
			all[obj][0] = id(0x98)
		}
	}
	check := func(tx store.Tx) {
		t.Helper()
		mt, err := tx.Meta(m.ID)
		if err != nil || string(mt.Author) != "author" || mt.Parents[0] != obj {
			t.Fatalf("meta = %s, %v", metaString(mt), err)
		}
		ms, raws, err := tx.ChangesAfter(obj, 0)
		if err != nil || len(ms) != 2 || string(ms[1].Author) != "author" || ms[1].Parents[0] != obj || string(raws[1]) != "change bytes" {
			t.Fatalf("changes = %+v %q, %v", ms, raws, err)
		}
		if b, err := tx.RawChange(m.ID); err != nil || string(b) != "change bytes" {
			t.Fatalf("raw = %q, %v", b, err)
		}
		ps, prs, err := tx.Parked(obj)
		if err != nil || len(ps) != 1 || string(ps[0].Author) != "author" || ps[0].Parents[0] != id(6) || string(prs[0]) != "parked bytes" {
			t.Fatalf("parked = %+v %q, %v", ps, prs, err)
		}
		if v, err := tx.Setting("k"); err != nil || string(v) != "value" {
			t.Fatalf("setting = %q, %v", v, err)
		}
		if recs, err := tx.MemberRecords(); err != nil || len(recs) != 1 || string(recs[0]) != "record" {
			t.Fatalf("members = %q, %v", recs, err)
		}
		if sn, err := tx.Snapshot(obj); err != nil || string(sn.Sealed) != "sealed" {
			t.Fatalf("snapshot = %q, %v", sn.Sealed, err)
		}
		if h, err := tx.Heads(obj); err != nil || len(h) != 1 || h[0] != m.ID {
			t.Fatalf("heads = %v, %v", h, err)
		}
	}
	// Inside a writing transaction, and in views after it.
	update(t, s, func(tx store.Tx) error {
		scribble(tx)
		check(tx)
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		scribble(tx)
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		check(tx)
		return nil
	})
}
