package markdown

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	ghtml "github.com/yuin/goldmark/renderer/html"

	"mycel/internal/crdt"
)

// example is one example of the CommonMark spec or of GFM's extensions.
type example struct {
	Markdown string `json:"markdown"`
	Example  int    `json:"example"`
	Section  string `json:"section"`
	set      string
}

// findSpecDir finds the shared test data: beside the repository
// (../shared from its root), or beside the folder of worktrees; "" when
// it is not there.
func findSpecDir() string {
	for _, d := range []string{"../../../shared/data/markdown", "../../../../shared/data/markdown"} {
		if _, err := os.Stat(filepath.Join(d, "commonmark-spec.json")); err == nil {
			return d
		}
	}
	return ""
}

func loadExamples(tb testing.TB) []example {
	dir := findSpecDir()
	if dir == "" {
		tb.Skip("no shared/data/markdown beside the repository: the spec examples are not here")
	}
	all, err := readExamples(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return all
}

func readExamples(dir string) ([]example, error) {
	var all []example
	for _, f := range []string{"commonmark-spec.json", "gfm-extensions.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		var ex []example
		if err := json.Unmarshal(b, &ex); err != nil {
			return nil, fmt.Errorf("%s: %v", f, err)
		}
		for i := range ex {
			ex[i].set = strings.TrimSuffix(f, ".json")
		}
		all = append(all, ex...)
	}
	return all, nil
}

// gfmHTML renders Markdown as the reference does: goldmark, CommonMark +
// GFM, raw HTML kept.
var gfm = goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(ghtml.WithUnsafe()))

func toHTML(tb testing.TB, md goldmark.Markdown, src string) string {
	var b bytes.Buffer
	if err := md.Convert([]byte(src), &b); err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

var (
	betweenTags = regexp.MustCompile(`>\s+<`)
	spaces      = regexp.MustCompile(`[ \t\n]+`)
	preRe       = regexp.MustCompile(`(?s)<pre.*?</pre>`)
	tagRe2      = regexp.MustCompile(`<[^>]*>`)
)

// normHTML drops the whitespace between tags and folds runs of it
// elsewhere to one space, outside <pre>: differences a browser does not
// show.
func normHTML(h string) string {
	var out strings.Builder
	last := 0
	fold := func(s string) string { return spaces.ReplaceAllString(betweenTags.ReplaceAllString(s, "><"), " ") }
	for _, m := range preRe.FindAllStringIndex(h, -1) {
		out.WriteString(fold(h[last:m[0]]))
		out.WriteString(h[m[0]:m[1]])
		last = m[1]
	}
	out.WriteString(fold(h[last:]))
	return strings.TrimSpace(betweenTags.ReplaceAllString(out.String(), "><"))
}

// words is the text of rendered HTML, word by word.
func words(h string) []string {
	return strings.Fields(html.UnescapeString(tagRe2.ReplaceAllString(h, " ")))
}

// lostWords lists the words of want missing from got.
func lostWords(want, got string) []string {
	have := map[string]bool{}
	for _, w := range words(got) {
		have[w] = true
	}
	var lost []string
	for _, w := range words(want) {
		if !have[w] {
			lost = append(lost, w)
		}
	}
	return lost
}

// TestFidelity imports and exports every example of the CommonMark spec
// and of GFM's extensions (Markdown flavor): the export must render to the
// same HTML as the original for at least 99% of them, lose no word in any,
// and read back to the same blocks in every one. The examples that differ
// are written to a file named in the log.
func TestFidelity(t *testing.T) {
	exs := loadExamples(t)
	md := WithFlavor(Markdown)
	var report strings.Builder
	same, unstable := 0, 0
	for _, ex := range exs {
		blocks := Parse(ex.Markdown, md)
		out := Render(blocks, md)
		want, got := toHTML(t, gfm, ex.Markdown), toHTML(t, gfm, out)
		if lost := lostWords(want, got); len(lost) > 0 {
			t.Errorf("%s example %d (%s) loses %q\nmarkdown: %q\nexport:   %q", ex.set, ex.Example, ex.Section, lost, ex.Markdown, out)
		}
		if again := Parse(out, md); !reflect.DeepEqual(norm(again), norm(blocks)) {
			unstable++
			t.Errorf("%s example %d (%s) reads back otherwise\nmarkdown: %q\nexport:   %q\nfirst:  %s\nsecond: %s",
				ex.set, ex.Example, ex.Section, ex.Markdown, out, dump(blocks), dump(again))
		}
		if normHTML(want) == normHTML(got) {
			same++
			continue
		}
		fmt.Fprintf(&report, "## %s example %d (%s)\n\n````markdown\n%s````\n\nexport:\n\n````markdown\n%s````\n\noriginal HTML:\n\n````html\n%s````\n\nexport HTML:\n\n````html\n%s````\n\n",
			ex.set, ex.Example, ex.Section, ex.Markdown, out, want, got)
	}
	pct := 100 * float64(same) / float64(len(exs))
	t.Logf("fidelity: %d of %d examples render to the same HTML (%.2f%%); %d read back otherwise", same, len(exs), pct, unstable)
	if same < len(exs) {
		path := filepath.Join(os.TempDir(), "mycel-fidelity-failures.md")
		if err := os.WriteFile(path, []byte(report.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("the %d examples that differ: %s", len(exs)-same, path)
	}
	if pct < 99 {
		t.Fatalf("fidelity %.2f%% is below 99%%", pct)
	}
}

// dump shows blocks with their attributes and marks, for failure messages.
func dump(bs []*crdt.Block) string {
	b, _ := json.Marshal(bs)
	return string(b)
}
