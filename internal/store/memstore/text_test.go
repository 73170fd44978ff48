package memstore

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
)

// sqliteTerms tokenizes each text with SQLite's unicode61 tokenizer
// (remove_diacritics 2), through an fts5vocab table.
func sqliteTerms(t *testing.T, texts []string) [][]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "vocab.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE VIRTUAL TABLE f USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')`,
		`CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		if _, err := tx.Exec(`INSERT INTO f(rowid, body) VALUES (?, ?)`, i+1, text); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT doc, term FROM v ORDER BY doc, offset`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := make([][]string, len(texts))
	for rows.Next() {
		var doc int
		var term string
		if err := rows.Scan(&doc, &term); err != nil {
			t.Fatal(err)
		}
		out[doc-1] = append(out[doc-1], term)
	}
	return out
}

func terms(text string) []string {
	var out []string
	for _, tk := range tokenize(text) {
		out = append(out, tk.term)
	}
	return out
}

// Every character of the scripts a vault is likely to hold splits and
// folds as SQLite's tokenizer does it. SQLite's Unicode tables are older
// than Go's (about Unicode 6.1): it takes what was added since, such as
// U+2066-2069 and the emoji from U+1F641 on, for unassigned and so for
// letters, where Go knows them as format characters or symbols. Those
// differ, and are left out here.
func TestTokensAsSQLite(t *testing.T) {
	ranges := [][2]rune{
		{0x20, 0x36f},    // Latin, IPA, spacing and combining marks
		{0x386, 0x3ff},   // Greek
		{0x400, 0x527},   // Cyrillic
		{0x5d0, 0x5ea},   // Hebrew letters
		{0x1e00, 0x1eff}, // Latin Extended Additional
		{0x1f00, 0x1ffe}, // Greek Extended
		{0x2000, 0x2065}, // punctuation
		{0x20a0, 0x20b9}, // currency
		{0x2100, 0x214f}, // letterlike symbols: K, Å, ℓ
		{0x3040, 0x30ff}, // kana
		{0x4e00, 0x4fff}, // CJK
		{0xac00, 0xad00}, // Hangul
	}
	var texts []string
	for _, r := range ranges {
		for c := r[0]; c <= r[1]; c++ {
			texts = append(texts, "x"+string(c)+"y "+string(c)+" "+string(c)+"q")
		}
	}
	// Mixed text, at random.
	alphabet := []rune("aAzZ09 ,.:;!?-_'\"()\t\néÉèçÇøØæÆßẞıİµſςΣσЖжÅÅKΩ\u0301\u0308\u0305\u0327ﬁ½²中文日本😀☺\u200b")
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		var b strings.Builder
		for range 1 + r.IntN(30) {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		texts = append(texts, b.String())
	}
	want := sqliteTerms(t, texts)
	bad := 0
	for i, text := range texts {
		if got := terms(text); !slices.Equal(got, want[i]) {
			t.Errorf("%q (%U): terms %q, SQLite's %q", text, []rune(text), got, want[i])
			if bad++; bad > 20 {
				t.FailNow()
			}
		}
	}
}

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
