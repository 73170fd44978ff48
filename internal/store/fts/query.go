package fts

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The query language, as `mycel search --help` teaches it:
//
//	garden tom        every word, in the title or the text; the last one
//	                  may be the start of a word (tomato), if it has two
//	                  characters or more
//	"south wall"      a phrase: its words in a row
//	tag:home          objects tagged home (the tags detail, or #home in the
//	                  text); tag:home finds home/garden too
//	-basil            leaves out the objects that have the word (or
//	                  -"a phrase", -tag:NAME)
//
// Anything else is text: a quote that never closes makes a phrase to the
// end, and FTS5's own syntax (AND, OR, NOT, NEAR, *, :, ^, parentheses)
// is words or punctuation, never an operator: Query.FTS writes every
// word inside quotes, and a word holds only letters, digits and the
// private-use characters of symbols and tags.

// Phrase is words in a row; the last a prefix when prefix is set.
type Phrase struct {
	terms  []string
	prefix bool
}

// Part is one thing a query asks of an object.
type Part struct {
	Phrase
	Tag bool // a tag the object carries (tag:NAME), not words of its title and text
	Not bool // left out (-word): an object that has it is not found
}

// Query is what Parse makes of what a person typed: every part holds
// (those with Not do not), and at least one part is not a Not.
type Query struct {
	Parts []Part
}

// ErrEmptyQuery is Parse's error for a query of nothing but spaces.
var ErrEmptyQuery = errors.New(`nothing to search for: type a word, a "phrase" or tag:NAME`)

// Parse reads a query (see the language above). It fails only on a query
// that asks nothing (blank, or nothing but punctuation) or that only
// leaves out: either would find everything, which is ls's work, not a
// search's.
func Parse(q string) (Query, error) {
	if strings.TrimSpace(q) == "" {
		return Query{}, ErrEmptyQuery
	}
	var out Query
	lastBare := false // whether the last item read was a bare word with a part
	for i := 0; i < len(q); {
		r, n := utf8.DecodeRuneInString(q[i:])
		if unicode.IsSpace(r) {
			i += n
			continue
		}
		var p Part
		if next, _ := utf8.DecodeRuneInString(q[i+n:]); r == '-' && i+n < len(q) && !unicode.IsSpace(next) {
			p.Not = true
			i++
		}
		var text string
		bare := false
		if q[i] == '"' {
			// A phrase, to its closing quote or to the end.
			text = q[i+1:]
			if end := strings.IndexByte(text, '"'); end >= 0 {
				text = text[:end]
				i += end + 2
			} else {
				i = len(q)
			}
		} else {
			// A word, to white space or a quote.
			end := strings.IndexFunc(q[i:], func(r rune) bool { return r == '"' || unicode.IsSpace(r) })
			if end < 0 {
				end = len(q) - i
			}
			text = q[i : i+end]
			i += end
			if name, ok := cutTag(text); ok {
				text, p.Tag = name, true
			} else {
				bare = !p.Not
			}
		}
		lastBare = false
		for _, tk := range Tokenize(text) {
			p.terms = append(p.terms, tk.term)
		}
		if len(p.terms) == 0 {
			continue // punctuation alone, "", tag: with no name
		}
		if p.Tag {
			p.terms = append(append([]string{tagMark}, p.terms...), tagMark)
		}
		out.Parts = append(out.Parts, p)
		lastBare = bare
	}
	if lastBare {
		// A prefix of one character would find nearly everything, and
		// costs the most: such a last word is a word.
		last := &out.Parts[len(out.Parts)-1]
		last.prefix = utf8.RuneCountInString(last.terms[len(last.terms)-1]) >= 2
	}
	switch {
	case len(out.Parts) == 0:
		return out, fmt.Errorf("%q has no word to search for (punctuation is left out): type a word, a \"phrase\" or tag:NAME", q)
	case !out.finds():
		return out, fmt.Errorf("%q only leaves out (-word): add a word, a \"phrase\" or tag:NAME to find, as in: garden -basil", q)
	}
	return out, nil
}

// cutTag returns the NAME of tag:NAME or tag:#NAME (in any case).
func cutTag(word string) (string, bool) {
	if len(word) <= 4 || !strings.EqualFold(word[:4], "tag:") {
		return "", false
	}
	return strings.TrimPrefix(word[4:], "#"), true
}

// finds reports whether q asks for something, not only leaves out.
func (q Query) finds() bool {
	for _, p := range q.Parts {
		if !p.Not {
			return true
		}
	}
	return false
}

// Highlight lists the phrases a snippet shows in brackets: the words to
// find in the text.
func (q Query) Highlight() []Phrase {
	var out []Phrase
	for _, p := range q.Parts {
		if !p.Tag && !p.Not {
			out = append(out, p.Phrase)
		}
	}
	return out
}

