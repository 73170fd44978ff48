package storetest

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/fts"
)

var (
	obj = id(1)
	c1  = store.ChangeMeta{ID: obj, Object: obj, Author: []byte("author"), Lamport: 0, Time: ms(1000)}
	c2  = store.ChangeMeta{ID: id(2), Object: obj, Parents: []change.ID{obj}, Author: []byte("author"), Lamport: 1, Time: ms(2000), Snapshot: true, NewVersion: true}
)

func testChanges(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	var seqs []int64
	update(t, s, func(tx store.Tx) error {
		if last, err := tx.LastSeq(); err != nil || last != 0 {
			t.Fatalf("last seq of an empty store = %d, %v", last, err)
		}
		seqs = put(t, tx, c1, c2)
		if seq, ok, err := tx.PutChange(c1, []byte("other")); err != nil || ok || seq != 0 {
			t.Fatalf("second put of the same change: seq %d, stored %v, %v", seq, ok, err)
		}
		return nil
	})
	if seqs[0] >= seqs[1] {
		t.Fatalf("arrival numbers %v do not grow", seqs)
	}
	view(t, s, func(tx store.Tx) error {
		r, err := tx.RawChange(c1.ID)
		if err != nil || string(r) != string(raw(c1.ID)) {
			t.Fatalf("raw = %q, %v (a second put must not overwrite)", r, err)
		}
		if _, err := tx.RawChange(id(9)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("raw of a missing change: %v", err)
		}
		if ok, err := tx.HasChange(c2.ID); !ok || err != nil {
			t.Fatalf("has change = %v, %v", ok, err)
		}
		if ok, err := tx.HasChange(id(9)); ok || err != nil {
			t.Fatalf("has a missing change = %v, %v", ok, err)
		}
		ms, err := tx.Changes(obj, 0)
		if err != nil || len(ms) != 2 {
			t.Fatalf("changes = %+v, %v", ms, err)
		}
		for i, want := range []store.ChangeMeta{c1, c2} {
			want.Size, want.Seq = len(raw(want.ID)), seqs[i]
			if got := metaString(ms[i]); got != metaString(want) {
				t.Fatalf("change %d:\n got %s\nwant %s", i, got, metaString(want))
			}
			m, err := tx.Meta(want.ID)
			if err != nil || metaString(m) != metaString(want) {
				t.Fatalf("meta = %s, %v; want %s", metaString(m), err, metaString(want))
			}
		}
		after, raws, err := tx.ChangesAfter(obj, seqs[0])
		if err != nil || len(after) != 1 || after[0].ID != c2.ID || string(raws[0]) != string(raw(c2.ID)) || after[0].Seq != seqs[1] {
			t.Fatalf("changes after %d = %+v, %q, %v", seqs[0], after, raws, err)
		}
		all, raws, err := tx.ChangesAfter(obj, 0)
		if err != nil || len(all) != 2 || len(raws) != 2 || string(raws[0]) != string(raw(c1.ID)) {
			t.Fatalf("changes after 0 = %+v, %q, %v", all, raws, err)
		}
		// A page at a time: the first, the rest, none; without bytes.
		if pg, raws, err := tx.ChangeRange(obj, 0, 1, true); err != nil || len(pg) != 1 || pg[0].ID != c1.ID || len(raws) != 1 || string(raws[0]) != string(raw(c1.ID)) {
			t.Fatalf("first page of 1 = %+v, %q, %v", pg, raws, err)
		}
		if pg, raws, err := tx.ChangeRange(obj, seqs[0], 5, false); err != nil || len(pg) != 1 || pg[0].ID != c2.ID || pg[0].Seq != seqs[1] || raws != nil {
			t.Fatalf("page after %d = %+v, %q, %v", seqs[0], pg, raws, err)
		}
		if pg, _, err := tx.ChangeRange(obj, 0, 0, false); err != nil || len(pg) != 2 || pg[1].Size != len(raw(c2.ID)) {
			t.Fatalf("unlimited page = %+v, %v", pg, err)
		} else {
			for i, m := range pg { // what a graph needs, as Changes has it
				g, w := ms[i], m
				if w.ID != g.ID || w.Object != g.Object || fmt.Sprint(w.Parents) != fmt.Sprint(g.Parents) || w.Size != g.Size || w.Seq != g.Seq {
					t.Fatalf("range meta %d = %s, want the graph's part of %s", i, metaString(w), metaString(g))
				}
			}
		}
		if pg, _, err := tx.ChangeRange(obj, seqs[1], 0, true); err != nil || len(pg) != 0 {
			t.Fatalf("page after the last = %+v, %v", pg, err)
		}
		if later, err := tx.Changes(obj, seqs[1]); err != nil || len(later) != 0 {
			t.Fatalf("changes after the last = %+v, %v", later, err)
		}
		if other, err := tx.Changes(id(9), 0); err != nil || len(other) != 0 {
			t.Fatalf("changes of an unknown object = %+v, %v", other, err)
		}
		if _, err := tx.Meta(id(9)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("meta of a missing change: %v", err)
		}
		if n, err := tx.CountChanges(); err != nil || n != 2 {
			t.Fatalf("count = %d, %v", n, err)
		}
		if last, err := tx.LastSeq(); err != nil || last != seqs[1] {
			t.Fatalf("last seq = %d, %v; want %d", last, err, seqs[1])
		}
		if objs, err := tx.ChangeObjects(); err != nil || len(objs) != 1 || objs[0] != obj {
			t.Fatalf("objects with changes = %v, %v", objs, err)
		}
		return nil
	})
	// A change with no author, parents or bytes is stored all the same.
	update(t, s, func(tx store.Tx) error {
		e := store.ChangeMeta{ID: id(0x0e), Object: id(0x0e)}
		if seq, ok, err := tx.PutChange(e, nil); err != nil || !ok || seq <= seqs[1] {
			t.Fatalf("put of an empty change: seq %d, stored %v, %v", seq, ok, err)
		}
		m, err := tx.Meta(e.ID)
		if err != nil || len(m.Author) != 0 || len(m.Parents) != 0 || m.Size != 0 {
			t.Fatalf("meta of an empty change = %s, %v", metaString(m), err)
		}
		if r, err := tx.RawChange(e.ID); err != nil || len(r) != 0 {
			t.Fatalf("raw of an empty change = %q, %v", r, err)
		}
		return tx.DeleteChange(e.ID)
	})
	// Changes of several objects interleaved: each object's list is its
	// own, in arrival order.
	update(t, s, func(tx store.Tx) error {
		o2 := id(0x20)
		put(t, tx, meta(o2, o2, 0), meta(id(3), obj, 2, c2.ID), meta(id(0x21), o2, 1, o2), meta(id(4), obj, 3, id(3)))
		ms, err := tx.Changes(obj, 0)
		if err != nil || fmt.Sprint(idsOf(ms)) != fmt.Sprint([]change.ID{c1.ID, c2.ID, id(3), id(4)}) {
			t.Fatalf("changes of one object among others = %v, %v", idsOf(ms), err)
		}
		ms, err = tx.Changes(o2, 0)
		if err != nil || fmt.Sprint(idsOf(ms)) != fmt.Sprint([]change.ID{o2, id(0x21)}) {
			t.Fatalf("changes of the other object = %v, %v", idsOf(ms), err)
		}
		if objs, err := tx.ChangeObjects(); err != nil || !sameIDs(objs, []change.ID{obj, o2}) {
			t.Fatalf("objects with changes = %v, %v", objs, err)
		}
		return nil
	})
}

