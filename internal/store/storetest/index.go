package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/fts"
)

func testObjects(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	o := store.Object{ID: obj, Title: "Garden plans", Type: "page", Created: ms(1000), Updated: ms(5000),
		Snippet: "Tomatoes", Changes: 2, Body: "Tomatoes and basil", Snapshot: id(2), SnapshotSeq: 2}
	update(t, s, func(tx store.Tx) error {
		must(t, tx.PutObject(o))
		o2 := o
		// A later put replaces the row but keeps the creation time.
		o2.Title, o2.Type, o2.Archived, o2.Deleted, o2.Created, o2.Updated, o2.Snippet, o2.Changes, o2.Snapshot, o2.SnapshotSeq =
			"Garden", "task", true, true, ms(3000), ms(6000), "Beans", 3, change.ID{}, 0
		return tx.PutObject(o2)
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.Object(obj)
		want := store.Object{ID: obj, Title: "Garden", Type: "task", Archived: true, Deleted: true, Created: ms(1000), Updated: ms(6000), Snippet: "Beans", Changes: 3}
		if err != nil || objectString(got) != objectString(want) {
			t.Fatalf("object:\n got %s, %v\nwant %s", objectString(got), err, objectString(want))
		}
		if got.Created.Location() != ms(0).Location() || got.Body != "" {
			t.Fatalf("object read back with time zone %v and body %q", got.Created.Location(), got.Body)
		}
		if _, err := tx.Object(id(9)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing object: %v", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		must(t, tx.PutObject(o)) // the snapshot pointer comes back
		got, err := tx.Object(obj)
		if err != nil || got.Snapshot != id(2) || got.SnapshotSeq != 2 || got.Archived || got.Deleted {
			t.Fatalf("object = %s, %v", objectString(got), err)
		}
		// Most recently updated first; the same time in id order.
		for _, x := range []store.Object{
			{ID: id(0x30), Updated: ms(9000)}, {ID: id(0x10), Updated: ms(2000)}, {ID: id(0x05), Updated: ms(9000)}, {ID: id(0x07), Updated: ms(100)},
		} {
			x.Type = "page"
			must(t, tx.PutObject(x))
		}
		all, err := tx.Objects()
		var order []change.ID
		for _, x := range all {
			order = append(order, x.ID)
		}
		want := []change.ID{id(0x05), id(0x30), obj, id(0x10), id(0x07)}
		if err != nil || fmt.Sprint(order) != fmt.Sprint(want) {
			t.Fatalf("objects in order %v, %v; want %v", order, err, want)
		}
		if all[2].Title != "Garden plans" || all[2].Snippet != "Tomatoes" {
			t.Fatalf("objects give rows: %s", objectString(all[2]))
		}
		return nil
	})
}

// searchDocs are the objects of the search tests, their ids id(1), id(2),
// ... in this order.
var searchDocs = []store.Object{
	{Title: "Garden plans", Body: "Tomatoes and basil along the south wall"},
	{Title: "Kitchen", Body: "Crème brûlée, naïve façade; ÆRØ and straße"},
	{Title: "Café list", Body: "Espresso, cortado, flat white"},
	{Title: "Walls", Body: "south of the old wall; the south-wall project"},
	{Title: "Wild", Body: "basil in the meadow, Basil in pots, BASIL everywhere"},
	{Title: "Long", Body: "a b c d e f g h i j k l m n o p basil q r s t u v w x y z"},
	{Title: "Basil seeds", Body: "nothing about herbs here: words and words"},
	{Title: "Archived", Body: "archived basilisk", Archived: true},
	{Title: "Binned", Body: "basil in the bin", Deleted: true},
}

func putSearchDocs(t *testing.T, s store.Store) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for i, o := range searchDocs {
			o.ID, o.Type, o.Created, o.Updated = id(byte(i+1)), "page", ms(1000), ms(int64(1000+i))
			must(t, tx.PutObject(o))
		}
		return nil
	})
}

