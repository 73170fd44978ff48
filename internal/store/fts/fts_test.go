package fts

import (
	"database/sql"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	_ "modernc.org/sqlite"
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

// phrasesOf is what a snippet highlights of query q.
func phrasesOf(q string) []Phrase {
	pq, err := Parse(q)
	if err != nil {
		panic(err)
	}
	return pq.Highlight()
}

func terms(text string) []string {
	var out []string
	for _, tk := range Tokenize(text) {
		out = append(out, tk.term)
	}
	return out
}

// Every character of the scripts a vault is likely to hold splits and
// folds as SQLite's tokenizer does it, but for CJK characters and
// symbols, each a word here. SQLite's Unicode tables are older than Go's
// (about Unicode 6.1): it takes what was added since, such as
// U+2066-2069 and the emoji from U+1F641 on, for unassigned and so for
// letters, where Go knows them as format characters or symbols. Those
// differ, and are left out here. And whatever the text, SQLite's
// tokenizer splits IndexText into the same words: what the SQLite store
// indexes is what this package finds.
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
	var indexed []string
	for _, text := range texts {
		indexed = append(indexed, IndexText(text))
	}
	wantIndexed := sqliteTerms(t, indexed)
	bad := 0
	for i, text := range texts {
		got := terms(text)
		if !strings.ContainsFunc(text, func(r rune) bool { return isCJK(r) || isSymbol(r) }) && !slices.Equal(got, want[i]) {
			t.Errorf("%q (%U): terms %q, SQLite's %q", text, []rune(text), got, want[i])
			bad++
		}
		if !slices.Equal(got, wantIndexed[i]) {
			t.Errorf("%q (%U): terms %q, SQLite's of its IndexText %q", text, []rune(text), got, wantIndexed[i])
			bad++
		}
		if bad > 20 {
			t.FailNow()
		}
	}
}

// CJK characters and symbols are words of their own; tokens keep their
// place in the text.
func TestTokenizeCJKAndEmoji(t *testing.T) {
	for _, c := range []struct {
		text string
		want []string
	}{
		{"東京タワーに行きました", strings.Split("東 京 タ ワ ー に 行 き ま し た", " ")},
		{"日本語abc中文", []string{"日", "本", "語", "abc", "中", "文"}},
		{"한국어 텍스트", []string{"한", "국", "어", "텍", "스", "트"}},
		{"seeds🌱🌱 ok", []string{"seeds", string(rune(symbolBase + '🌱')), string(rune(symbolBase + '🌱')), "ok"}},
		{"👍🏽 👨‍👩‍👧", []string{string(rune(symbolBase + '👍')), string(rune(symbolBase + '👨')), string(rune(symbolBase + '👩')), string(rune(symbolBase + '👧'))}},
		{"Ｔｏｋｙｏ", []string{"ｔｏｋｙｏ"}}, // fullwidth Latin: a word, folded
	} {
		toks := Tokenize(c.text)
		if got := terms(c.text); !slices.Equal(got, c.want) {
			t.Errorf("%q: terms %q, want %q", c.text, got, c.want)
		}
		for _, tk := range toks {
			if tk.start >= tk.end || !utf8.ValidString(c.text[tk.start:tk.end]) {
				t.Errorf("%q: token %q at [%d, %d)", c.text, tk.term, tk.start, tk.end)
			}
		}
	}
}

// sqliteSnippets is FTS5's snippet() of each text for query (as the
// SQLite store asks it: every word a phrase, the last a prefix if it has
// two characters or more), "" for a
// text it does not match.
func sqliteSnippets(t *testing.T, texts []string, query string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "snip.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE VIRTUAL TABLE f USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')`); err != nil {
		t.Fatal(err)
	}
	for i, text := range texts {
		if _, err := db.Exec(`INSERT INTO f(rowid, body) VALUES (?, ?)`, i+1, text); err != nil {
			t.Fatal(err)
		}
	}
	words := strings.Fields(query)
	for i, w := range words {
		words[i] = `"` + w + `"`
	}
	if utf8.RuneCountInString(words[len(words)-1]) >= 4 { // a prefix of 2 characters or more, in quotes
		words[len(words)-1] += "*"
	}
	rows, err := db.Query(`SELECT rowid, snippet(f, 0, '[', ']', '…', 12) FROM f WHERE f MATCH ?`, strings.Join(words, " "))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := make([]string, len(texts))
	for rows.Next() {
		var i int
		var s string
		if err := rows.Scan(&i, &s); err != nil {
			t.Fatal(err)
		}
		out[i-1] = s
	}
	return out
}

// Snippets are FTS5's: random texts of a few words, sentences and
// accents, and queries of one or two words, the last a prefix.
func TestSnippetsAsSQLite(t *testing.T) {
	vocab := strings.Fields("basil basilisk tomato café Café wall south. garden: pots and the of")
	r := rand.New(rand.NewPCG(7, 8))
	var texts []string
	for range 300 {
		var b strings.Builder
		for i := range 1 + r.IntN(60) {
			if i > 0 {
				b.WriteString([]string{" ", " ", "  ", "\n", ", "}[r.IntN(5)])
			}
			b.WriteString(vocab[r.IntN(len(vocab))])
		}
		texts = append(texts, b.String())
	}
	for _, q := range []string{"basil", "bas", "tomato", "cafe", "south garden", "wall t", "the"} {
		want := sqliteSnippets(t, texts, q)
		phrases := phrasesOf(q)
		for i, text := range texts {
			if want[i] == "" {
				continue
			}
			if got := Snippet(text, Tokenize(text), phrases); got != want[i] {
				t.Fatalf("%q in %q: snippet %q, FTS5's %q", q, text, got, want[i])
			}
			if got, _ := BoundedSnippet(text, phrases, Budget); got != want[i] {
				t.Fatalf("%q in %q: bounded snippet %q, FTS5's %q", q, text, got, want[i])
			}
		}
	}
}

// A snippet of a huge text reads a bounded part of it, and shows the
// first match even when it lies windows deep; one with no match in the
// budget shows the start.
func TestBoundedSnippet(t *testing.T) {
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 100_000) // 2.7 MB
	match := filler[:3*Window] + " the basil grows here " + filler[3*Window:]
	got, read := BoundedSnippet(match, phrasesOf("basil"), Budget)
	if !strings.Contains(got, "[basil]") || !strings.HasPrefix(got, "…") || !strings.HasSuffix(got, "…") || read > 5*Window {
		t.Fatalf("a match 3 windows deep: %q, after reading %d bytes", got, read)
	}
	dense := strings.Repeat("basil ", 500_000) // every word matches: FTS5's scoring is quadratic in this
	if got, read := BoundedSnippet(dense, phrasesOf("basil"), Budget); !strings.HasPrefix(got, "[basil]") || read > Window {
		t.Fatalf("a text of matches: %q, after reading %d bytes", got, read)
	}
	late := filler + filler + " basil" // 5.4 MB: past the budget
	got, read = BoundedSnippet(late, phrasesOf("basil"), Budget)
	if strings.Contains(got, "[") || !strings.HasPrefix(got, "lorem") || read > Budget+Window {
		t.Fatalf("a match past the budget: %q, after reading %d bytes", got, read)
	}
	for _, text := range []string{"", "basil", strings.Repeat("x ", Window/2-3) + "basil"} {
		if got, _ := BoundedSnippet(text, phrasesOf("basil"), Budget); got != Snippet(text, Tokenize(text), phrasesOf("basil")) {
			t.Fatalf("a text of one window (%d bytes) is not snippeted whole", len(text))
		}
	}
}