// Every combination of the four flags comes back as it went in, from
// every read of metadata, and from parking.
func testFlags(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	var want []store.ChangeMeta
	for i := range 16 {
		m := meta(id(0x10, byte(i)), obj, uint64(i+1), obj)
		m.Snapshot, m.NewVersion, m.Local, m.Inert = i&1 != 0, i&2 != 0, i&4 != 0, i&8 != 0
		want = append(want, m)
	}
	update(t, s, func(tx store.Tx) error {
		put(t, tx, c1)
		for i, m := range want {
			want[i].Seq = put(t, tx, m)[0]
			want[i].Size = len(raw(m.ID))
		}
		p := want[5]
		p.ID, p.Object = id(0x99), id(0x98)
		return tx.Park(p, []byte("parked"))
	})
	view(t, s, func(tx store.Tx) error {
		ms, err := tx.Changes(obj, 0)
		must(t, err)
		after, _, err := tx.ChangesAfter(obj, 0)
		must(t, err)
		if len(ms) != 17 || len(after) != 17 {
			t.Fatalf("%d and %d changes, want 17", len(ms), len(after))
		}
		for i, w := range want {
			m, err := tx.Meta(w.ID)
			must(t, err)
			for _, got := range []store.ChangeMeta{ms[i+1], after[i+1], m} {
				if metaString(got) != metaString(w) {
					t.Fatalf("flags not kept:\n got %s\nwant %s", metaString(got), metaString(w))
				}
			}
		}
		parked, _, err := tx.Parked(id(0x98))
		if err != nil || len(parked) != 1 || !parked[0].Snapshot || parked[0].NewVersion || !parked[0].Local || parked[0].Inert {
			t.Fatalf("parked flags = %+v, %v; want snapshot and local", parked, err)
		}
		return nil
	})
}

