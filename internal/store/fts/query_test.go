package fts

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// The query language, written back one way (Query.String): quoted
// phrases of folded words, * on a prefix, tag: and - kept.
func TestParse(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"garden tom", `"garden" "tom"*`},
		{"garden t", `"garden" "t"`},    // a prefix of one character is a word
		{"garden é", `"garden" "e"`},    //
		{"garden to", `"garden" "to"*`}, //
		{"garden 東京", `"garden" "東 京"`}, // (a CJK word: characters)
		{"  Garden   TOM  ", `"garden" "tom"*`},
		{"crème brûl", `"creme" "brul"*`},
		{"south-wall", `"south wall"*`},                      // a word's parts, in a row
		{`"south wall"`, `"south wall"`},                     // a phrase is no prefix
		{`"south wall" tom`, `"south wall" "tom"*`},          //
		{`tom "south`, `"tom" "south"`},                      // a quote left open: a phrase to the end
		{`a"b c"d`, `"a" "b c" "d"`},                         // quotes end words
		{`tag:home`, `tag:"home"`},                           //
		{`TAG:#Home/Garden`, `tag:"home garden"`},            //
		{`tag:home tom`, `tag:"home" "tom"*`},                //
		{`tom tag:home`, `"tom" tag:"home"`},                 // the last word alone is a prefix
		{`garden -basil`, `"garden" -"basil"`},               //
		{`garden -"basil pesto"`, `"garden" -"basil pesto"`}, //
		{`garden -tag:herbs`, `"garden" -tag:"herbs"`},       //
		{`garden - basil`, `"garden" "basil"*`},              // a dash alone is punctuation
		{`garden-basil`, `"garden basil"*`},                  // and inside a word too
		{`東京タワー`, `"東 京 タ ワ ー"`},                             // CJK: a character a word
		{`東京　タワー`, `"東 京" "タ ワ ー"`},                          // the ideographic space is a space
		{`🌱 seeds`, `"` + string(rune(symbolBase+'🌱')) + `" "seeds"*`},
		{`AND OR NOT`, `"and" "or" "not"*`},                 // operators are words
		{`NEAR(a b)`, `"near a" "b"`},                       //
		{`title:basil`, `"title basil"*`},                   // no column filter
		{`{title body}:x`, `"title" "body x"`},              //
		{`basil* ^x`, `"basil" "x"`},                        // * and ^ are punctuation
		{`(a OR b) AND c`, `"a" "or" "b" "and" "c"`},        //
		{`"" x`, `"x"`},                                     // an empty phrase asks nothing
		{`tag: x`, `"tag" "x"`},                             // tag: with no name is a word
		{"x\x00y \xff", `"x y"`},                            // NUL and bad UTF-8 are punctuation
		{`x ""`, `"x"`},                                     // the last item is not a word
		{strings.Repeat(`"`, 7) + "a", `"a"`},               // quotes in a row
		{`-"`, "error"},                                     //
		{`-basil`, "error"},                                 // only leaves out
		{`-tag:x -y`, "error"},                              //
		{``, "error"},                                       //
		{" \t\n", "error"},                                  //
		{`* ( ) " : ^`, "error"},                            // nothing but punctuation
		{`tag:#`, "error"},                                  //
		{`"`, "error"},                                      //
		{`-`, "error"},                                      //
		{"\u200b", "error"},                                 // a zero-width space is no word
		{`x -` + strings.Repeat("(", 10000), `"x"`},         //
		{strings.Repeat("a ", 3) + `"b`, `"a" "a" "a" "b"`}, //
	} {
		q, err := Parse(c.in)
		got := q.String()
		if err != nil {
			got = "error"
		}
		if got != c.want {
			t.Errorf("Parse(%q) = %s (%v), want %s", c.in, got, err, c.want)
		}
	}
	if _, err := Parse("  "); !errors.Is(err, ErrEmptyQuery) {
		t.Errorf("a blank query: %v", err)
	}
}

