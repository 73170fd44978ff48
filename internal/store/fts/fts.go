// Package fts is mycel's full-text rules: SQLite FTS5's unicode61
// tokenizer (remove_diacritics 2) in Go, with CJK characters and emoji
// made words too; the query language (Parse: words, the last one a
// prefix, "phrases", tag:NAME, -word); FTS5's bm25 ranking and its
// snippet(). The memory store searches with them. The SQLite store has
// FTS5 index the words this package finds (IndexText), asks it what
// Parse makes of a query (Query.FTS), and makes its snippets here from a
// bounded window of a text (FTS5's own reads the whole text, and takes
// time quadratic in the matches: 85 s on a page of 2.5 MB).
package fts

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What follows copies FTS5's rules: the tokenizer, the SQLite store's
// ftsQuery and snippet(objects_fts, 2, '[', ']', '…', 12).
// TestTokensAsSQLite and TestSnippetsAsSQLite compare the two.

// Token is a word of a text: its folded form and where it stands.
type Token struct {
	term       string
	start, end int // byte offsets in the text
}

// Tokenize splits text into words as unicode61 does: runes of letters,
// digits, private-use and unassigned characters (and the combining
// accents it removes), each folded. Two kinds of character are words of
// their own, which unicode61 does not know: a CJK character (a Chinese or
// Japanese sentence has no spaces, so a run of them is no word: each
// character is one, and a word of several is found as a phrase of them)
// and a symbol such as an emoji (unicode61 drops them). See IndexText for
// how the SQLite store has FTS5 index the same words.
func Tokenize(text string) []Token {
	var out []Token
	scan(text, func(term []byte, start, end int) bool {
		out = append(out, Token{string(term), start, end})
		return true
	})
	return out
}

// scan calls f with every word of text (its folded form in a buffer f
// must not keep) and its byte offsets, until f returns false. ASCII, most
// of most texts, takes a path of its own: no decoding, no tables.
func scan(text string, f func(term []byte, start, end int) bool) {
	var b []byte
	start := -1
	more := true
	flush := func(end int) {
		if start >= 0 && len(b) > 0 && more { // a run of accents alone is no word
			more = f(b, start, end)
		}
		start = -1
		b = b[:0]
	}
	for i := 0; i < len(text) && more; {
		if c := text[i]; c < utf8.RuneSelf {
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				flush(i)
				i++
				continue
			}
			if start < 0 {
				start = i
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		switch {
		case isAccent(r):
			if start < 0 {
				start = i
			}
		case isWordRune(r) && !isCJK(r):
			if start < 0 {
				start = i
			}
			b = utf8.AppendRune(b, fold(r))
		case isWordRune(r):
			flush(i)
			start = i
			b = utf8.AppendRune(b, fold(r))
			flush(i + n)
		case isSymbol(r):
			flush(i)
			start = i
			b = utf8.AppendRune(b, symbolBase+r)
			flush(i + n)
		default:
			flush(i)
		}
		i += n
	}
	flush(len(text))
}

// mayMatch reports whether a word of text is the first of one of the
// phrases (or starts it, for a prefix of one word): whether a window can
// hold a match at all, found without making its tokens (a window of
// 64 KiB has some 10,000, each a string).
func mayMatch(text string, phrases []Phrase) bool {
	found := false
	scan(text, func(term []byte, _, _ int) bool {
		for _, p := range phrases {
			t := p.terms[0]
			if string(term) == t || len(p.terms) == 1 && p.prefix && len(term) > len(t) && string(term[:len(t)]) == t {
				found = true
				return false
			}
		}
		return true
	})
	return found
}

// isCJK reports the letters of scripts written without spaces between
// words: Chinese, Japanese and Korean (Hangul, written with spaces, but
// in words that take endings, so that a word is found inside a longer
// one only character by character).
func isCJK(r rune) bool {
	if r < 0x1100 {
		return false
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) ||
		r == 0x30fc || r == 0xff70 || r == 0x3006 // ー, halfwidth ｰ, 〆: of no script
}

// symbolBase is where symbols go as words: a symbol r is the word of the
// private-use character symbolBase+r, which unicode61 takes as a letter
// (so the SQLite store's index holds it). The symbols, all below U+1FFF0,
// land in planes 15 and 16, below tagMark.
const symbolBase = 0xf0000

// isSymbol reports a character that is a word of its own though unicode61
// drops it: an emoji or another symbol (Unicode's So: 🌱, ☂, ©, °).
// Emoji modifiers (skin tones), joiners and variation selectors are not:
// 👍🏽 is found as 👍, a family emoji as the phrase of its people.
func isSymbol(r rune) bool {
	return r >= 0xa6 && r < 0x1fff0 && r != utf8.RuneError && unicode.Is(unicode.So, r)
}

// IndexText is text as the SQLite store has FTS5 index it: its words
// (Tokenize's folded terms) with a space between them, which unicode61
// splits into the same words. What FTS5 indexes is then what this package
// finds and highlights, CJK characters and symbols included, and its
// query is made of the same words (FTSQuery).
func IndexText(text string) string {
	var b strings.Builder
	scan(text, func(term []byte, _, _ int) bool {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.Write(term)
		return true
	})
	return b.String()
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	// Unassigned code points too: SQLite's tables count them with the
	// letters.
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.In(r, unicode.Co, unicode.Cn))
}