func hitIDs(hits []store.Hit) []change.ID {
	var out []change.ID
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

// docs names search documents by number (1-based, as their ids).
func docs(n ...byte) []change.ID {
	var out []change.ID
	for _, b := range n {
		out = append(out, id(b))
	}
	return out
}

// search runs query as typed (fts.Parse), its first limit hits.
func search(tx store.Tx, query string, limit int) ([]store.Hit, error) {
	q, err := fts.Parse(query)
	if err != nil {
		return nil, err
	}
	return tx.Search(store.SearchQuery{Query: q, Limit: limit})
}

func testSearch(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	putSearchDocs(t, s)
	view(t, s, func(tx store.Tx) error {
		for _, c := range []struct {
			query string
			want  []change.ID
		}{
			{"basil", docs(1, 5, 6, 7, 8)},           // the last word is a prefix: basilisk too
			{"basil ", docs(1, 5, 6, 7, 8)},          // spaces around words do not count
			{"BASIL south", docs(1)},                 // case-insensitive, every word required
			{"basil sou", docs(1)},                   // the last word as a prefix
			{"bas wall", nil},                        // only the last word is a prefix
			{"basil cucumber", nil},                  // every word required
			{"garden basil", docs(1)},                // words from the title and the text
			{"seeds", docs(7)},                       // title only
			{"creme brulee", docs(2)},                // accents folded in the text
			{"Crème", docs(2)},                       // and in the query
			{"cafe", docs(3)},                        // and in the title
			{"CAFÉ", docs(3)},                        //
			{"naive facade", docs(2)},                //
			{"ærø", docs(2)},                         // letters without a base letter match themselves
			{"straße", docs(2)},                      //
			{"south-wall", docs(1, 4)},               // a word with punctuation: its parts, adjacent
			{"wall south", docs(1, 4)},               // words in any order
			{"wall-south", nil},                      // but a word's parts in its order, adjacent
			{"espresso,", docs(3)},                   // punctuation in the query is no word
			{"flat white espresso cortado", docs(3)}, //
			{`"unbalanced AND (`, nil},               // what would be FTS syntax is text
			{`basil AND`, docs(1, 7)},                // "and" is a word here (and a prefix)
			{`NEAR(basil`, nil},                      //
			{`wall -basil`, docs(4)},                 // left out
		} {
			hits, err := search(tx, c.query, 50)
			if err != nil {
				t.Fatalf("search %q: %v", c.query, err)
			}
			if got := hitIDs(hits); !sameIDs(got, c.want) {
				t.Fatalf("search %q = %v, want %v", c.query, got, c.want)
			}
		}
		// A query that asks nothing is an error, not every object.
		for _, q := range []string{"", "   ", "*", `"`, "(", "-basil"} {
			if hits, err := search(tx, q, 50); err == nil {
				t.Fatalf("search %q = %v, want an error", q, hitIDs(hits))
			}
		}
		// Hits carry their object's row.
		hits, err := search(tx, "archived", 10)
		if err != nil || len(hits) != 1 || !hits[0].Archived || hits[0].Title != "Archived" || hits[0].Type != "page" || !hits[0].Updated.Equal(ms(1007)) {
			t.Fatalf("search hit = %+v, %v", hits, err)
		}
		// At most limit hits, always the same ones in the same order.
		first, err := search(tx, "basil", 50)
		must(t, err)
		for range 3 {
			again, err := search(tx, "basil", 50)
			if err != nil || fmt.Sprint(hitIDs(again)) != fmt.Sprint(hitIDs(first)) {
				t.Fatalf("search order changed: %v, then %v", hitIDs(first), hitIDs(again))
			}
		}
		two, err := search(tx, "basil", 2)
		if err != nil || len(two) != 2 || fmt.Sprint(hitIDs(two)) != fmt.Sprint(hitIDs(first)[:2]) {
			t.Fatalf("search with limit 2 = %v, %v; all hits %v", hitIDs(two), err, hitIDs(first))
		}
		return nil
	})
	// A new put replaces the object's text: old words are gone.
	update(t, s, func(tx store.Tx) error {
		o := searchDocs[0]
		o.ID, o.Type, o.Body = id(1), "page", "cucumbers only"
		return tx.PutObject(o)
	})
	view(t, s, func(tx store.Tx) error {
		if hits, err := search(tx, "tomatoes", 10); err != nil || len(hits) != 0 {
			t.Fatalf("search for replaced text = %v, %v", hitIDs(hits), err)
		}
		if hits, err := search(tx, "cucumber", 10); err != nil || fmt.Sprint(hitIDs(hits)) != fmt.Sprint(docs(1)) {
			t.Fatalf("search for new text = %v, %v", hitIDs(hits), err)
		}
		if hits, err := search(tx, "garden", 10); err != nil || fmt.Sprint(hitIDs(hits)) != fmt.Sprint(docs(1)) {
			t.Fatalf("search for the title = %v, %v", hitIDs(hits), err)
		}
		return nil
	})
}

// Match is the text around the match, the matched words in brackets: the
// whole text when it is short, else a window of it with an ellipsis where
// it is cut, as SQLite's FTS5 snippet() makes it.
func testSearchMatch(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	putSearchDocs(t, s)
	view(t, s, func(tx store.Tx) error {
		for _, c := range []struct {
			query string
			doc   change.ID
			want  string
		}{
			{"basil", id(1), "Tomatoes and [basil] along the south wall"},
			{"basil sou", id(1), "Tomatoes and [basil] along the [south] wall"},
			{"creme brul", id(2), "[Crème] [brûlée], naïve façade; ÆRØ and straße"},
			{"south-wall", id(4), "south of the old wall; the [south-wall] project"},
			{"basil", id(5), "[basil] in the meadow, [Basil] in pots, [BASIL] everywhere"},
			{"basil", id(6), "…l m n o p [basil] q r s t u v…"},
			{"seeds", id(7), "nothing about herbs here: words and words"}, // matched in the title only
		} {
			hits, err := search(tx, c.query, 50)
			must(t, err)
			i := slices.IndexFunc(hits, func(h store.Hit) bool { return h.ID == c.doc })
			if i < 0 {
				t.Fatalf("search %q: %s not found in %v", c.query, c.doc.Short(), hitIDs(hits))
			}
			if hits[i].Match != c.want {
				t.Fatalf("search %q: match %q, want %q", c.query, hits[i].Match, c.want)
			}
		}
		return nil
	})
}

func testStaleText(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	o := store.Object{ID: obj, Title: "Garden plans", Type: "page", Created: ms(1000), Updated: ms(5000), Body: "Tomatoes and basil"}
	update(t, s, func(tx store.Tx) error {
		must(t, tx.PutObject(o))
		// Made stale from its first put: no search text at all.
		return tx.PutObject(store.Object{ID: id(0x50), Title: "Never indexed", Type: "page", Body: "invisible", TextStale: true})
	})
	update(t, s, func(tx store.Tx) error {
		o := o
		o.TextStale, o.Body, o.Title = true, "cucumbers", "Renamed"
		return tx.PutObject(o)
	})
	view(t, s, func(tx store.Tx) error {
		if stale, err := tx.StaleText(); err != nil || fmt.Sprint(stale) != fmt.Sprint([]change.ID{obj, id(0x50)}) {
			t.Fatalf("stale = %v, %v", stale, err)
		}
		if row, err := tx.Object(obj); err != nil || !row.TextStale || row.Title != "Renamed" {
			t.Fatalf("a stale put writes the row: %s, %v", objectString(row), err)
		}
		if hits, _ := search(tx, "cucumbers", 5); len(hits) != 0 {
			t.Fatal("a stale put must not index its body")
		}
		if hits, _ := search(tx, "invisible", 5); len(hits) != 0 {
			t.Fatal("an object never indexed is found")
		}
		if hits, _ := search(tx, "basil", 5); len(hits) != 1 || hits[0].Title != "Renamed" {
			t.Fatalf("a stale put must keep the old text indexed, and hits show the row: %+v", hits)
		}
		for _, x := range []change.ID{obj, id(0x50), id(0xab)} {
			if _, _, ok, err := tx.IndexedText(x); ok || err != nil {
				t.Fatalf("indexed text of %s (stale or no object): ok=%v err=%v", x.Short(), ok, err)
			}
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		o := o
		o.Title, o.Body = "Renamed", "cucumbers"
		return tx.PutObject(o)
	})
	view(t, s, func(tx store.Tx) error {
		if hits, _ := search(tx, "cucumbers", 5); len(hits) != 1 {
			t.Fatal("text not reindexed")
		}
		if hits, _ := search(tx, "basil", 5); len(hits) != 0 {
			t.Fatal("old text still indexed")
		}
		if title, body, ok, err := tx.IndexedText(obj); !ok || err != nil || body != "cucumbers" || title != "Renamed" {
			t.Fatalf("indexed text = %q, %q, %v, %v", title, body, ok, err)
		}
		if stale, err := tx.StaleText(); err != nil || fmt.Sprint(stale) != fmt.Sprint([]change.ID{id(0x50)}) {
			t.Fatalf("stale after reindexing = %v, %v", stale, err)
		}
		return nil
	})
}

func testObjectsWithPrefix(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	ids := []change.ID{id(0x01, 0x23), id(0x01, 0x24), id(0x1f), id(0xab, 0xcd)}
	update(t, s, func(tx store.Tx) error {
		for _, x := range ids {
			must(t, tx.PutObject(store.Object{ID: x, Type: "page"}))
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		for _, c := range []struct {
			prefix string
			want   []change.ID
		}{
			{"01", ids[:2]},
			{"0123", ids[:1]},
			{"1F", ids[2:3]},
			{"abc", ids[3:]},
			{ids[3].String(), ids[3:]},
			{"", ids},
			{"0_", nil}, // not a pattern
			{"%", nil},
			{"zz", nil},
			{"0124" + ids[1].String()[4:] + "0", nil},
		} {
			got, err := tx.ObjectsWithPrefix(c.prefix)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("objects with prefix %q = %v, %v; want %v", c.prefix, got, err, c.want)
			}
		}
		return nil
	})
}

// testBacklinks: links are indexed with an object's text; a stale put
// keeps the last ones, the next indexed put replaces them.
func testBacklinks(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	a, b, c := id(1), id(2), id(3)
	update(t, s, func(tx store.Tx) error {
		must(t, tx.PutObject(store.Object{ID: a, Title: "A", Links: []change.ID{c, b, c}}))
		must(t, tx.PutObject(store.Object{ID: b, Title: "B", Links: []change.ID{c}}))
		return tx.PutObject(store.Object{ID: c, Title: "C"})
	})
	backlinks := func(x change.ID) []change.ID {
		var out []change.ID
		view(t, s, func(tx store.Tx) (err error) { out, err = tx.Backlinks(x); return err })
		return out
	}
	if got := backlinks(c); !sameIDs(got, []change.ID{a, b}) {
		t.Fatalf("backlinks of C = %v", got)
	}
	if got := backlinks(a); len(got) != 0 {
		t.Fatalf("backlinks of A = %v", got)
	}
	update(t, s, func(tx store.Tx) error {
		return tx.PutObject(store.Object{ID: a, Title: "A", TextStale: true})
	})
	if got := backlinks(c); !sameIDs(got, []change.ID{a, b}) {
		t.Fatalf("a stale put dropped links: %v", got)
	}
	update(t, s, func(tx store.Tx) error {
		return tx.PutObject(store.Object{ID: a, Title: "A", Links: []change.ID{b}})
	})
	if got, gotB := backlinks(c), backlinks(b); !sameIDs(got, []change.ID{b}) || !sameIDs(gotB, []change.ID{a}) {
		t.Fatalf("after A's links changed: C ← %v, B ← %v", got, gotB)
	}
}

// ObjectsPage pages through the index in the order of Objects, filtered
// as ls filters: pages of any size, continued after the last object of
// the page before, add up to the filtered whole, ties in id order.
func testObjectsPage(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	base := time.UnixMilli(1_700_000_000_000).UTC()
	update(t, s, func(tx store.Tx) error {
		for i := range 23 {
			o := store.Object{ID: id(byte(i*7%23), 1), Type: "page", Title: fmt.Sprint(i),
				Created: base, Updated: base.Add(time.Duration(i%5) * time.Second), // ties
				Archived: i%4 == 1, Deleted: i%6 == 2}
			must(t, tx.PutObject(o))
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		all, err := tx.Objects()
		must(t, err)
		if n, err := tx.CountObjects(); err != nil || n != len(all) || n != 23 {
			t.Fatalf("CountObjects = %d, %v; the index holds %d", n, err, len(all))
		}
		for _, q := range []store.ObjectQuery{{}, {Archived: true}, {Deleted: true}, {All: true}} {
			var want []change.ID
			for _, o := range all {
				if q.Keeps(o) {
					want = append(want, o.ID)
				}
			}
			for _, limit := range []int{0, 1, 4, 50} {
				q := q
				q.Limit = limit
				var got []change.ID
				for range 30 {
					page, err := tx.ObjectsPage(q)
					must(t, err)
					if limit > 0 && len(page) > limit {
						t.Fatalf("%+v: a page of %d", q, len(page))
					}
					for _, o := range page {
						got = append(got, o.ID)
					}
					if len(page) == 0 || limit == 0 {
						break
					}
					q.After = &page[len(page)-1]
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("%+v: pages give\n%v, want\n%v", q, got, want)
				}
			}
		}
		return nil
	})
}
