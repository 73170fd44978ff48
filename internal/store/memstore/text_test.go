package memstore

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
)

// Search finds what SQLite's finds, with the same match text, for
// documents and queries drawn at random from words that share prefixes,
// differ in case and accents, and come with punctuation and sentences.
func TestSearchAsSQLite(t *testing.T) {
	words := []string{"basil", "Basil", "basilisk", "bas", "b", "tomato", "tomatoes", "Tomätö", "south", "SOUTH", "wall",
		"south-wall", "crème", "creme", "Brûlée", "naïve", "façade", "straße", "ærø", "x", "the", "and", "of", "a", "zebra"}
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
		objs = append(objs, store.Object{ID: change.ID{byte(i), 1}, Title: text(r.IntN(4)), Type: "page", Body: text(r.IntN(40))})
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
	search := func(s store.Store, q string) map[change.ID]string {
		out := map[change.ID]string{}
		err := s.View(ctx, func(tx store.Tx) error {
			hits, err := tx.Search(q, 1000)
			for _, h := range hits {
				out[h.ID] = h.Match
			}
			return err
		})
		if err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
		return out
	}
	queries := []string{"", "-", "(", "basil (", "( basil"}
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
			q = append(q, w)
		}
		queries = append(queries, strings.Join(q, " "))
	}
	found := 0
	for _, q := range queries {
		want, got := search(lite, q), search(mem, q)
		found += len(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			for id, m := range want {
				if got[id] != m {
					t.Errorf("search %q, %s: match %q, SQLite's %q", q, id.Short(), got[id], m)
				}
			}
			for id := range got {
				if _, ok := want[id]; !ok {
					t.Errorf("search %q finds %s, SQLite's does not", q, id.Short())
				}
			}
			t.FailNow()
		}
	}
	if found < len(queries) {
		t.Fatalf("only %d hits for %d queries: the test searches for too little", found, len(queries))
	}
}
