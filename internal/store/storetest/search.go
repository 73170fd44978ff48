package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/fts"
)

// queryDocs are the objects of the query language's tests, ids id(1),
// id(2), ... in this order.
var queryDocs = []store.Object{
	{Title: "Garden plans", Body: "Tomatoes and basil along the south wall", Tags: []string{"garden", "home/outside"}},
	{Title: "South", Body: "the wall south of the house", Tags: []string{"south-wall"}},
	{Title: "日本語の本", Body: "私は日本語を勉強しています。東京タワーに行きました。"},
	{Title: "Seeds 🌱", Body: "sprouting🌱🌱 today, with a 👍🏽"},
	{Title: "Hashtags", Body: "notes on #compost and #home/inside", Tags: []string{"compost", "Home/Inside"}},
	{Title: "한국어", Body: "오늘은 날씨가 좋습니다"},
	{Title: "Syntax", Body: `AND OR NOT NEAR(a b) "quoted" col:value x* ^start {title}`},
}

func putDocs(t *testing.T, s store.Store, objs []store.Object) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for i, o := range objs {
			o.ID, o.Type, o.Created, o.Updated = id(byte(i+1)), "page", ms(1000), ms(int64(1000+i))
			must(t, tx.PutObject(o))
		}
		return nil
	})
}

// The query language: phrases, tags, exclusion, CJK and emoji, and
// anything FTS5 would read as syntax found as text.
func testSearchLanguage(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	putDocs(t, s, queryDocs)
	view(t, s, func(tx store.Tx) error {
		for _, c := range []struct {
			query string
			want  []change.ID
		}{
			{`south wall`, docs(1, 2)},
			{`"south wall"`, docs(1)}, // its words in a row
			{`"wall south"`, docs(2)},
			{`"the south`, docs(1)}, // a quote that never closes: a phrase to the end
			{`"south wal"`, nil},    // a phrase is no prefix
			{`tag:garden`, docs(1)},
			{`tag:#garden`, docs(1)},
			{`TAG:Garden`, docs(1)},
			{`tag:home`, docs(1, 5)}, // a parent of nested tags
			{`tag:home/outside`, docs(1)},
			{`tag:home/inside`, docs(5)}, // case is folded
			{`tag:outside`, nil},         // a tag is found whole, or by its parents
			{`tag:south`, nil},           // not a word of a tag
			{`tag:south-wall`, docs(2)},
			{`tag:gard`, nil}, // no prefix
			{`garden`, docs(1)},
			{`garden tag:garden`, docs(1)},
			{`tag:garden tag:compost`, nil},
			{`compost`, docs(5)}, // a #tag of the text is a word of it too
			{`south -garden`, docs(2)},
			{`south -"south wall"`, docs(2)},
			{`south -tag:garden`, docs(2)},
			{`south -tag:gard`, docs(1, 2)},
			{`日本語`, docs(3)},
			{`東京`, docs(3)}, // a word inside a sentence with no spaces
			{`京タ`, docs(3)},
			{`本`, docs(3)},
			{`日本人`, nil},
			{`勉強 タワー`, docs(3)},
			{`날씨`, docs(6)},
			{`🌱`, docs(4)},
			{`sprouting🌱`, docs(4)},
			{`👍`, docs(4)},
			{`👍🏽`, docs(4)}, // skin tones are left out
			{`🌻`, nil},
			{`AND`, docs(1, 5, 7)}, // operators are words
			{`OR`, docs(7)},
			{`NOT`, docs(5, 7)}, // and the last word a prefix: notes
			{`NEAR(a b)`, docs(7)},
			{`col:value`, docs(7)},
			{`x*`, docs(7)},
			{`^start`, docs(7)},
			{`"quoted"`, docs(7)},
			{`{title}`, docs(7)},
			{`title : syntax`, docs(7)},
			{`"NEAR(a" b)`, docs(7)},
			{`a OR zzz`, nil}, // OR is no operator: zzz is needed too
			{`south -`, docs(1, 2)},
		} {
			hits, err := search(tx, c.query, 50)
			if err != nil {
				t.Fatalf("search %q: %v", c.query, err)
			}
			if got := hitIDs(hits); !sameIDs(got, c.want) {
				t.Fatalf("search %q = %v, want %v", c.query, got, c.want)
			}
		}
		for _, q := range []string{"-tag:garden", `-"south wall"`, `""`, "-", "tag:#", ")(", ":"} {
			if hits, err := search(tx, q, 50); err == nil {
				t.Fatalf("search %q = %v, want an error", q, hitIDs(hits))
			}
		}
		for _, c := range []struct {
			query string
			doc   change.ID
			want  string
		}{
			{`東京`, id(3), "…しています。[東京]タワーに行…"},
			{`🌱`, id(4), "sprouting[🌱][🌱] today, with a 👍🏽"},
			{`"the south`, id(1), "Tomatoes and basil along [the south] wall"},
			{`tag:garden`, id(1), "Tomatoes and basil along the south wall"},
			{`south -basil`, id(2), "the wall [south] of the house"},
		} {
			hits, err := search(tx, c.query, 50)
			must(t, err)
			i := slices.IndexFunc(hits, func(h store.Hit) bool { return h.ID == c.doc })
			if i < 0 || hits[i].Match != c.want {
				t.Fatalf("search %q: hits %v, match of %s %q, want %q", c.query, hitIDs(hits), c.doc.Short(), hitMatch(hits, i), c.want)
			}
		}
		return nil
	})
}

