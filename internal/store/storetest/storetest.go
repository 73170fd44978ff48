// Package storetest is the contract every store.Store implementation must
// meet; each implementation's tests call Run.
//
// Every subtest starts from a new, empty store, so that each checks one
// part of the contract and a failure in one says nothing about the others.
// Where store.go leaves an order open (ChangeObjects, ChangedBy, Damaged,
// ...) the suite compares sets; where it says one, it checks it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
)

// Impl is an implementation under test.
type Impl struct {
	// New returns a new, empty store. The suite closes it.
	New func(t *testing.T) store.Store
	// OpenCopy opens a file that the implementation's CopyTo wrote. The
	// suite closes it.
	OpenCopy func(t *testing.T, path string) store.Store
}

// Run checks impl against the store contract.
func Run(t *testing.T, impl Impl) {
	for _, c := range []struct {
		name string
		f    func(*testing.T, Impl)
	}{
		{"changes", testChanges},
		{"flags", testFlags},
		{"set inert", testSetInert},
		{"delete change", testDeleteChange},
		{"purge object", testPurgeObject},
		{"stored of", testStoredOf},
		{"heads", testHeads},
		{"changed by", testChangedBy},
		{"parked", testParked},
		{"parked budget", testParkedBudget},
		{"objects", testObjects},
		{"search", testSearch},
		{"search match", testSearchMatch},
		{"search language", testSearchLanguage},
		{"search pages", testSearchPages},
		{"search long text", testSearchLongText},
		{"stale text", testStaleText},
		{"backlinks", testBacklinks},
		{"objects with prefix", testObjectsWithPrefix},
		{"objects page", testObjectsPage},
		{"settings", testSettings},
		{"members", testMembers},
		{"snapshots", testSnapshots},
		{"held", testHeld},
		{"node acks", testNodeAcks},
		{"quarantine", testQuarantine},
		{"chunk refs", testChunkRefs},
		{"chunk held", testChunkHeld},
		{"caller's slices", testCallersSlices},
		{"rollback", testRollback},
		{"panic", testPanic},
		{"goexit", testGoexit},
		{"canceled context", testCanceled},
		{"isolation", testIsolation},
		{"writers serialized", testWritersSerialized},
		{"integrity check", testIntegrityCheck},
		{"close", testClose},
		{"copy", testCopy},
		{"copy ciphertext only", testCopyCiphertextOnly},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.f(t, impl)
		})
	}
}

var ctx = context.Background()

// fresh returns a new, empty store of impl, closed when the test ends.
func fresh(t *testing.T, impl Impl) store.Store {
	t.Helper()
	s := impl.New(t)
	t.Cleanup(func() { s.Close() })
	return s
}

// update runs f in an Update and fails the test if it fails.
func update(t *testing.T, s store.Store, f func(tx store.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, f); err != nil {
		t.Fatal(err)
	}
}

