package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/vault"
)

func call[T any](t testing.TB, h http.Handler, method, path string, body any, want int) T {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, rd))
	if rec.Code != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, rec.Code, want, rec.Body)
	}
	var v T
	json.Unmarshal(rec.Body.Bytes(), &v)
	return v
}

// An editor loads a page, edits it by block id, and an edit made on an
// older version merges with what came in meanwhile: nothing is lost.
func TestDocEditsMergeByBlockID(t *testing.T) {
	ctx := context.Background()
	e, id := onePage(t, "Notes", "first\n\nsecond\n")
	h := Handler(e, nil)
	path := "/v1/objects/" + id.String() + "/doc"
	doc := call[Doc](t, h, "GET", path, nil, 200)
	if len(doc.Blocks) != 2 || doc.Blocks[0].Text != "first" || doc.Blocks[0].ID == "" || len(doc.Heads) == 0 {
		t.Fatalf("doc: %+v", doc)
	}
	// Meanwhile, another writer edits the second block.
	second, _ := crdt.ParseID(doc.Blocks[1].ID)
	if _, err := e.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error {
		tx.InsertText(second, len("second"), " (edited elsewhere)")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The editor, on the version it loaded, bolds and extends the first
	// block and adds a third.
	edit := DocEdit{Base: doc.Heads, Blocks: []Block{
		{ID: doc.Blocks[0].ID, Type: "paragraph", Text: "first, typed on", Marks: []Mark{{0, 5, "bold", ""}}},
		doc.Blocks[1],
		{Type: "paragraph", Text: "third"},
	}}
	got := call[DocEdited](t, h, "POST", path, edit, 200)
	if !got.Changed || !got.Merged {
		t.Fatalf("edit: changed %v merged %v", got.Changed, got.Merged)
	}
	if len(got.NewIDs) != 1 || got.Blocks[2].Text != "third" || got.NewIDs[0] != got.Blocks[2].ID {
		t.Fatalf("a merged answer's new ids: %v, blocks %+v", got.NewIDs, got.Blocks)
	}
	md := markdown.Render(must(CRDTBlocks(got.Blocks)))
	for _, want := range []string{"**first**, typed on", "second (edited elsewhere)", "third"} {
		if !strings.Contains(md, want) {
			t.Fatalf("after the edit the page reads %q, without %q", md, want)
		}
	}
	// Version is the state sent: an edit on it that adds a block keeps
	// what the merge brought (it is not in the editor's difference).
	more := DocEdit{Base: got.Version, Blocks: append(slices.Clone(edit.Blocks), Block{Type: "paragraph", Text: "fourth"})}
	if v := call[DocEdited](t, h, "POST", path, more, 200); !strings.Contains(markdown.Render(must(CRDTBlocks(v.Blocks))), "second (edited elsewhere)") || len(v.Blocks) != 4 {
		t.Fatalf("an edit on the version sent: %+v", v.Blocks)
	} else {
		got = v
	}
	// The answer's heads are the next base: an edit on them merges nothing.
	edit = DocEdit{Base: got.Heads, Blocks: got.Blocks[:2]}
	if again := call[DocEdited](t, h, "POST", path, edit, 200); again.Merged || !again.Same || again.Blocks != nil || len(again.NewIDs) != 0 {
		t.Fatalf("deleting the last two: merged %v, same %v, %d blocks", again.Merged, again.Same, len(again.Blocks))
	}
	if now := call[Doc](t, h, "GET", path, nil, 200); len(now.Blocks) != 2 {
		t.Fatalf("after deleting the last two: %+v", now.Blocks)
	}
	// What the API refuses.
	for name, bad := range map[string]DocEdit{
		"no base":      {Blocks: got.Blocks},
		"unknown type": {Base: got.Heads, Blocks: []Block{{Type: "marquee", Text: "x"}}},
		"mark outside": {Base: got.Heads, Blocks: []Block{{Type: "paragraph", Text: "ab", Marks: []Mark{{1, 5, "bold", ""}}}}},
		"bad mark":     {Base: got.Heads, Blocks: []Block{{Type: "paragraph", Text: "ab", Marks: []Mark{{0, 1, "blink", ""}}}}},
		"bad id":       {Base: got.Heads, Blocks: []Block{{ID: "zz", Type: "paragraph"}}},
		"bad base":     {Base: []string{"ab"}, Blocks: got.Blocks},
	} {
		rec := httptest.NewRecorder()
		b, _ := json.Marshal(bad)
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, bytes.NewReader(b)))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if md := markdown.Render(must(e.Get(ctx, id)).Doc.Blocks()); strings.Contains(md, "marquee") || !strings.Contains(md, "second (edited elsewhere)") {
		t.Fatalf("a refused edit changed the page: %q", md)
	}
}

