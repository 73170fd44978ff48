package memstore

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/fts"
	"mycel/internal/store/sqlite"
)

// Search finds what SQLite's finds, in the same order (bm25, to the bit),
// with the same match text, for documents and queries drawn at random
// from words that share prefixes, differ in case and accents, are CJK or
// emoji, and come with punctuation and sentences; queries with phrases,
// tags and words left out.
func TestSearchAsSQLite(t *testing.T) {
	words := []string{"basil", "Basil", "basilisk", "bas", "b", "tomato", "tomatoes", "Tomätö", "south", "SOUTH", "wall",
		"south-wall", "crème", "creme", "Brûlée", "naïve", "façade", "straße", "ærø", "x", "the", "and", "of", "a", "zebra",
		"日本語", "東京", "タワー", "東京タワーに", "🌱", "👍🏽", "🌱🌱"}
	tags := []string{"home", "home/garden", "Garden", "south-wall", "日本"}
	punct := []string{" ", " ", " ", ", ", ". ", ": ", "; ", " - ", "\n", ".\n", " (", ") ", "!  ", ".", ":", " .", "... "}
	r := rand.New(rand.NewPCG(5, 6))
	text := func(n int) string {
		var b strings.Builder
		if r.IntN(4) == 0 {
			b.WriteString(punct[r.IntN(len(punct))])
		}
		for i := range n {
			if i > 0 {
				b.WriteString(punct[r.IntN(len(punct))])
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		if r.IntN(3) == 0 {
			b.WriteString(punct[r.IntN(len(punct))])
		}
		return b.String()
	}
	dir := t.TempDir()
	lite, err := sqlite.Open(filepath.Join(dir, "mycel.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	mem := New()
	var objs []store.Object
	for i := range 120 {
		var ts []string
		for range r.IntN(3) {
			ts = append(ts, tags[r.IntN(len(tags))])
		}
		objs = append(objs, store.Object{ID: change.ID{byte(i), 1}, Title: text(r.IntN(4)), Type: "page", Body: text(r.IntN(40)), Tags: ts,
			Deleted: i%17 == 3})
	}
	for _, s := range []store.Store{lite, mem} {
		err := s.Update(ctx, func(tx store.Tx) error {
			for _, o := range objs {
				if err := tx.PutObject(o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	search := func(s store.Store, q string) []string {
		var out []string
		query, err := fts.Parse(q)
		if err != nil {
			return []string{err.Error()}
		}
		err = s.View(ctx, func(tx store.Tx) error {
			hits, err := tx.Search(store.SearchQuery{Query: query})
			for _, h := range hits {
				out = append(out, fmt.Sprintf("%s %v %q", h.ID.Short(), h.Rank, h.Match))
			}
			return err
		})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		return out
	}
	queries := []string{"", "-", "(", "basil (", "( basil", "tag:home", "tag:garden -basil", `"south wall`, "東京", "🌱"}
	n := 400
	if raceEnabled {
		n = 40
	}
	for range n {
		var q []string
		for range 1 + r.IntN(3) {
			w := words[r.IntN(len(words))]
			if r.IntN(3) == 0 {
				w = w[:1+r.IntN(len(w))] // a prefix, maybe cut inside a letter
			}
			switch r.IntN(8) {
			case 0:
				w = "tag:" + tags[r.IntN(len(tags))]
			case 1:
				w = "-" + w
			case 2:
				w = `"` + w + " " + words[r.IntN(len(words))] + `"`
			}
			q = append(q, w)
		}
		queries = append(queries, strings.Join(q, " "))
	}
	found := 0
	for _, q := range queries {
		want, got := search(lite, q), search(mem, q)
		found += len(want)
		if got := strings.Join(got, "\n"); got != strings.Join(want, "\n") {
			t.Fatalf("search %q:\n%s\nSQLite's:\n%s", q, got, strings.Join(want, "\n"))
		}
	}
	if found < len(queries) {
		t.Fatalf("only %d hits for %d queries: the test searches for too little", found, len(queries))
	}
}
