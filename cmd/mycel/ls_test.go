package main

import (
	"strings"
	"testing"
)

// ls pages: --limit shows the most recent first, --after continues from
// the last id printed, and the pages add up to the whole listing.
func TestLsPages(t *testing.T) {
	c := newCLI(t)
	c.ok("init", "--show-phrase", "--name", "laptop")
	for _, title := range []string{"One", "Two", "Three", "Four", "Five"} {
		c.ok("new", "--title", title)
	}
	type row struct{ ID, Title string }
	whole := jsonOf[[]row](t, c.ok("ls", "--json"))
	if len(whole) != 5 || whole[0].Title != "Five" {
		t.Fatalf("ls: %+v", whole)
	}
	var paged []row
	args := []string{"ls", "--json", "--limit", "2"}
	for range 5 {
		page := jsonOf[[]row](t, c.ok(args...))
		if len(page) > 2 {
			t.Fatalf("a page of %d with --limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		args = []string{"ls", "--json", "--limit", "2", "--after", page[len(page)-1].ID}
	}
	if len(paged) != len(whole) {
		t.Fatalf("pages hold %d objects, ls %d", len(paged), len(whole))
	}
	for i := range whole {
		if paged[i] != whole[i] {
			t.Fatalf("page order differs at %d: %+v, want %+v", i, paged[i], whole[i])
		}
	}
	if _, errOut, err := c.run("", "ls", "--after", "ffffffff"); err == nil || !strings.Contains(errOut, "--after") {
		t.Fatalf("ls --after an unknown id: %v %s", err, errOut)
	}
}