// isAccent reports the combining marks unicode61 takes as part of a word
// and then drops (remove_diacritics 2): U+0300-0304, 0306-030C, 030F,
// 0311, 031B, 0323-0328, 032D, 032E, 0330, 0331.
func isAccent(r rune) bool {
	if r < 0x300 || r > 0x331 {
		return false
	}
	return accents&(1<<(r-0x300)) != 0
}

const accents = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<6 | 1<<7 | 1<<8 | 1<<9 | 1<<0xa | 1<<0xb | 1<<0xc | 1<<0xf |
	1<<0x11 | 1<<0x1b | 1<<0x23 | 1<<0x24 | 1<<0x25 | 1<<0x26 | 1<<0x27 | 1<<0x28 | 1<<0x2d | 1<<0x2e | 1<<0x30 | 1<<0x31

// fold is case folding, then an accented Latin letter's base letter.
func fold(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	l := unicode.ToLower(r)
	// Case folding of letters that are lowercase already: µ, ſ, ς, ϐ fold
	// to the lowercase of their uppercase (μ, s, σ, β); dotless ı does not.
	if l == r && r != 'ı' {
		if u := unicode.ToUpper(r); u != r {
			l = unicode.ToLower(u)
		}
	}
	switch {
	case 0xc0 <= l && l <= 0x24f:
		if b := latinBase[l-0xc0]; b != '.' {
			return rune(b)
		}
	case 0x1e00 <= l && l <= 0x1eff:
		if b := latinExtendedBase[l-0x1e00]; b != '.' {
			return rune(b)
		}
	}
	return l
}

// latinBase and latinExtendedBase give the base letter of each lowercase
// letter of U+00C0-024F and U+1E00-1EFF that unicode61 folds to one ('.'
// for none), read off SQLite's own tokenizer.
const latinBase = "................................aaaaaa.ceeeeiiii.nooooo..uuuuy.y" +
	".a.a.a.c.c.c.c.d...e.e.e.e.e.g.g.g.g.h...i.i.i.i.....j.k..l.l.l." +
	"....n.n.n....o.o.o...r.r.r.s.s.s.s.t.t...u.u.u.u.u.u.w.y..z.z.z." +
	".................................o..............u..............." +
	"..............a.i.o.u.u.u.u.u..a.......g.k.o.o..j....g...n.a...." +
	".a.a.e.e.i.i.o.o.r.r.u.u.s.t...h.......a.e.o.o.o.o.y............" +
	"................"

const latinExtendedBase = ".a.b.b.b.c.d.d.d.d.d.e.e.e.e.e.f.g.h.h.h.h.h.i.i.k.k.k.l.l.l.l.m" +
	".m.m.n.n.n.n.o.o.o.o.p.p.r.r.r.r.s.s.s.s.s.t.t.t.t.u.u.u.u.u.v.v" +
	".w.w.w.w.w.x.x.y.z.z.zhtwy.......a.a.a.a.a.a.a.a.a.a.a.a.e.e.e.e" +
	".e.e.e.e.i.i.o.o.o.o.o.o.o.o.o.o.o.o.u.u.u.u.u.u.u.y.y.y.y......"