// FTS is q as an FTS5 MATCH expression over the columns title, body and
// tags of a table indexed with IndexText (and TagText for tags): every
// phrase quoted, words searched in the title and body, tags in tags. The
// parts that find come first, in the order typed, and then the left-out
// ones: bm25 sums over phrases in this order, as Rank does.
func (q Query) FTS() string {
	var finds, nots []string
	for _, p := range q.Parts {
		col := "{title body}"
		if p.Tag {
			col = "tags"
		}
		// Terms are letters, digits and private-use characters: no quote
		// to escape, nothing FTS5 reads as syntax.
		e := col + ` : "` + strings.Join(p.terms, " ") + `"`
		if p.prefix {
			e += "*"
		}
		if p.Not {
			nots = append(nots, " NOT ("+e+")")
		} else {
			finds = append(finds, "("+e+")")
		}
	}
	return "(" + strings.Join(finds, " AND ") + ")" + strings.Join(nots, "")
}

// String is q in the query language, one way of writing each part: two
// queries that find the same have the same String (what a search's
// cursor is checked against).
func (q Query) String() string {
	var b strings.Builder
	for i, p := range q.Parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		if p.Not {
			b.WriteByte('-')
		}
		terms := p.terms
		if p.Tag {
			b.WriteString("tag:")
			terms = terms[1 : len(terms)-1]
		}
		b.WriteString(`"` + strings.Join(terms, " ") + `"`)
		if p.prefix {
			b.WriteByte('*')
		}
	}
	return b.String()
}

// tagMark stands before and after each tag in the tags column, so that a
// tag is found whole: tag:south does not find south-wall. It is the last
// private-use character, which no symbol's word is (symbolBase).
const tagMark = "\U0010FFFD"

// TagText is the tags column of an object carrying tags: each tag, and
// each of its parents (home of home/garden), as its words between two
// tagMarks. It is the text both stores index, the SQLite store as it is
// (its words are folded already), the memory store tokenized.
func TagText(tags []string) string {
	var b strings.Builder
	seen := map[string]bool{}
	add := func(tag string) {
		var terms []string
		for _, tk := range Tokenize(tag) {
			terms = append(terms, tk.term)
		}
		key := strings.Join(terms, " ")
		if len(terms) == 0 || seen[key] {
			return
		}
		seen[key] = true
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(tagMark + " " + key + " " + tagMark)
	}
	for _, t := range tags {
		t = strings.TrimPrefix(strings.TrimSpace(t), "#")
		for i := range len(t) {
			if t[i] == '/' {
				add(t[:i])
			}
		}
		add(t)
	}
	return b.String()
}

// Body is an FTS5 expression that matches a text whose body holds one of
// the words q highlights ("" when q highlights none, as tag:NAME): the
// SQLite store asks it of a hit with a long text, whose match may lie in
// its title or tags alone, before it reads the text for a snippet.
func (q Query) Body() string {
	var es []string
	for _, p := range q.Highlight() {
		e := `"` + strings.Join(p.terms, " ") + `"`
		if p.prefix {
			e += "*"
		}
		es = append(es, e)
	}
	if len(es) == 0 {
		return ""
	}
	return "body : (" + strings.Join(es, " OR ") + ")"
}

// InBody reports whether toks, a body's words, hold one of the words q
// highlights: the memory store's Body.
func (q Query) InBody(toks []Token) bool {
	for _, p := range q.Highlight() {
		if len(p.Positions(toks)) > 0 {
			return true
		}
	}
	return false
}

// Snippets makes the snippets of one search's hits, in the order shown,
// reading Budget bytes of their texts in all to look for the words (see
// BoundedSnippet), and then a window: past it, and for a hit whose text
// holds none of the words, a snippet is the start of the text, of which
// it reads Head bytes. A page of n hits reads at most Budget + Window +
// n×Head bytes of text, whatever the texts' sizes.
type Snippets struct {
	phrases []Phrase
	read    int
}

// Head bounds what a snippet of a text's start reads: some words.
const Head = 4 << 10

// Snippets starts the snippets of a search for q.
func (q Query) Snippets() *Snippets { return &Snippets{phrases: q.Highlight()} }

// Of is the snippet of a hit whose text is body; inBody false says the
// body holds none of the words (the hit matched in its title or tags).
func (s *Snippets) Of(body string, inBody bool) string {
	if !inBody || s.read >= Budget {
		// The start of the text: no match to look for, or no budget
		// left to look with.
		head := body[:cutAt(body, Head)]
		s.read += len(head)
		return ellipses(Snippet(head, Tokenize(head), nil), false, len(head) < len(body))
	}
	snip, read := BoundedSnippet(body, s.phrases, Budget-s.read)
	s.read += read
	return snip
}

// Read is how many bytes of text the snippets read.
func (s *Snippets) Read() int { return s.read }
