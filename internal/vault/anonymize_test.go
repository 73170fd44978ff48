package vault

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// Every script's letters, every digit, every emoji, URL, address and id
// come out as placeholders of their class: only the structure is left.
// (Letters were replaced by random ones but marks, symbols, emoji,
// non-ASCII punctuation and every URL's shape were kept.)
func TestAnonymizeEveryScript(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"Latin", "Hello, World 2026!\n- [ ] Buy milk & eggs.", "Xxxxx, Xxxxx 0000!\n- [ ] Xxx xxxx & xxxx."},
		{"Latin accents", "Ça coûte 5 €, señor", "Xx xxxxx 0 ◇, xxxxx"},
		{"decomposed accents", "cafe\u0301 nai\u0308ve", "xxxx xxxxx"},
		{"Cyrillic", "Привет, мир", "Xxxxxx, xxx"},
		{"Greek", "Καλημέρα κόσμε", "Xxxxxxxx xxxxx"},
		{"Arabic", "مرحبا بالعالم، ١٢٣", "xxxxx xxxxxxx. 000"},
		{"Hebrew with points", "שָׁלוֹם עוֹלָם", "xxxx xxxx"},
		{"Devanagari", "नमस्ते दुनिया।", "xxxx xxx."},
		{"Thai", "สวัสดีชาวโลก", "xxxxxxxxxx"},
		{"CJK", "你好，世界。「引用」", "xx.xx.(xx)"},
		{"Japanese", "こんにちは カタカナ", "xxxxx xxxx"},
		{"Hangul", "안녕하세요 세계", "xxxxx xx"},
		{"ideographic space", "東京\u3000大阪", "xx xx"},
		{"emoji", "party 🎉 time 😀😀", "xxxxx ◇ xxxx ◇◇"},
		{"ZWJ family", "we 👨‍👩‍👧‍👦 are", "xx ◇ xxx"},
		{"skin tone and selector", "ok 👍🏽 ❤️ done", "xx ◇ ◇ xxxx"},
		{"flag", "from 🇫🇷 here", "xxxx ◇ xxxx"},
		{"keycap", "press 1️⃣", "xxxxx 0"},
		{"URL", "see https://acme-secret.example.com/q3/plan?x=1 now", "xxx <url> xxx"},
		{"URL in a Markdown link", "[plan](https://intranet.acme.corp/p).", "[xxxx](<url>)."},
		{"www", "at www.acme.com, then", "xx <url>, xxxx"},
		{"e-mail", "mail marguerite.dupont@acme.fr.", "xxxx <email>."},
		{"mailto", "<mailto:bob@acme.fr>", "<<url>>"},
		{"object link", "[Other](mycel:" + strings.Repeat("ab12", 16) + ")", "[Xxxxx](mycel:<id>)"},
		{"hex id", "change " + strings.Repeat("0f", 32) + " failed", "xxxxxx <id> xxxxxx"},
		{"peer id", "peer 12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf", "xxxx <id>"},
		{"long word", "internationalization", "xxxxxxxxxxxxxxxxxxxx"},
		{"long number", "card 4111111111111111", "xxxx 0000000000000000"},
		{"invisible", "a\u200bb\u200ec\u202ed\ufeff", "xxxx"},
		{"superscript and fractions", "x² ½ Ⅻ", "x0 0 0"},
		{"math and currency", "∑ ≤ ¥ ©", "◇ ◇ ◇ ◇"},
		{"tabs and lines", "a\tb\u2028c", "x\tx\nx"},
	} {
		if got := Anonymize(c.in); got != c.want {
			t.Errorf("%s: Anonymize(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

// Whatever the text, what comes out is ASCII (no script, emoji or
// symbol of the original survives, so none tells its language) besides
// the symbol placeholder; its letters are only x and X, its digits only
// 0; its lines are as many.
func TestAnonymizeKeepsNothingButStructure(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := rapid.StringOf(rapid.OneOf(
			rapid.RuneFrom(nil, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.Cf),
			rapid.RuneFrom([]rune("\n\t :/.@-_[]()#*")),
			rapid.SampledFrom([]rune("👨‍👩‍👧🇫🇷👍🏽❤️")),
		)).Draw(t, "text")
		out := Anonymize(in)
		for _, r := range out {
			if r >= utf8.RuneSelf && r != '◇' {
				t.Fatalf("%q survived in %q (from %q)", r, out, in)
			}
			if unicode.IsLetter(r) && r != 'x' && r != 'X' && !strings.Contains(out, "<") {
				t.Fatalf("letter %q kept: %q", r, out)
			}
			if unicode.IsDigit(r) && r != '0' {
				t.Fatalf("digit %q kept: %q", r, out)
			}
		}
		lines := func(s string) int {
			return strings.Count(s, "\n") + strings.Count(s, "\u2028") + strings.Count(s, "\u2029") + strings.Count(s, "\u0085")
		}
		if !strings.Contains(out, "<") && lines(out) != lines(in) {
			t.Fatalf("lines: %d → %d (%q → %q)", lines(in), lines(out), in, out)
		}
	})
}

// A page's details are anonymized names and all: a name the person chose
// is their words too. The usual names stay, and names that come out
// alike are numbered, so none is lost.
func TestAnonymizeDetailNames(t *testing.T) {
	got := anonymizeDetails(map[string]string{"title": "Zanzibar trip", "client": "Acme", "budget": "12 000 €", "tags": "travel"})
	want := map[string]string{"title": "Xxxxxxxx xxxx", "xxxxxx": "00 000 ◇", "xxxxxx (2)": "Xxxx", "tags": "xxxxxx"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}
