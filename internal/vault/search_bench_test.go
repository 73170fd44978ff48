package vault

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// longPage is a page of 2.5 MB in paragraphs, a needle near its end.
func longPage() string {
	para := strings.Repeat("lorem ipsum dolor sit amet consectetur ", 50) + "\n\n"
	body := strings.Repeat(para, 2_500_000/len(para))
	return body[:len(body)-5000] + "the needle is here\n\n" + body[len(body)-5000:]
}

// longVault is a vault of a page of 2.5 MB titled Haystack and 200 short
// pages.
func longVault(tb testing.TB) *Engine {
	tb.Helper()
	e, _, err := Init(ctx, filepath.Join(tb.TempDir(), "v"), "laptop")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	if _, err := e.CreateMarkdown(ctx, longPage(), map[string]string{"title": "Haystack"}); err != nil {
		tb.Fatal(err)
	}
	for i := range 200 {
		if _, err := e.CreateMarkdown(ctx, fmt.Sprintf("short page %d about lorem and the garden", i), map[string]string{"title": fmt.Sprint("Page ", i)}); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := e.Search(ctx, "warm up", SearchOptions{}); err != nil { // the text indexed
		tb.Fatal(err)
	}
	return e
}

// A hit in a page of 2.5 MB shows a bounded window around the match, and
// one by its title the start of its text.
func TestSearchLongPage(t *testing.T) {
	e := longVault(t)
	for _, c := range []struct{ query, want string }{
		{"needle", "the [needle] is here"},
		{"haystack", "lorem ipsum dolor"},
		{`"the needle" tag:none`, ""},
	} {
		p, err := e.Search(ctx, c.query, SearchOptions{Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if c.want == "" {
			if len(p.Hits) != 0 {
				t.Fatalf("%q: %d hits", c.query, len(p.Hits))
			}
			continue
		}
		if len(p.Hits) != 1 || !strings.Contains(p.Hits[0].Match, c.want) || len(p.Hits[0].Match) > 300 {
			t.Fatalf("%q: %d hits, match %.400q", c.query, len(p.Hits), hitMatch(p))
		}
	}
}

func hitMatch(p SearchPage) string {
	if len(p.Hits) == 0 {
		return ""
	}
	return p.Hits[0].Match
}

// BenchmarkSearchLongPage is the engine's search (the CLI's and the web
// app's) in a vault holding a page of 2.5 MB: its needle near the end,
// its title, and a word of every page.
func BenchmarkSearchLongPage(b *testing.B) {
	e := longVault(b)
	for _, q := range []string{"needle", "haystack", "lorem"} {
		b.Run(q, func(b *testing.B) {
			var ru0 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			for b.Loop() {
				if p, err := e.Search(ctx, q, SearchOptions{Limit: 20}); err != nil || len(p.Hits) == 0 {
					b.Fatal(p, err)
				}
			}
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