func testSetInert(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	m := c2
	m.Local = true
	var seq int64
	update(t, s, func(tx store.Tx) error {
		put(t, tx, c1)
		seq = put(t, tx, m)[0]
		return tx.SetInert(m.ID, true)
	})
	m.Seq, m.Size = seq, len(raw(m.ID))
	check := func(inert bool) {
		t.Helper()
		view(t, s, func(tx store.Tx) error {
			w := m
			w.Inert = inert
			got, err := tx.Meta(m.ID)
			if err != nil || metaString(got) != metaString(w) {
				t.Fatalf("after set inert %v:\n got %s, %v\nwant %s", inert, metaString(got), err, metaString(w))
			}
			ms, err := tx.Changes(obj, 0)
			if err != nil || len(ms) != 2 || ms[1].Inert != inert || ms[0].Inert {
				t.Fatalf("changes after set inert %v = %+v, %v", inert, ms, err)
			}
			if r, err := tx.RawChange(m.ID); err != nil || string(r) != string(raw(m.ID)) {
				t.Fatalf("raw after set inert = %q, %v", r, err)
			}
			return nil
		})
	}
	check(true)
	update(t, s, func(tx store.Tx) error { return tx.SetInert(m.ID, true) }) // again: stays
	check(true)
	update(t, s, func(tx store.Tx) error { return tx.SetInert(m.ID, false) })
	check(false)
	update(t, s, func(tx store.Tx) error {
		if err := tx.SetInert(id(9), true); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("set inert of a missing change: %v", err)
		}
		return nil
	})
}