func hitMatch(hits []store.Hit, i int) string {
	if i < 0 {
		return "(not found)"
	}
	return hits[i].Match
}

// Hits come by bm25, lowest first: a rarer word counts more, a word more
// often in a shorter text more; then by id. Pages after a hit go on
// where the last ended, whatever the limit, leaving out objects in the
// bin, and a cursor still works once its hit is gone.
func testSearchPages(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	var objs []store.Object
	for i := range 40 {
		body := strings.Repeat("basil ", 1+i%3) + strings.Repeat("filler ", i%5)
		if i%7 == 3 {
			body += " rare"
		}
		objs = append(objs, store.Object{Title: fmt.Sprint("Note ", i%4), Body: body, Deleted: i%9 == 4})
	}
	putDocs(t, s, objs)
	view(t, s, func(tx store.Tx) error {
		q, err := fts.Parse("basil")
		must(t, err)
		all, err := tx.Search(store.SearchQuery{Query: q})
		must(t, err)
		want := 0
		for _, o := range objs {
			if !o.Deleted {
				want++
			}
		}
		if len(all) != want {
			t.Fatalf("%d hits, want %d", len(all), want)
		}
		for i := 1; i < len(all); i++ {
			a, b := all[i-1], all[i]
			if a.Rank > b.Rank || a.Rank == b.Rank && string(a.ID[:]) >= string(b.ID[:]) {
				t.Fatalf("hit %d (%s, rank %v) before hit %d (%s, rank %v)", i-1, a.ID.Short(), a.Rank, i, b.ID.Short(), b.Rank)
			}
		}
		// Three times basil in the shortest text: the best.
		if first := objs[all[0].ID[0]-1].Body; first != "basil basil basil " {
			t.Fatalf("the best hit is %q", first)
		}
		for _, limit := range []int{1, 3, 7, 100} {
			var paged []store.Hit
			var after *store.SearchAfter
			for range 50 {
				page, err := tx.Search(store.SearchQuery{Query: q, Limit: limit, After: after})
				must(t, err)
				if len(page) > limit {
					t.Fatalf("limit %d: a page of %d", limit, len(page))
				}
				paged = append(paged, page...)
				if len(page) < limit {
					break
				}
				last := page[len(page)-1]
				after = &store.SearchAfter{Rank: last.Rank, ID: last.ID}
			}
			if fmt.Sprint(hitIDs(paged)) != fmt.Sprint(hitIDs(all)) {
				t.Fatalf("pages of %d: %v, want %v", limit, hitIDs(paged), hitIDs(all))
			}
		}
		// After a hit that is gone (no object of this id): from the
		// first hit after its place.
		gone := &store.SearchAfter{Rank: all[5].Rank, ID: id(all[5].ID[0], 0xff)}
		rest, err := tx.Search(store.SearchQuery{Query: q, After: gone})
		must(t, err)
		if fmt.Sprint(hitIDs(rest)) != fmt.Sprint(hitIDs(all[6:])) {
			t.Fatalf("after a gone hit: %v, all %v", hitIDs(rest), hitIDs(all))
		}
		// The rarer word counts more.
		q2, err := fts.Parse("basil rare")
		must(t, err)
		two, err := tx.Search(store.SearchQuery{Query: q2, Limit: 1})
		must(t, err)
		if len(two) != 1 || two[0].Rank >= all[0].Rank {
			t.Fatalf("basil rare: %v", two)
		}
		return nil
	})
}

// A hit of a long text snippets a window of it: around the match,
// or, when the title alone matched, its start.
func testSearchLongText(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 100_000) // 2.7 MB
	putDocs(t, s, []store.Object{
		{Title: "Basil in the title", Body: filler},
		{Title: "Deep", Body: filler[:3*fts.Window] + " the basil grows here " + filler[3*fts.Window:]},
	})
	view(t, s, func(tx store.Tx) error {
		hits, err := search(tx, "basil", 10)
		must(t, err)
		if len(hits) != 2 {
			t.Fatalf("hits %v", hitIDs(hits))
		}
		for _, h := range hits {
			switch {
			case len(h.Match) > 200:
				t.Fatalf("a snippet of %d bytes: %.300q", len(h.Match), h.Match)
			case h.ID == id(1) && (!strings.HasPrefix(h.Match, "lorem ipsum") || strings.Contains(h.Match, "[")):
				t.Fatalf("a title's hit: %q", h.Match)
			case h.ID == id(2) && !strings.Contains(h.Match, "the [basil] grows"):
				t.Fatalf("a deep hit: %q", h.Match)
			}
		}
		return nil
	})
}