// Whatever is typed, the FTS5 expression is one SQLite accepts: typed
// syntax never reaches it as syntax.
func TestFTSNeverASyntaxError(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE VIRTUAL TABLE f USING fts5(title, body, tags, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2')`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO f(rowid, title, body, tags) VALUES (1, 'near a', 'and or not', ?)`, TagText([]string{"x"})); err != nil {
		t.Fatal(err)
	}
	pieces := []string{`"`, `'`, "*", ":", "^", "(", ")", "{", "}", "-", "+", "AND", "OR", "NOT", "NEAR", "NEAR/2", ",", "tag:", "tag:x", "title:", "body", "col", "a", "東京", "🌱", "\\", "\x00", " ", "  ", "\t", "\u3000", "é", "-tag:", "#"}
	seed := uint32(1)
	for range 5000 {
		var b strings.Builder
		seed = seed*1664525 + 1013904223
		for n := 1 + seed%8; n > 0; n-- {
			seed = seed*1664525 + 1013904223
			b.WriteString(pieces[seed%uint32(len(pieces))])
		}
		in := b.String()
		q, err := Parse(in)
		if err != nil {
			continue
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM f WHERE f MATCH ?`, q.FTS()).Scan(&n); err != nil {
			t.Fatalf("%q: FTS5 expression %q: %v", in, q.FTS(), err)
		}
		if !utf8.ValidString(q.FTS()) {
			t.Fatalf("%q: FTS5 expression %q is not UTF-8", in, q.FTS())
		}
	}
}

// A tag is found whole, or by a parent of it; the marks around it keep
// a tag's words from running into the next tag's.
func TestTagText(t *testing.T) {
	text := TagText([]string{"home/garden", "#Food", "home", " ", "south-wall"})
	words := strings.Fields(text)
	if got := strings.Join(words, " "); got != strings.Join([]string{tagMark, "home", tagMark, tagMark, "home", "garden", tagMark, tagMark, "food", tagMark, tagMark, "south", "wall", tagMark}, " ") {
		t.Fatalf("tag text %q", got)
	}
	toks := Tokenize(text)
	for tag, want := range map[string]bool{"home": true, "home/garden": true, "garden": false, "food": true, "#food": true, "south": false, "south-wall": true, "wall": false, "garden food": false} {
		q, err := Parse("tag:" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(q.Parts[0].Positions(toks)) > 0; got != want {
			t.Errorf("tag:%s found %v, want %v", tag, got, want)
		}
	}
}

// A window of a long text is cut between words: in a long run of Latin
// words at a space, in CJK between any two characters, never in a word
// (unless it is longer than the 256 bytes looked back).
func TestCutAt(t *testing.T) {
	for _, c := range []struct {
		text string
		at   int
		want int
	}{
		{"abc def", 5, 4},                                  // back to the start of def
		{"abc def", 4, 4},                                  //
		{"abc, def", 4, 4},                                 // after the word, before the comma
		{"東京タワー", 4, 3},                                    // within 京 (bytes 3-5): at its start
		{"東京タワー", 6, 6},                                    // between two characters
		{" tomé ok", 5, 1},                                 // inside é: back to before the word
		{" cafe\u0301 ok", 6, 1},                           // an accent belongs to its word
		{"tomé ok", 4, 3},                                  // no cut at the very start: at é's
		{strings.Repeat("x", 300), 290, 290},               // a word longer than the look-back
		{"a " + strings.Repeat("é", 200), 301, 300},        // at a character's start
		{"a " + strings.Repeat("é", 200), 300, 300},        // (é is 2 bytes)
		{"abc", 10, 3},                                     //
		{"🌱🌱", 4, 4},                                       // emoji: words of one character
		{"ab🌱", 3, 2},                                      // inside the emoji: before it
		{"x" + strings.Repeat(" ", 300) + "abc", 303, 301}, //
	} {
		if got := cutAt(c.text, c.at); got != c.want {
			t.Errorf("cutAt(%q, %d) = %d, want %d", c.text, c.at, got, c.want)
		}
	}
}

// The snippets of a search read a bounded part of the texts, whatever
// their size: the head of a text for a hit that matched elsewhere than in
// it, Budget and a window to look for the words, a head past that.
func TestSnippetsBounded(t *testing.T) {
	q, err := Parse("basil")
	if err != nil {
		t.Fatal(err)
	}
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 100_000) // 2.7 MB
	s := q.Snippets()
	if got := s.Of(filler, false); !strings.HasPrefix(got, "lorem ipsum") || !strings.HasSuffix(got, "…") || strings.Contains(got, "[") || s.Read() > Head {
		t.Fatalf("a hit by its title: %q after reading %d bytes", got, s.Read())
	}
	late := filler + " basil"
	for range 5 {
		s.Of(late, true)
	}
	if s.Read() > Budget+Window+5*Head {
		t.Fatalf("five long texts read %d bytes, over the budget %d", s.Read(), Budget)
	}
	// A cut never splits a word: every word of a snippet is one of the
	// text's.
	cjk := strings.Repeat("東京タワーに行きました。", 20_000) + "basil"
	got := q.Snippets().Of(cjk, true)
	if !strings.HasPrefix(got, "…") || !utf8.ValidString(got) {
		t.Fatalf("a CJK text's snippet %q", got)
	}
	words := strings.Repeat("wordy ", 20_000) + "basil"
	got = q.Snippets().Of(words, true)
	for _, w := range strings.Fields(strings.Trim(got, "…")) {
		if w != "wordy" && w != "[basil]" {
			t.Fatalf("a word cut in two: %q in %q", w, got)
		}
	}
}

// BenchmarkSnippetDeep is the snippet of a 2.5 MB text whose one match
// lies past the budget: the most a search reads of one text.
func BenchmarkSnippetDeep(b *testing.B) {
	filler := strings.Repeat("lorem ipsum dolor sit amet consectetur ", 64_000)
	text := filler + " the needle is here"
	q, err := Parse("needle")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		q.Snippets().Of(text, true)
	}
}
