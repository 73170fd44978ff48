package vault

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Anonymize keeps only the structure of a text: line breaks, spaces, ASCII
// punctuation (the Markdown around the words) and the length of each word.
// Every letter of every script becomes a placeholder of its class (X
// upper or title case, x any other), every digit of any script 0, every
// emoji or other symbol outside ASCII one ◇ (a whole ZWJ sequence, flag or
// skin-toned emoji included), punctuation and spaces of other scripts
// their ASCII kin, and combining marks and invisible formatting
// characters are dropped (Devanagari vowel signs, Hebrew points, joiners
// each tell the script or more). URLs, e-mail addresses and ids or keys
// (long runs mixing letters and digits) become <url>, <email> and <id>
// whole: their shape (a domain's length, where an id has digits) could
// name them.
func Anonymize(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range anonTokens.FindAllStringIndex(s, -1) {
		anonymizeRunes(&b, s[last:m[0]])
		tok := s[m[0]:m[1]]
		// Punctuation that ends a sentence or closes a Markdown link stays.
		body := strings.TrimRight(tok, ".,;:!?)]}>'\"*_")
		lower := strings.ToLower(body)
		switch {
		case strings.HasPrefix(lower, "mycel:"):
			b.WriteString("mycel:<id>") // a link to another object, kept as one
		case strings.Contains(body, ":") || strings.HasPrefix(lower, "www."):
			b.WriteString("<url>")
		case strings.Contains(body, "@"):
			b.WriteString("<email>")
		case idLike(body):
			b.WriteString("<id>")
		default:
			// A long word: its letters are replaced one by one.
			body = ""
		}
		anonymizeRunes(&b, tok[len(body):])
		last = m[1]
	}
	anonymizeRunes(&b, s[last:])
	return b.String()
}

// anonymizeRunes writes s with each rune replaced (see Anonymize).
func anonymizeRunes(b *strings.Builder, s string) {
	// emoji: the last rune written stood for a symbol; glued: a joiner
	// came after it, so the next symbol is part of the same emoji.
	emoji, glued := false, false
	for _, r := range s {
		if emoji {
			switch {
			case r == '\u200d':
				glued = true
				continue
			case unicode.Is(unicode.Variation_Selector, r), isSkinTone(r), isTag(r), isRegional(r):
				continue
			case glued && unicode.IsSymbol(r):
				glued = false
				continue
			}
		}
		emoji, glued = false, false
		switch {
		case r < 0x80 && r != '\u007f' && (r >= ' ' || r == '\n' || r == '\t'):
			switch {
			case r >= 'A' && r <= 'Z':
				r = 'X'
			case r >= 'a' && r <= 'z':
				r = 'x'
			case r >= '0' && r <= '9':
				r = '0'
			}
		case unicode.IsUpper(r) || unicode.IsTitle(r):
			r = 'X'
		case unicode.IsLetter(r):
			r = 'x'
		case unicode.IsNumber(r):
			r = '0'
		case unicode.IsSpace(r):
			if r == '\u2028' || r == '\u2029' || r == '\u0085' {
				r = '\n'
			} else {
				r = ' '
			}
		case unicode.Is(unicode.Pd, r):
			r = '-'
		case unicode.Is(unicode.Ps, r):
			r = '('
		case unicode.Is(unicode.Pe, r):
			r = ')'
		case unicode.Is(unicode.Pi, r) || unicode.Is(unicode.Pf, r):
			r = '"'
		case unicode.Is(unicode.Pc, r):
			r = '_'
		case unicode.IsPunct(r):
			r = '.'
		case unicode.IsSymbol(r):
			r, emoji = '◇', true
		default: // marks, joiners, controls, private use, unassigned
			continue
		}
		b.WriteRune(r)
	}
}

// anonTokens finds URLs (with a scheme, or starting www.), mycel links,
// e-mail addresses and long runs of id characters.
var anonTokens = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://\S+|\bwww\.\S+|\b(?:mailto|mycel|tel|urn|data):\S+|[^\s@()\[\]<>"']+@[^\s@()\[\]<>"']+\.[^\s@()\[\]<>"']+|[A-Za-z0-9+/=_-]{16,}`)

// idLike: a long run of id characters with letters and digits both (a
// long word, or a long number, is not one).
func idLike(s string) bool {
	return strings.ContainsAny(s, "0123456789") && strings.IndexFunc(s, func(r rune) bool { return r < 0x80 && unicode.IsLetter(r) }) >= 0
}

func isSkinTone(r rune) bool { return r >= 0x1F3FB && r <= 0x1F3FF }
func isTag(r rune) bool      { return r >= 0xE0020 && r <= 0xE007F }
func isRegional(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// anonymizeDetails anonymizes a page's details, names as well as values:
// a detail's name is the person's own words (only the engine's and
// Markdown's usual names are kept). Names that come out the same are
// numbered, so none is lost.
func anonymizeDetails(d map[string]string) map[string]string {
	out := make(map[string]string, len(d))
	for _, k := range slices.Sorted(maps.Keys(d)) {
		name := k
		if !knownDetail(k) {
			name = Anonymize(k)
		}
		for n := 2; ; n++ {
			if _, taken := out[name]; !taken {
				break
			}
			name = fmt.Sprintf("%s (%d)", Anonymize(k), n)
		}
		out[name] = Anonymize(d[k])
	}
	return out
}

func knownDetail(k string) bool {
	switch k {
	case "title", "type", "tags", "aliases":
		return true
	}
	return reserved(k)
}
