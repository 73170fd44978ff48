package main

import (
	"strings"
	"testing"
)

// search pages as ls does: --limit shows the best first, the last line
// gives the command for the next page (--after its cursor), and --json
// rows carry their cursors; the query language reaches the engine as
// typed, dashes after --.
func TestSearchPages(t *testing.T) {
	c := newCLI(t)
	c.ok("init", "--show-phrase", "--name", "laptop")
	for i, body := range []string{"tomato", "tomato tomato", "tomato basil", "tomatoes #garden", "東京タワーに行きました 🌱 tomato"} {
		c.ok("new", "--title", "Note "+string(rune('A'+i)), "--text", body)
	}
	type row struct{ ID, Title, Match, Cursor string }
	whole := jsonOf[[]row](t, c.ok("search", "--json", "--limit", "0", "tom"))
	if len(whole) != 5 {
		t.Fatalf("search tom: %+v", whole)
	}
	var paged []row
	args := []string{"search", "--limit", "2", "tom"}
	for range 5 {
		out := c.ok(args...)
		page := jsonOf[[]row](t, c.ok(append([]string{"--json"}, args...)...))
		paged = append(paged, page...)
		last := strings.Split(strings.TrimSpace(out), "\n")
		next, more := strings.CutPrefix(last[len(last)-1], "More: mycel ")
		if !more {
			break
		}
		if !strings.Contains(next, "--after "+page[len(page)-1].Cursor+" ") {
			t.Fatalf("the next page's command %q is not after the last cursor %s", next, page[len(page)-1].Cursor)
		}
		args = []string{"search", "--limit", "2", "--after", page[len(page)-1].Cursor, "tom"}
	}
	if len(paged) != len(whole) {
		t.Fatalf("pages hold %d hits, the search %d", len(paged), len(whole))
	}
	for i := range whole {
		if paged[i] != whole[i] {
			t.Fatalf("page order differs at %d: %+v, want %+v", i, paged[i], whole[i])
		}
	}
	for _, c2 := range []struct {
		args []string
		want string
	}{
		{[]string{"search", "tag:garden"}, "Note D"},
		{[]string{"search", "東京"}, "[東京]"},
		{[]string{"search", "🌱"}, "[🌱]"},
		{[]string{"search", "--", "tomato", "-basil"}, "Note B"},
		{[]string{"search", `"tomato tomato`}, "Note B"},
		{[]string{"search", `NEAR(tomato OR)`}, "Nothing found."},
	} {
		if out := c.ok(c2.args...); !strings.Contains(out, c2.want) {
			t.Errorf("mycel %s: %s", strings.Join(c2.args, " "), out)
		}
	}
	if out := c.ok("search", "--", "tomato", "-basil"); strings.Contains(out, "Note C") {
		t.Errorf("tomato -basil finds Note C: %s", out)
	}
	c.fails("nothing to search for", "search")
	c.fails("only leaves out", "search", "--", "-tomato")
	c.fails("--after", "search", "--after", "nonsense", "tom")
	c.fails("another search", "search", "--after", whole[0].Cursor, "basil")
	c.fails("--limit must be", "search", "--limit", "-1", "tom")
}
