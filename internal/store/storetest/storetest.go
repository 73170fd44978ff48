// Package storetest is the contract every store.Store implementation must
// meet; each implementation's tests call Run.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
)

// Run checks s against the store contract. s must be empty.
func Run(t *testing.T, s store.Store) {
	ctx := context.Background()
	obj := change.ID{1}
	c1 := store.ChangeMeta{ID: obj, Object: obj, Author: []byte("author"), Lamport: 0, Time: time.UnixMilli(1000).UTC()}
	c2 := store.ChangeMeta{ID: change.ID{2}, Object: obj, Parents: []change.ID{obj}, Author: []byte("author"), Lamport: 1, Time: time.UnixMilli(2000).UTC(), Snapshot: true, NewVersion: true}

	t.Run("changes", func(t *testing.T) {
		err := s.Update(ctx, func(tx store.Tx) error {
			for _, c := range []store.ChangeMeta{c1, c2} {
				if seq, ok, err := tx.PutChange(c, []byte("raw-"+c.ID.Short())); err != nil || !ok || seq <= 0 {
					t.Fatalf("put %s: %v %v %v", c.ID.Short(), seq, ok, err)
				}
			}
			if _, ok, err := tx.PutChange(c1, []byte("other")); err != nil || ok {
				t.Fatalf("second put of the same change: stored=%v err=%v", ok, err)
			}
			return tx.SetHeads(obj, []change.ID{c2.ID})
		})
		if err != nil {
			t.Fatal(err)
		}
		s.View(ctx, func(tx store.Tx) error {
			raw, err := tx.RawChange(c1.ID)
			if err != nil || string(raw) != "raw-"+c1.ID.Short() {
				t.Fatalf("raw = %q, %v (a second put must not overwrite)", raw, err)
			}
			if _, err := tx.RawChange(change.ID{9}); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("missing change: %v", err)
			}
			ms, err := tx.Changes(obj, 0)
			if err != nil || len(ms) != 2 || ms[0].ID != c1.ID || ms[1].ID != c2.ID {
				t.Fatalf("changes = %+v, %v", ms, err)
			}
			if !ms[1].Snapshot || !ms[1].NewVersion || ms[0].NewVersion || ms[1].Parents[0] != obj || !ms[1].Time.Equal(c2.Time) || ms[1].Lamport != 1 {
				t.Fatalf("metadata not kept: %+v", ms[1])
			}
			after, raws, err := tx.ChangesAfter(obj, ms[0].Seq)
			if err != nil || len(after) != 1 || after[0].ID != c2.ID || string(raws[0]) != "raw-"+c2.ID.Short() || ms[0].Seq >= ms[1].Seq {
				t.Fatalf("changes after %d = %+v, %v", ms[0].Seq, after, err)
			}
			m, err := tx.Meta(c2.ID)
			if err != nil || m.Parents[0] != obj || m.Object != obj {
				t.Fatalf("meta = %+v, %v", m, err)
			}
			if _, err := tx.Meta(change.ID{9}); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("meta of a missing change: %v", err)
			}
			if n, err := tx.CountChanges(); err != nil || n != 2 {
				t.Fatalf("count = %d, %v", n, err)
			}
			var many []change.ID // more than one query's worth
			for i := range 300 {
				many = append(many, change.ID{byte(i), byte(i >> 8), 0xee})
			}
			many = append(many, c2.ID, c1.ID)
			if got, err := tx.StoredOf(many); err != nil || len(got) != 2 || !got[c1.ID] || !got[c2.ID] {
				t.Fatalf("stored of %d ids = %v, %v; want the 2 stored", len(many), got, err)
			}
			if got, err := tx.StoredOf(nil); err != nil || len(got) != 0 {
				t.Fatalf("stored of none = %v, %v", got, err)
			}
			if last, err := tx.LastSeq(); err != nil || last != ms[1].Seq {
				t.Fatalf("last seq = %d, %v; want %d", last, err, ms[1].Seq)
			}
			if later, err := tx.Changes(obj, ms[1].Seq); err != nil || len(later) != 0 {
				t.Fatalf("changes after the last = %+v, %v", later, err)
			}
			objs, last, err := tx.ChangedBy([]byte("author"), ms[0].Seq)
			if err != nil || len(objs) != 1 || objs[0] != obj || last != ms[1].Seq {
				t.Fatalf("changed by author after %d = %v, %d, %v", ms[0].Seq, objs, last, err)
			}
			if objs, last, err := tx.ChangedBy([]byte("someone else"), 0); err != nil || len(objs) != 0 || last != ms[1].Seq {
				t.Fatalf("changed by another author = %v, %d, %v", objs, last, err)
			}
			if objs, last, err := tx.ChangedBy([]byte("author"), ms[1].Seq); err != nil || len(objs) != 0 || last != ms[1].Seq {
				t.Fatalf("changed by author after the last = %v, %d, %v", objs, last, err)
			}
			all, err := tx.AllHeads()
			if err != nil || len(all) != 1 || all[obj][0] != c2.ID {
				t.Fatalf("all heads = %v, %v", all, err)
			}
			heads, err := tx.Heads(obj)
			if err != nil || len(heads) != 1 || heads[0] != c2.ID {
				t.Fatalf("heads = %v, %v", heads, err)
			}
			return nil
		})
	})

	t.Run("rollback", func(t *testing.T) {
		boom := errors.New("boom")
		err := s.Update(ctx, func(tx store.Tx) error {
			tx.PutChange(store.ChangeMeta{ID: change.ID{3}, Object: obj}, []byte("x"))
			tx.SetSetting("k", []byte("v"))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("update error = %v", err)
		}
		s.View(ctx, func(tx store.Tx) error {
			if ok, _ := tx.HasChange(change.ID{3}); ok {
				t.Fatal("a failed update left a change behind")
			}
			if v, _ := tx.Setting("k"); v != nil {
				t.Fatal("a failed update left a setting behind")
			}
			return nil
		})
	})

	t.Run("objects", func(t *testing.T) {
		o := store.Object{ID: obj, Title: "Garden plans", Type: "page", Created: time.UnixMilli(1000).UTC(), Updated: time.UnixMilli(5000).UTC(),
			Snippet: "Tomatoes", Changes: 2, Body: "Tomatoes and basil along the south wall", Snapshot: change.ID{2}, SnapshotSeq: 2}
		o2 := store.Object{ID: change.ID{0x1f}, Title: "Other", Type: "page", Updated: time.UnixMilli(9000).UTC(), Body: "nothing"}
		s.Update(ctx, func(tx store.Tx) error {
			if err := tx.PutObject(o); err != nil {
				t.Fatal(err)
			}
			o.Archived = true
			if err := tx.PutObject(o); err != nil {
				t.Fatal(err)
			}
			return tx.PutObject(o2)
		})
		s.View(ctx, func(tx store.Tx) error {
			got, err := tx.Object(obj)
			if err != nil || got.Title != o.Title || !got.Archived || got.Changes != 2 || got.Snapshot != o.Snapshot || got.SnapshotSeq != 2 {
				t.Fatalf("object = %+v, %v", got, err)
			}
			all, _ := tx.Objects()
			if len(all) != 2 || all[0].ID != o2.ID {
				t.Fatalf("objects not newest first: %+v", all)
			}
			hits, err := tx.Search("basil sou", 10)
			if err != nil || len(hits) != 1 || hits[0].ID != obj {
				t.Fatalf("search = %+v, %v", hits, err)
			}
			if hits, err := tx.Search(`"unbalanced AND (`, 10); err != nil || len(hits) != 0 {
				t.Fatalf("odd query: %v %v", hits, err)
			}
			if stale, err := tx.StaleText(); err != nil || len(stale) != 0 {
				t.Fatalf("stale = %v, %v", stale, err)
			}
			ids, err := tx.ObjectsWithPrefix("01")
			if err != nil || len(ids) != 1 || ids[0] != obj {
				t.Fatalf("prefix = %v, %v", ids, err)
			}
			return nil
		})
	})

	t.Run("stale text", func(t *testing.T) {
		s.Update(ctx, func(tx store.Tx) error {
			o, _ := tx.Object(obj)
			o.TextStale, o.Body = true, "cucumbers"
			return tx.PutObject(o)
		})
		s.Update(ctx, func(tx store.Tx) error {
			stale, err := tx.StaleText()
			if err != nil || len(stale) != 1 || stale[0] != obj {
				t.Fatalf("stale = %v, %v", stale, err)
			}
			if hits, _ := tx.Search("cucumbers", 5); len(hits) != 0 {
				t.Fatal("a stale put must not index its body")
			}
			if _, _, ok, err := tx.IndexedText(obj); ok || err != nil {
				t.Fatalf("indexed text of a stale object: ok=%v err=%v", ok, err)
			}
			if hits, _ := tx.Search("basil", 5); len(hits) != 1 {
				t.Fatal("a stale put must keep the old text indexed")
			}
			o, _ := tx.Object(obj)
			o.TextStale, o.Body = false, "cucumbers"
			return tx.PutObject(o)
		})
		s.View(ctx, func(tx store.Tx) error {
			if hits, _ := tx.Search("cucumbers", 5); len(hits) != 1 {
				t.Fatal("text not reindexed")
			}
			o, _ := tx.Object(obj)
			if title, body, ok, err := tx.IndexedText(obj); !ok || err != nil || body != "cucumbers" || title != o.Title {
				t.Fatalf("indexed text = %q, %q, %v, %v", title, body, ok, err)
			}
			if _, _, ok, err := tx.IndexedText(change.ID{0xab}); ok || err != nil {
				t.Fatalf("indexed text of no object: ok=%v err=%v", ok, err)
			}
			if objs, err := tx.ChangeObjects(); err != nil || len(objs) != 1 || objs[0] != obj {
				t.Fatalf("objects with changes = %v, %v", objs, err)
			}
			return nil
		})
	})

	t.Run("parked and members", func(t *testing.T) {
		p := store.ChangeMeta{ID: change.ID{7}, Object: obj, Parents: []change.ID{{6}}, Author: []byte("a"), Lamport: 5}
		s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Park(p, []byte("parked")); err != nil {
				t.Fatal(err)
			}
			tx.PutMemberRecord([]byte("r1"))
			tx.PutMemberRecord([]byte("r2"))
			return tx.PutMemberRecord([]byte("r1"))
		})
		s.Update(ctx, func(tx store.Tx) error {
			ms, raws, err := tx.Parked(obj)
			if err != nil || len(ms) != 1 || ms[0].ID != p.ID || string(raws[0]) != "parked" {
				t.Fatalf("parked = %+v, %v", ms, err)
			}
			if objs, err := tx.ParkedObjects(); err != nil || len(objs) != 1 || objs[0] != obj {
				t.Fatalf("parked objects = %v, %v", objs, err)
			}
			if err := tx.Unpark(p.ID); err != nil {
				t.Fatal(err)
			}
			ms, _, _ = tx.Parked(obj)
			if len(ms) != 0 {
				t.Fatal("unpark left the change")
			}
			if objs, _ := tx.ParkedObjects(); len(objs) != 0 {
				t.Fatalf("parked objects after unpark = %v", objs)
			}
			recs, err := tx.MemberRecords()
			if err != nil || len(recs) != 2 || string(recs[1]) != "r2" {
				t.Fatalf("members = %q, %v", recs, err)
			}
			return nil
		})
	})
}