// view runs f in a View and fails the test if it fails.
func view(t *testing.T, s store.Store, f func(tx store.Tx) error) {
	t.Helper()
	if err := s.View(ctx, f); err != nil {
		t.Fatal(err)
	}
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// id is an id starting with b (the rest zero).
func id(b ...byte) change.ID {
	var x change.ID
	copy(x[:], b)
	return x
}

// ms is a time a store keeps exactly: milliseconds, UTC.
func ms(n int64) time.Time { return time.UnixMilli(n).UTC() }

// meta is a change of object obj (its root when c == obj).
func meta(c, obj change.ID, lamport uint64, parents ...change.ID) store.ChangeMeta {
	return store.ChangeMeta{ID: c, Object: obj, Parents: parents, Author: []byte("author"), Lamport: lamport, Time: ms(int64(1000 + lamport))}
}

// raw is a change's bytes in these tests.
func raw(c change.ID) []byte { return []byte("raw-" + c.String()) }

// put stores changes with raw(id) as bytes and returns their arrival
// numbers.
func put(t *testing.T, tx store.Tx, ms ...store.ChangeMeta) []int64 {
	t.Helper()
	var seqs []int64
	for _, m := range ms {
		seq, ok, err := tx.PutChange(m, raw(m.ID))
		if err != nil || !ok || seq <= 0 {
			t.Fatalf("put %s: seq %d, stored %v, %v", m.ID.Short(), seq, ok, err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// sameIDs says whether a and b hold the same ids, in any order.
func sameIDs(a, b []change.ID) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(x change.ID) bool { return !slices.Contains(b, x) })
}

func idsOf(ms []store.ChangeMeta) []change.ID {
	var out []change.ID
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// metaString is a change's metadata as text, for comparisons that do not
// care whether an empty list is nil.
func metaString(m store.ChangeMeta) string {
	return fmt.Sprintf("id=%s object=%s parents=%v author=%q lamport=%d time=%d snapshot=%v version=%v local=%v inert=%v size=%d seq=%d",
		m.ID.Short(), m.Object.Short(), m.Parents, m.Author, m.Lamport, m.Time.UnixMilli(), m.Snapshot, m.NewVersion, m.Local, m.Inert, m.Size, m.Seq)
}

// fixture is a store filled with one of everything, for the tests of
// transactions and copies. Its words are distinctive, so that a copy's
// bytes can be searched for them.
type fixture struct {
	objects  []change.ID
	settings []string
	peers    []string
	// plaintext is every title, snippet and word of text written.
	plaintext []string
}

var (
	fixA = id(0xa1)
	fixB = id(0xb2)
	fixC = id(0xc3)
)

func fill(t *testing.T, s store.Store) fixture {
	t.Helper()
	f := fixture{objects: []change.ID{fixA, fixB, fixC}, settings: []string{"vault_id", "nodes"}, peers: []string{"peer-1", "peer-2"},
		plaintext: []string{"Quokkaparadise", "Zanzibarquill", "Marmaladesnippet", "Pangolinsnippet", "xylophonequartz", "ultramarinewombat", "Brontosaurusfjord"}}
	update(t, s, func(tx store.Tx) error {
		a1 := meta(id(0xa1, 1), fixA, 1, fixA)
		a1.Local = true
		a2 := meta(id(0xa1, 2), fixA, 2, a1.ID)
		a2.Snapshot, a2.NewVersion, a2.Inert = true, true, true
		b1 := meta(id(0xb2, 1), fixB, 1, fixB)
		put(t, tx, meta(fixA, fixA, 0), a1, a2, meta(fixB, fixB, 0), b1, meta(fixC, fixC, 0), meta(id(0xc3, 9), fixC, 9, fixC))
		must(t, tx.Quarantine(store.Damaged{ID: id(0xc3, 9), Reason: "bytes hash to something else", Time: ms(7000)}))
		must(t, tx.SetHeads(fixA, []change.ID{a2.ID}))
		must(t, tx.SetHeads(fixB, []change.ID{b1.ID}))
		must(t, tx.SetHeads(fixC, []change.ID{fixC}))
		must(t, tx.Park(meta(id(0xb2, 5), fixB, 5, id(0xb2, 4)), raw(id(0xb2, 5))))
		must(t, tx.PutMemberRecord([]byte("member-record-1")))
		must(t, tx.PutMemberRecord([]byte("member-record-2")))
		must(t, tx.SetSetting("vault_id", []byte{1, 2, 3}))
		must(t, tx.SetSetting("nodes", []byte(`["node"]`)))
		must(t, tx.PutSnapshot(fixA, store.Snapshot{Seq: 3, Sealed: []byte("sealed-state-a")}))
		must(t, tx.PutHeld("peer-1", fixA, [32]byte{1}))
		must(t, tx.PutHeld("peer-1", fixB, [32]byte{2}))
		must(t, tx.PutHeld("peer-2", fixA, [32]byte{3}))
		must(t, tx.PutNodeAck(store.NodeAck{Node: "node-1", Object: fixA, Heads: []change.ID{a2.ID}, Time: 7000, Sig: []byte("node-sig"), Lied: 8000}))
		must(t, tx.PutObject(store.Object{ID: fixA, Title: "Quokkaparadise", Type: "page", Created: ms(1000), Updated: ms(5000),
			Snippet: "Marmaladesnippet", Changes: 3, Body: "xylophonequartz and more", Snapshot: id(0xa1, 2), SnapshotSeq: 3}))
		must(t, tx.PutObject(store.Object{ID: fixB, Title: "Zanzibarquill", Type: "task", Archived: true, Created: ms(1000), Updated: ms(6000),
			Snippet: "Pangolinsnippet", Changes: 2, Body: "ultramarinewombat"}))
		// An object whose text is stale still has its old text indexed.
		must(t, tx.PutObject(store.Object{ID: fixC, Title: "Brontosaurusfjord", Type: "page", Created: ms(1000), Updated: ms(4000), Changes: 1, Body: "first words"}))
		return tx.PutObject(store.Object{ID: fixC, Title: "Brontosaurusfjord", Type: "page", Created: ms(1000), Updated: ms(4000), Changes: 1, TextStale: true})
	})
	return f
}

// dump is everything the store holds that f names, as text: two stores
// (or one store at two times) hold the same when their dumps are equal.
func dump(t *testing.T, s store.Store, f fixture) string {
	t.Helper()
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	view(t, s, func(tx store.Tx) error {
		n, err := tx.CountChanges()
		must(t, err)
		last, err := tx.LastSeq()
		must(t, err)
		p("count %d last %d", n, last)
		objs, err := tx.ChangeObjects()
		must(t, err)
		slices.SortFunc(objs, func(a, b change.ID) int { return strings.Compare(a.String(), b.String()) })
		p("change objects %v", objs)
		all, err := tx.AllHeads()
		must(t, err)
		p("all heads %v", all)
		for _, o := range f.objects {
			ms, raws, err := tx.ChangesAfter(o, 0)
			must(t, err)
			for i, m := range ms {
				p("change %s %q", metaString(m), raws[i])
			}
			heads, err := tx.Heads(o)
			must(t, err)
			p("heads %s %v", o.Short(), heads)
			ms, raws, err = tx.Parked(o)
			must(t, err)
			for i, m := range ms {
				p("parked %s %q", metaString(m), raws[i])
			}
			ds, err := tx.Damaged(o)
			must(t, err)
			for _, d := range ds {
				p("damaged %s %s %q %q %d", d.ID.Short(), d.Object.Short(), d.Raw, d.Reason, d.Time.UnixMilli())
			}
			snap, err := tx.Snapshot(o)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			p("snapshot %s %d %q %v", o.Short(), snap.Seq, snap.Sealed, err != nil)
			row, err := tx.Object(o)
			must(t, err)
			p("object %s", objectString(row))
			title, body, ok, err := tx.IndexedText(o)
			must(t, err)
			p("indexed %q %q %v", title, body, ok)
		}
		rows, err := tx.Objects()
		must(t, err)
		for _, o := range rows {
			p("objects %s", o.ID.Short())
		}
		stale, err := tx.StaleText()
		must(t, err)
		p("stale %v", stale)
		parked, err := tx.ParkedObjects()
		must(t, err)
		p("parked objects %v", parked)
		damaged, err := tx.DamagedObjects()
		must(t, err)
		p("damaged objects %v", damaged)
		recs, err := tx.MemberRecords()
		must(t, err)
		p("members %q", recs)
		for _, k := range f.settings {
			v, err := tx.Setting(k)
			must(t, err)
			p("setting %s %q", k, v)
		}
		for _, peer := range f.peers {
			h, err := tx.Held(peer)
			must(t, err)
			p("held %s %v", peer, h)
		}
		acks, err := tx.NodeAcks(0)
		must(t, err)
		for _, a := range acks {
			p("node ack %s %v %v %d %q %d", a.Node, a.Object, a.Heads, a.Time, a.Sig, a.Lied)
		}
		for _, w := range f.plaintext {
			hits, err := search(tx, w, 10)
			must(t, err)
			for _, h := range hits {
				p("search %s %s %q", w, h.ID.Short(), h.Match)
			}
		}
		return nil
	})
	return b.String()
}

func objectString(o store.Object) string {
	return fmt.Sprintf("%s title=%q type=%q archived=%v bin=%v created=%d updated=%d snippet=%q changes=%d stale=%v snapshot=%s/%d",
		o.ID.Short(), o.Title, o.Type, o.Archived, o.Deleted, o.Created.UnixMilli(), o.Updated.UnixMilli(), o.Snippet, o.Changes, o.TextStale, o.Snapshot.Short(), o.SnapshotSeq)
}

// writeEverything makes one write of every kind, for the tests of
// transactions that must leave no trace.
func writeEverything(t *testing.T, tx store.Tx) {
	t.Helper()
	put(t, tx, meta(id(0xd4), id(0xd4), 0), meta(id(0xa1, 7), fixA, 7, id(0xa1, 2)))
	must(t, tx.SetInert(id(0xa1, 1), true))
	must(t, tx.DeleteChange(id(0xb2, 1)))
	must(t, tx.Quarantine(store.Damaged{ID: fixA, Reason: "r", Time: ms(1)}))
	must(t, tx.ClearDamaged(id(0xc3, 9)))
	must(t, tx.SetHeads(fixA, []change.ID{id(0xa1, 7)}))
	must(t, tx.SetHeads(fixB, nil))
	must(t, tx.Park(meta(id(0xa1, 9), fixA, 9, id(0xa1, 8)), []byte("p")))
	must(t, tx.Unpark(id(0xb2, 5)))
	must(t, tx.PutMemberRecord([]byte("member-record-3")))
	must(t, tx.SetSetting("vault_id", []byte("changed")))
	must(t, tx.SetSetting("nodes", []byte("changed")))
	must(t, tx.DeleteSnapshot(fixA))
	must(t, tx.PutSnapshot(fixB, store.Snapshot{Seq: 9, Sealed: []byte("other")}))
	must(t, tx.PutHeld("peer-1", fixA, [32]byte{9}))
	must(t, tx.PutHeld("peer-2", fixC, [32]byte{9}))
	must(t, tx.PutObject(store.Object{ID: fixA, Title: "Changed", Body: "changed words", Updated: ms(9999)}))
	must(t, tx.PutObject(store.Object{ID: fixC, Title: "Brontosaurusfjord", Body: "reindexed"}))
}