func testDeleteChange(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	var seqs []int64
	update(t, s, func(tx store.Tx) error {
		seqs = put(t, tx, c1, c2)
		return tx.SetHeads(obj, []change.ID{c2.ID})
	})
	update(t, s, func(tx store.Tx) error {
		must(t, tx.DeleteChange(c2.ID))
		must(t, tx.DeleteChange(id(9))) // not stored: nothing to do
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		if ok, err := tx.HasChange(c2.ID); ok || err != nil {
			t.Fatalf("has a deleted change: %v, %v", ok, err)
		}
		if got, err := tx.StoredOf([]change.ID{c1.ID, c2.ID}); err != nil || len(got) != 1 || !got[c1.ID] {
			t.Fatalf("stored of = %v, %v", got, err)
		}
		if _, err := tx.RawChange(c2.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("raw of a deleted change: %v", err)
		}
		if _, err := tx.Meta(c2.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("meta of a deleted change: %v", err)
		}
		if ms, err := tx.Changes(obj, 0); err != nil || len(ms) != 1 || ms[0].ID != c1.ID {
			t.Fatalf("changes after delete = %+v, %v", ms, err)
		}
		if n, err := tx.CountChanges(); err != nil || n != 1 {
			t.Fatalf("count after delete = %d, %v", n, err)
		}
		if heads, err := tx.Heads(obj); err != nil || len(heads) != 1 || heads[0] != c2.ID {
			t.Fatalf("heads are the caller's, not DeleteChange's: %v, %v", heads, err)
		}
		return nil
	})
	// Stored again (sync brought it back), it arrives anew: after every
	// arrival number given before, so that whoever watches arrivals sees it.
	update(t, s, func(tx store.Tx) error {
		seq := put(t, tx, c2)[0]
		if seq <= seqs[1] {
			t.Fatalf("stored again with arrival number %d, not after %d", seq, seqs[1])
		}
		if ms, err := tx.Changes(obj, seqs[1]); err != nil || len(ms) != 1 || ms[0].ID != c2.ID {
			t.Fatalf("changes after the old arrival number = %+v, %v", ms, err)
		}
		must(t, tx.DeleteChange(c1.ID))
		return tx.DeleteChange(c2.ID)
	})
	view(t, s, func(tx store.Tx) error {
		if objs, err := tx.ChangeObjects(); err != nil || len(objs) != 0 {
			t.Fatalf("objects with changes after deleting all = %v, %v", objs, err)
		}
		if n, err := tx.CountChanges(); err != nil || n != 0 {
			t.Fatalf("count after deleting all = %d, %v", n, err)
		}
		return nil
	})
}