// Positions lists where p stands in toks.
func (p Phrase) Positions(toks []Token) []int {
	var out []int
	n := len(p.terms)
	for i := 0; i+n <= len(toks); i++ {
		ok := true
		for j, term := range p.terms {
			got := toks[i+j].term
			if j == n-1 && p.prefix {
				ok = strings.HasPrefix(got, term)
			} else {
				ok = got == term
			}
			if !ok {
				break
			}
		}
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// instance is where a phrase (by its index in the query) stands in a text.
type instance struct{ phrase, pos, size int }

// instances lists where the phrases stand in toks, by position, then
// phrase, as FTS5's xInst gives them.
func instances(phrases []Phrase, toks []Token) []instance {
	var out []instance
	for i, p := range phrases {
		for _, pos := range p.Positions(toks) {
			out = append(out, instance{i, pos, len(p.terms)})
		}
	}
	slices.SortFunc(out, func(a, b instance) int {
		if a.pos != b.pos {
			return a.pos - b.pos
		}
		return a.phrase - b.phrase
	})
	return out
}

// snippetTokens is how many words a match shows at most.
const snippetTokens = 12

// snippet is FTS5's snippet() of one column: the window of snippetTokens
// words with the best score (every phrase seen counts 1000, each time
// again 1, a window that starts a sentence 100 more), the instances in it
// in brackets, an ellipsis where the text is cut.
func snippet(text string, toks []Token, insts []instance, nPhrases int) string {
	nDoc := len(toks)
	// Where sentences start: the first word, and every word after a '.'
	// or ':' and some white space.
	var firsts []int
	for i, tk := range toks {
		if i == 0 {
			firsts = append(firsts, 0)
			continue
		}
		j := tk.start - 1
		for j >= 0 && strings.IndexByte(" \t\n\r", text[j]) >= 0 {
			j--
		}
		if j != tk.start-1 && j >= 0 && (text[j] == '.' || text[j] == ':') {
			firsts = append(firsts, i)
		}
	}
	best, bestStart := 0, 0
	for _, in := range insts {
		score, adj := windowScore(insts, nPhrases, in.pos, nDoc)
		if score > best {
			best, bestStart = score, adj
		}
		if len(firsts) > 0 && nDoc > snippetTokens {
			jj := 0
			for ; jj < len(firsts)-1; jj++ {
				if firsts[jj+1] > in.pos {
					break
				}
			}
			if firsts[jj] < in.pos {
				score, _ := windowScore(insts, nPhrases, firsts[jj], nDoc)
				if firsts[jj] == 0 {
					score += 120
				} else {
					score += 100
				}
				if score > best {
					best, bestStart = score, firsts[jj]
				}
			}
		}
	}
	return highlight(text, toks, insts, bestStart, bestStart+snippetTokens-1)
}

// windowScore scores the window of words from start, and says where a
// window of the same instances would be centred.
func windowScore(insts []instance, nPhrases, start, nDoc int) (score, adj int) {
	seen := make([]bool, nPhrases)
	first, last := -1, 0
	for _, in := range insts {
		if in.pos < start || in.pos >= start+snippetTokens {
			continue
		}
		if seen[in.phrase] {
			score++
		} else {
			score += 1000
		}
		seen[in.phrase] = true
		if first < 0 {
			first = in.pos
		}
		last = in.pos + in.size
	}
	adj = first - (snippetTokens-(last-first))/2
	if adj+snippetTokens > nDoc {
		adj = nDoc - snippetTokens
	}
	return score, max(adj, 0)
}

// highlight writes the words from lo to hi (and the text before lo when lo
// is the first, after hi when hi is the last), overlapping instances
// merged into one pair of brackets.
func highlight(text string, toks []Token, insts []instance, lo, hi int) string {
	// Merged instances: [start, end] word ranges, from lo on.
	type span struct{ start, end int }
	var spans []span
	for _, in := range insts {
		end := in.pos + in.size - 1
		if n := len(spans); n > 0 && in.pos <= spans[n-1].end {
			spans[n-1].end = max(spans[n-1].end, end)
			continue
		}
		spans = append(spans, span{in.pos, end})
	}
	for len(spans) > 0 && spans[0].start < lo {
		spans = spans[1:]
	}
	var b strings.Builder
	if lo > 0 {
		b.WriteString("…")
	}
	off := 0
	cur := span{-1, -1}
	next := func() {
		cur = span{-1, -1}
		if len(spans) > 0 {
			cur, spans = spans[0], spans[1:]
		}
	}
	next()
	for pos, tk := range toks {
		if pos < lo || pos > hi {
			continue
		}
		if lo > 0 && pos == lo {
			off = tk.start
		}
		if pos == cur.start {
			b.WriteString(text[off:tk.start])
			b.WriteString("[")
			off = tk.start
		}
		if pos == cur.end {
			if cur.start < lo {
				b.WriteString("[")
			}
			b.WriteString(text[off:tk.end])
			b.WriteString("]")
			off = tk.end
			next()
		}
		if pos == hi {
			b.WriteString(text[off:tk.end])
			off = tk.end
			if pos >= cur.start && pos < cur.end {
				b.WriteString("]")
			}
		}
	}
	if hi >= len(toks)-1 {
		b.WriteString(text[off:])
	} else {
		b.WriteString("…")
	}
	return b.String()
}

// Snippet is FTS5's snippet() of text (tokenized as toks) for the query
// phrases.
func Snippet(text string, toks []Token, phrases []Phrase) string {
	return snippet(text, toks, instances(phrases, toks), len(phrases))
}

// Window bounds the text a bounded snippet reads at once, and Budget all
// that a search reads for its snippets: a page of notes fits in one
// window, where the snippet is FTS5's own. A window without the first
// word of a phrase is passed over at some 250 MB/s (mayMatch), so that
// Budget covers a page of 2.5 MB in about 10 ms and bounds a search to
// some 16 ms of looking.
const (
	Window = 64 << 10
	Budget = 4 << 20
)

// BoundedSnippet is Snippet of the first window of text (at most Window
// bytes, cut between words) holding an instance of the phrases, reading
// at most budget bytes (at least one window); text cut off at either
// end shows an ellipsis. It returns what it read. A text of one window is
// snippeted whole, as FTS5 would; one whose matches all lie past the
// budget shows its first window.
func BoundedSnippet(text string, phrases []Phrase, budget int) (snip string, read int) {
	if len(text) <= Window {
		return Snippet(text, Tokenize(text), phrases), len(text)
	}
	first := ""
	for lo := 0; lo < len(text); {
		hi := cutAt(text, lo+Window)
		part := text[lo:hi]
		read += len(part)
		if first != "" && hi < len(text) && read < budget && !mayMatch(part, phrases) {
			lo = hi // no match here: on to the next window
			continue
		}
		toks := Tokenize(part)
		insts := instances(phrases, toks)
		if len(insts) > 0 || read >= budget || hi == len(text) {
			if len(insts) == 0 && first != "" {
				return first, read
			}
			return ellipses(snippet(part, toks, insts, len(phrases)), lo > 0, hi < len(text)), read
		}
		if first == "" {
			first = ellipses(snippet(part, toks, nil, len(phrases)), lo > 0, true)
		}
		lo = hi
	}
	return first, read
}

// cutAt is where a window ending near at ends: between two words (or
// after a word and before what is none, as white space) in the 256 bytes
// before it, so that no word is cut in two, a CJK text's between any two
// characters; else, in a word longer than that, at a character's start.
func cutAt(text string, at int) int {
	if at >= len(text) {
		return len(text)
	}
	for at > 0 && !utf8.RuneStart(text[at]) {
		at--
	}
	for i := at; i > at-256 && i > 0; {
		before, n := utf8.DecodeLastRuneInString(text[:i])
		after, _ := utf8.DecodeRuneInString(text[i:])
		if !inWord(before) || !inWord(after) {
			return i
		}
		i -= n
	}
	return at
}

// inWord reports a character that the next one can belong to the same
// word as: part of a word that is more than one character.
func inWord(r rune) bool {
	return isAccent(r) || isWordRune(r) && !isCJK(r)
}

// ellipses marks a snippet of a window cut from a longer text.
func ellipses(s string, cutBefore, cutAfter bool) string {
	if cutBefore && !strings.HasPrefix(s, "…") {
		s = "…" + s
	}
	if cutAfter && !strings.HasSuffix(s, "…") {
		s += "…"
	}
	return s
}
