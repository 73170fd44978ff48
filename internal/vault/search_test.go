package vault

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mycel/internal/change"
)

// Search finds by the tags detail and the #tags of the text, in Chinese
// and Japanese sentences and by emoji, leaves out what is in the bin, and
// pages with cursors that neither repeat nor skip a hit.
func TestSearchEngine(t *testing.T) {
	e, _, err := Init(ctx, filepath.Join(t.TempDir(), "v"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	mk := func(md string, details map[string]string) change.ID {
		t.Helper()
		id, err := e.CreateMarkdown(ctx, md, details)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	tagged := mk("Tomatoes along the wall", map[string]string{"title": "Garden", "tags": "home/outside, food"})
	listed := mk("Basil", map[string]string{"title": "Herbs", "tags": "[herbs, food]"})
	hashed := mk("Notes on #compost and the wall", map[string]string{"title": "Compost"})
	japanese := mk("私は日本語を勉強しています。東京タワーに行きました。", map[string]string{"title": "日記"})
	emoji := mk("Sprouting today 🌱", map[string]string{"title": "Seeds"})
	binned := mk("the wall in the bin", map[string]string{"title": "Binned", "tags": "food"})
	if _, err := e.Delete(ctx, binned); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query string
		want  []change.ID
	}{
		{"tag:food", []change.ID{tagged, listed}},
		{"tag:home", []change.ID{tagged}},
		{"tag:compost", []change.ID{hashed}},
		{"tag:food -tag:herbs", []change.ID{tagged}},
		{"wall", []change.ID{tagged, hashed}},
		{`"and the wall"`, []change.ID{hashed}},
		{"東京", []change.ID{japanese}},
		{"日本語", []change.ID{japanese}},
		{"🌱", []change.ID{emoji}},
	} {
		hits, err := search(e, c.query, 10)
		if err != nil {
			t.Fatalf("search %q: %v", c.query, err)
		}
		if got := hitIDs(hits); fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(c.want)) {
			t.Errorf("search %q = %v, want %v", c.query, shortIDs(got), shortIDs(c.want))
		}
	}

	// Pages of 2 of 9 hits: each After the last cursor.
	for i := range 7 {
		mk(strings.Repeat("page ", 1+i%3), map[string]string{"title": fmt.Sprint("Paged ", i)})
	}
	all, err := e.Search(ctx, "page", SearchOptions{})
	if err != nil || len(all.Hits) != 7 || all.More {
		t.Fatalf("all hits: %d, more %v, %v", len(all.Hits), all.More, err)
	}
	var paged []SearchHit
	after := ""
	for range 10 {
		p, err := e.Search(ctx, "page", SearchOptions{Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, p.Hits...)
		if !p.More {
			if len(p.Hits) == 0 || len(paged) != 7 {
				t.Fatalf("the last page has %d hits, %d in all", len(p.Hits), len(paged))
			}
			break
		}
		after = p.Hits[len(p.Hits)-1].Cursor
	}
	if fmt.Sprint(hitIDs(paged)) != fmt.Sprint(hitIDs(all.Hits)) {
		t.Fatalf("pages %v, all %v", shortIDs(hitIDs(paged)), shortIDs(hitIDs(all.Hits)))
	}
	last := all.Hits[6].Cursor
	if p, err := e.Search(ctx, "page", SearchOptions{Limit: 2, After: last}); err != nil || len(p.Hits) != 0 || p.More {
		t.Fatalf("after the last hit: %v, %v", p, err)
	}

	// Errors that say what to do.
	var bad *SearchError
	for _, c := range []struct{ query, after, want string }{
		{"", "", "nothing to search for"},
		{"-wall", "", "only leaves out"},
		{"page", "nonsense", "not a cursor"},
		{"page", all.Hits[0].Cursor[:20], "not a cursor"},
		{"wall", last, "another search"},
		{"pag", last, "another search"}, // a prefix of it is another search
	} {
		_, err := e.Search(ctx, c.query, SearchOptions{After: c.after})
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &bad) {
			t.Errorf("search %q after %q: %v, want an error saying %q", c.query, c.after, err, c.want)
		}
	}
	// The same search written otherwise goes on from the cursor.
	if _, err := e.Search(ctx, "  PAGE ", SearchOptions{After: all.Hits[0].Cursor}); err != nil {
		t.Fatalf("the same words, in capitals: %v", err)
	}
}

func hitIDs(hits []SearchHit) []change.ID {
	var out []change.ID
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

func sorted(ids []change.ID) []string {
	var out []string
	for _, id := range ids {
		out = append(out, id.String())
	}
	slices.Sort(out)
	return out
}