// StoredOf answers for many more ids than one query holds, stored ones
// scattered among them, in one call.
func testStoredOf(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	var stored, asked []change.ID
	for i := range 300 {
		stored = append(stored, id(0x30, byte(i), byte(i>>8)))
	}
	for i := range 700 {
		if i%2 == 0 && i/2 < len(stored) {
			asked = append(asked, stored[i/2])
		}
		asked = append(asked, id(0x31, byte(i), byte(i>>8)))
	}
	asked = append(asked, stored[7], stored[299]) // asked twice
	update(t, s, func(tx store.Tx) error {
		for _, c := range stored {
			put(t, tx, meta(c, c, 0))
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.StoredOf(asked)
		if err != nil || len(got) != len(stored) {
			t.Fatalf("stored of %d ids: %d found, %v; want %d", len(asked), len(got), err, len(stored))
		}
		for _, c := range stored {
			if !got[c] {
				t.Fatalf("stored of: %s missing", c.Short())
			}
		}
		for _, ids := range [][]change.ID{nil, {}, {id(0x31)}} {
			if got, err := tx.StoredOf(ids); err != nil || len(got) != 0 {
				t.Fatalf("stored of %v = %v, %v", ids, got, err)
			}
		}
		if got, err := tx.StoredOf(stored[5:6]); err != nil || len(got) != 1 || !got[stored[5]] {
			t.Fatalf("stored of one = %v, %v", got, err)
		}
		// Every length, across the sizes of list a query holds.
		isStored := map[change.ID]bool{}
		for _, c := range stored {
			isStored[c] = true
		}
		for n := 1; n <= 300; n++ {
			want := map[change.ID]bool{}
			for _, c := range asked[:n] {
				if isStored[c] {
					want[c] = true
				}
			}
			if got, err := tx.StoredOf(asked[:n]); err != nil || !maps.Equal(got, want) {
				t.Fatalf("stored of the first %d: %d found, %v; want %d", n, len(got), err, len(want))
			}
		}
		return nil
	})
}

func testHeads(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	o2 := id(0x20)
	update(t, s, func(tx store.Tx) error {
		must(t, tx.SetHeads(obj, []change.ID{id(9), id(3), id(5), id(3)}))
		return tx.SetHeads(o2, []change.ID{id(0x21)})
	})
	view(t, s, func(tx store.Tx) error {
		want := []change.ID{id(3), id(5), id(9)}
		if heads, err := tx.Heads(obj); err != nil || fmt.Sprint(heads) != fmt.Sprint(want) {
			t.Fatalf("heads = %v, %v; want %v (sorted, once each)", heads, err, want)
		}
		all, err := tx.AllHeads()
		if err != nil || len(all) != 2 || fmt.Sprint(all[obj]) != fmt.Sprint(want) || fmt.Sprint(all[o2]) != fmt.Sprint([]change.ID{id(0x21)}) {
			t.Fatalf("all heads = %v, %v", all, err)
		}
		if heads, err := tx.Heads(id(0x77)); err != nil || len(heads) != 0 {
			t.Fatalf("heads of an unknown object = %v, %v", heads, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		must(t, tx.SetHeads(obj, []change.ID{id(7)}))
		return tx.SetHeads(o2, nil)
	})
	view(t, s, func(tx store.Tx) error {
		if heads, err := tx.Heads(obj); err != nil || len(heads) != 1 || heads[0] != id(7) {
			t.Fatalf("heads after replacing = %v, %v", heads, err)
		}
		if all, err := tx.AllHeads(); err != nil || len(all) != 1 || len(all[obj]) != 1 {
			t.Fatalf("all heads after emptying one = %v, %v", all, err)
		}
		return nil
	})
}

func testChangedBy(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	view(t, s, func(tx store.Tx) error {
		if objs, last, err := tx.ChangedBy([]byte("a"), 0); err != nil || len(objs) != 0 || last != 0 {
			t.Fatalf("changed by in an empty store = %v, %d, %v", objs, last, err)
		}
		return nil
	})
	o1, o2, o3 := id(0x41), id(0x42), id(0x43)
	by := func(m store.ChangeMeta, author string) store.ChangeMeta { m.Author = []byte(author); return m }
	var seqs []int64
	update(t, s, func(tx store.Tx) error {
		seqs = put(t, tx, by(meta(o1, o1, 0), "a"), by(meta(o2, o2, 0), "b"), by(meta(id(0x41, 1), o1, 1, o1), "a"),
			by(meta(o3, o3, 0), "a"), by(meta(id(0x42, 1), o2, 1, o2), "b"))
		return nil
	})
	last := seqs[len(seqs)-1]
	view(t, s, func(tx store.Tx) error {
		for _, c := range []struct {
			author string
			after  int64
			want   []change.ID
		}{
			{"a", 0, []change.ID{o1, o3}},
			{"b", 0, []change.ID{o2}},
			{"a", seqs[2], []change.ID{o3}},
			{"a", seqs[3], nil},
			{"b", seqs[3], []change.ID{o2}},
			{"c", 0, nil},
			{"a", last, nil},
		} {
			objs, got, err := tx.ChangedBy([]byte(c.author), c.after)
			if err != nil || !sameIDs(objs, c.want) || got != last {
				t.Fatalf("changed by %s after %d = %v, %d, %v; want %v, %d", c.author, c.after, objs, got, err, c.want, last)
			}
		}
		// By anyone.
		if objs, got, err := tx.ChangedBy(nil, seqs[1]); err != nil || !sameIDs(objs, []change.ID{o1, o2, o3}) || got != last {
			t.Fatalf("changed by anyone after %d = %v, %d, %v", seqs[1], objs, got, err)
		}
		if objs, _, err := tx.ChangedBy(nil, seqs[3]); err != nil || !sameIDs(objs, []change.ID{o2}) {
			t.Fatalf("changed by anyone after %d = %v, %v", seqs[3], objs, err)
		}
		// Nothing stored after seq: seq comes back.
		if objs, got, err := tx.ChangedBy([]byte("a"), last+5); err != nil || len(objs) != 0 || got != last+5 {
			t.Fatalf("changed by after a later seq = %v, %d, %v", objs, got, err)
		}
		return nil
	})
}

func testParked(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	o2 := id(0x20)
	p1 := meta(id(7), obj, 5, id(6))
	p2 := meta(id(3), obj, 6, id(7), id(2))
	p2.NewVersion = true
	p3 := meta(id(0x21), o2, 2, id(0x22))
	update(t, s, func(tx store.Tx) error {
		for _, p := range []store.ChangeMeta{p1, p2, p3} {
			must(t, tx.Park(p, raw(p.ID)))
		}
		return tx.Park(p1, []byte("again")) // the first copy is kept
	})
	view(t, s, func(tx store.Tx) error {
		ms, raws, err := tx.Parked(obj)
		must(t, err)
		if len(ms) != 2 || len(raws) != 2 {
			t.Fatalf("parked = %+v, %v", ms, err)
		}
		for i, want := range []store.ChangeMeta{p1, p2} { // in the order parked
			want.Size = len(raw(want.ID))
			if metaString(ms[i]) != metaString(want) || string(raws[i]) != string(raw(want.ID)) {
				t.Fatalf("parked %d:\n got %s %q\nwant %s", i, metaString(ms[i]), raws[i], metaString(want))
			}
		}
		if objs, err := tx.ParkedObjects(); err != nil || !sameIDs(objs, []change.ID{obj, o2}) {
			t.Fatalf("parked objects = %v, %v", objs, err)
		}
		if ok, err := tx.HasChange(p1.ID); ok || err != nil {
			t.Fatalf("a parked change is not a stored one: %v, %v", ok, err)
		}
		if ms, _, err := tx.Parked(id(0x77)); err != nil || len(ms) != 0 {
			t.Fatalf("parked of an unknown object = %v, %v", ms, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		must(t, tx.Unpark(p1.ID))
		must(t, tx.Unpark(p3.ID))
		return tx.Unpark(id(0x55)) // not parked: nothing to do
	})
	view(t, s, func(tx store.Tx) error {
		if ms, _, err := tx.Parked(obj); err != nil || len(ms) != 1 || ms[0].ID != p2.ID {
			t.Fatalf("parked after unpark = %+v, %v", ms, err)
		}
		if objs, err := tx.ParkedObjects(); err != nil || len(objs) != 1 || objs[0] != obj {
			t.Fatalf("parked objects after unpark = %v, %v", objs, err)
		}
		return nil
	})
}

// Parked changes are counted in bytes, per object and in all, and the
// oldest that is not the store's own can be dropped (a bound on what
// changes waiting for their parents may take).
func testParkedBudget(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	o2 := id(0x20)
	own := meta(id(1), obj, 5, id(0x61))
	own.Local = true
	first := meta(id(2), o2, 5, id(0x62))
	second := meta(id(3), obj, 6, id(0x63))
	update(t, s, func(tx store.Tx) error {
		must(t, tx.Park(own, make([]byte, 100)))
		must(t, tx.Park(first, make([]byte, 10)))
		return tx.Park(second, make([]byte, 1))
	})
	update(t, s, func(tx store.Tx) error {
		for object, want := range map[change.ID]int64{{}: 111, obj: 101, o2: 10, id(0x77): 0} {
			if n, err := tx.ParkedBytes(object); err != nil || n != want {
				t.Fatalf("parked bytes of %x = %d, %v; want %d", object[:1], n, err, want)
			}
		}
		for _, want := range []change.ID{first.ID, second.ID} {
			if got, ok, err := tx.DropOldestParked(); err != nil || !ok || got != want {
				t.Fatalf("dropped %x, %v, %v; want %x", got[:1], ok, err, want[:1])
			}
		}
		if _, ok, err := tx.DropOldestParked(); err != nil || ok {
			t.Fatalf("dropped the store's own parked change (%v, %v)", ok, err)
		}
		if n, err := tx.ParkedBytes(change.ID{}); err != nil || n != 100 {
			t.Fatalf("parked bytes after dropping = %d, %v", n, err)
		}
		return nil
	})
}

// testPurgeObject: PurgeObject leaves nothing of the object (changes,
// heads, index row and text, links, parked and damaged changes, snapshot,
// chunk references, peers' word) and nothing else goes.
func testPurgeObject(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	other := id(0x50)
	c3 := store.ChangeMeta{ID: id(3), Object: obj, Parents: []change.ID{c2.ID}, Author: []byte("author"), Lamport: 2, Time: ms(3000), Chunks: [][32]byte{{0xc1}}}
	c4 := store.ChangeMeta{ID: id(4), Object: obj, Parents: []change.ID{id(0x99)}, Author: []byte("author"), Lamport: 3, Time: ms(4000)}
	o := store.ChangeMeta{ID: other, Object: other, Author: []byte("author"), Time: ms(1000), Chunks: [][32]byte{{0xc1}}}
	update(t, s, func(tx store.Tx) error {
		put(t, tx, c1, c2, c3, o)
		must(t, tx.SetHeads(obj, []change.ID{c3.ID}))
		must(t, tx.SetHeads(other, []change.ID{other}))
		must(t, tx.PutObject(store.Object{ID: obj, Title: "Purged page", Body: "words of it", Type: "page", Links: []change.ID{other}}))
		must(t, tx.PutObject(store.Object{ID: other, Title: "Kept page", Type: "page"}))
		must(t, tx.Park(c4, raw(c4.ID)))
		must(t, tx.PutSnapshot(obj, store.Snapshot{Seq: 1, Sealed: []byte("sealed")}))
		must(t, tx.PutHeld("peer", obj, [32]byte{1}))
		must(t, tx.PutHeld("peer", other, [32]byte{2}))
		return tx.Quarantine(store.Damaged{ID: c2.ID, Reason: "test"})
	})
	update(t, s, func(tx store.Tx) error {
		n, err := tx.PurgeObject(obj)
		if err != nil || n != 2 { // c1 and c3 (c2 was quarantined)
			t.Fatalf("purged %d changes, %v; want 2", n, err)
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		if ms, err := tx.Changes(obj, 0); err != nil || len(ms) != 0 {
			t.Fatalf("changes left: %v, %v", ms, err)
		}
		if h, err := tx.Heads(obj); err != nil || len(h) != 0 {
			t.Fatalf("heads left: %v, %v", h, err)
		}
		if _, err := tx.Object(obj); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("index row left: %v", err)
		}
		q, err := fts.Parse("words")
		must(t, err)
		if hits, err := tx.Search(store.SearchQuery{Query: q}); err != nil || len(hits) != 0 {
			t.Fatalf("search still finds it: %v, %v", hits, err)
		}
		if bl, err := tx.Backlinks(other); err != nil || len(bl) != 0 {
			t.Fatalf("its links left: %v, %v", bl, err)
		}
		if p, _, err := tx.Parked(obj); err != nil || len(p) != 0 {
			t.Fatalf("parked left: %v, %v", p, err)
		}
		if d, err := tx.Damaged(obj); err != nil || len(d) != 0 {
			t.Fatalf("damaged left: %v, %v", d, err)
		}
		if _, err := tx.Snapshot(obj); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("snapshot left: %v", err)
		}
		if h, err := tx.Held("peer"); err != nil || len(h) != 1 || h[other] != [32]byte{2} {
			t.Fatalf("held after purge: %v, %v", h, err)
		}
		if cs, err := tx.ObjectChunks(obj); err != nil || len(cs) != 0 {
			t.Fatalf("chunk refs left: %v, %v", cs, err)
		}
		if objs, err := tx.ChunkObjects([32]byte{0xc1}); err != nil || len(objs) != 1 || objs[0] != other {
			t.Fatalf("the other object's chunk ref: %v, %v", objs, err)
		}
		if ok, err := tx.HasChange(other); err != nil || !ok {
			t.Fatalf("the other object lost its change: %v, %v", ok, err)
		}
		if _, err := tx.Object(other); err != nil {
			t.Fatalf("the other object's row: %v", err)
		}
		return nil
	})
}