// An edit whose result is exactly what was sent is answered without the
// page (for a long page most of the answer's cost), with the ids the new
// blocks got, in the order sent; one that merged something, or that the
// device changed (a new table's cells naming their columns by place), is
// answered with the whole page.
func TestDocEditAnsweredWithoutThePageWhenAsSent(t *testing.T) {
	e, id := onePage(t, "Notes", "one\n\ntwo\n")
	h := Handler(e, nil)
	path := "/v1/objects/" + id.String() + "/doc"
	doc := call[Doc](t, h, "GET", path, nil, 200)
	sent := []Block{{Type: "paragraph", Text: "zero"}, doc.Blocks[0], {Type: "bulleted", Text: "one and a half", Children: []Block{{Type: "todo", Text: "nested", Attrs: map[string]string{"checked": "false"}}}}, doc.Blocks[1]}
	got := call[DocEdited](t, h, "POST", path, DocEdit{Base: doc.Heads, Blocks: sent}, 200)
	if !got.Same || got.Blocks != nil || len(got.NewIDs) != 3 {
		t.Fatalf("answer: same %v, %d blocks, new ids %v", got.Same, len(got.Blocks), got.NewIDs)
	}
	now := call[Doc](t, h, "GET", path, nil, 200)
	if len(now.Blocks) != 4 || now.Blocks[0].ID != got.NewIDs[0] || now.Blocks[2].ID != got.NewIDs[1] || now.Blocks[2].Children[0].ID != got.NewIDs[2] || !slices.Equal(now.Heads, got.Heads) {
		t.Fatalf("the new ids are not the page's, in the order sent: %v, page %+v", got.NewIDs, now.Blocks)
	}
	table := []Block{{Type: "table", Children: []Block{{Type: "column"}, {Type: "row", Children: []Block{{Type: "cell", Attrs: map[string]string{"col": "#0"}, Text: "a"}}}}}}
	if got := call[DocEdited](t, h, "POST", path, DocEdit{Base: now.Heads, Blocks: table}, 200); got.Same || len(got.Blocks) != 1 {
		t.Fatalf("a table with cells naming columns by place: same %v, %+v", got.Same, got.Blocks)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// An edit sent again with its EditID (its answer was lost) is answered as
// before and not applied a second time: a retry never doubles text.
func TestDocEditRetryIsNotAppliedTwice(t *testing.T) {
	ctx := context.Background()
	e, id := onePage(t, "Notes", "hello\n")
	h := Handler(e, nil)
	path := "/v1/objects/" + id.String() + "/doc"
	doc := call[Doc](t, h, "GET", path, nil, 200)
	edit := DocEdit{Base: doc.Heads, EditID: "e1", Blocks: []Block{{ID: doc.Blocks[0].ID, Type: "paragraph", Text: "hello world"}}}
	first := call[DocEdited](t, h, "POST", path, edit, 200)
	again := call[DocEdited](t, h, "POST", path, edit, 200)
	if !slices.Equal(first.Heads, again.Heads) || !again.Same || again.Blocks != nil {
		t.Fatalf("retry: %+v", again)
	}
	if md := markdown.Render(must(e.Get(ctx, id)).Doc.Blocks()); md != "hello world\n" {
		t.Fatalf("after a retried edit the page reads %q", md)
	}
	// Without an EditID the same request is a second, concurrent edit.
	edit.EditID = ""
	call[DocEdited](t, h, "POST", path, edit, 200)
	if md := markdown.Render(must(e.Get(ctx, id)).Doc.Blocks()); md == "hello world\n" {
		t.Fatalf("the test no longer shows what a retry without an id does: %q", md)
	}
	// A link that runs a script is refused.
	bad := DocEdit{Base: first.Heads, Blocks: []Block{{Type: "paragraph", Text: "x", Marks: []Mark{{0, 1, "link", "JavaScript:alert(1)"}}}}}
	call[map[string]any](t, h, "POST", path, bad, http.StatusBadRequest)
}

// onePage makes a vault holding one page titled title with the Markdown md.
func onePage(t testing.TB, title, md string) (*vault.Engine, change.ID) {
	t.Helper()
	e, _, err := vault.Init(context.Background(), filepath.Join(t.TempDir(), "d"), "desk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	id, err := e.Create(context.Background(), vault.NewPage{Details: map[string]string{"title": title}, Blocks: markdown.Parse(md)})
	if err != nil {
		t.Fatal(err)
	}
	return e, id
}

// A block sent with the id of one the page no longer shows (an undo put a
// deleted block back) is made new, and the answer says under which id, so
// the editor renames it rather than sending it as new again and again.
func TestDocEditRenamesABlockItCouldNotFind(t *testing.T) {
	e, id := onePage(t, "Notes", "keep\n\ngone\n")
	h := Handler(e, nil)
	path := "/v1/objects/" + id.String() + "/doc"
	doc := call[Doc](t, h, "GET", path, nil, 200)
	del := call[DocEdited](t, h, "POST", path, DocEdit{Base: doc.Heads, Blocks: doc.Blocks[:1]}, 200)
	back := call[DocEdited](t, h, "POST", path, DocEdit{Base: del.Heads, Blocks: doc.Blocks}, 200)
	nid, ok := back.Renamed[doc.Blocks[1].ID]
	if !ok || nid == doc.Blocks[1].ID {
		t.Fatalf("renamed: %v", back.Renamed)
	}
	now := call[Doc](t, h, "GET", path, nil, 200)
	if len(now.Blocks) != 2 || now.Blocks[1].ID != nid || now.Blocks[1].Text != "gone" {
		t.Fatalf("the page: %+v", now.Blocks)
	}
}
