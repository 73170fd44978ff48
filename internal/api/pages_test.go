package api

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/diff"
	"mycel/internal/store"
	"mycel/internal/vault"
)

// A page's life through the routes the web app uses: made, renamed, found
// by its text, moved to the bin (out of search, still listed as deleted)
// and back, its history listed newest first with a version's diff against
// now, and restored to an older version as a new one (undone by restoring
// the one before).
func TestPageRoutes(t *testing.T) {
	ctx := context.Background()
	e, _ := onePage(t, "Other", "unrelated\n")
	h := Handler(e, nil)
	made := call[map[string]string](t, h, "POST", "/v1/objects", map[string]string{"title": "Untitled"}, 200)
	id := made["id"]
	obj := "/v1/objects/" + id
	call[Edited](t, h, "POST", obj+"/details", map[string]string{"key": "title", "value": "Shopping"}, 200)
	pid, _ := change.ParseID(id)
	if _, err := e.WriteMarkdown(ctx, pid, "oat milk and quinces\n", vault.EditOptions{NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.WriteMarkdown(ctx, pid, "oat milk, quinces and rye\n", vault.EditOptions{NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	hits := call[[]Row](t, h, "GET", "/v1/search?q=quin", nil, 200)
	if len(hits) != 1 || hits[0].ID != id || hits[0].Title != "Shopping" || !strings.Contains(hits[0].Match, "[quinces]") {
		t.Fatalf("search: %+v", hits)
	}
	call[Edited](t, h, "POST", obj+"/bin", map[string]bool{"on": true}, 200)
	if hits := call[[]Row](t, h, "GET", "/v1/search?q=quin", nil, 200); len(hits) != 0 {
		t.Fatalf("a page in the bin is found: %+v", hits)
	}
	rows := call[[]Row](t, h, "GET", "/v1/objects", nil, 200)
	binned := false
	for _, r := range rows {
		binned = binned || r.ID == id && r.Deleted
	}
	if !binned {
		t.Fatalf("the page is not listed as in the bin: %+v", rows)
	}
	call[Edited](t, h, "POST", obj+"/bin", map[string]bool{"on": false}, 200)
	if hits := call[[]Row](t, h, "GET", "/v1/search?q=quin", nil, 200); len(hits) != 1 {
		t.Fatalf("the page restored from the bin is not found: %+v", hits)
	}

	// Pages: after=CURSOR, the last hit's, for the next; FTS5 syntax is
	// text.
	if hits := call[[]Row](t, h, "GET", "/v1/search?q="+url.QueryEscape(`NEAR("oat AND (`), nil, 200); len(hits) != 0 {
		t.Fatalf("FTS5 syntax searched as text: %+v", hits)
	}
	call[map[string]string](t, h, "POST", "/v1/objects", map[string]string{"title": "Jam", "markdown": "quinces again\n"}, 200)
	first := call[[]Row](t, h, "GET", "/v1/search?q=quin&limit=1", nil, 200)
	if len(first) != 1 || first[0].Cursor == "" {
		t.Fatalf("a page of one: %+v", first)
	}
	second := call[[]Row](t, h, "GET", "/v1/search?q=quin&limit=1&after="+url.QueryEscape(first[0].Cursor), nil, 200)
	if len(second) != 1 || second[0].ID == first[0].ID {
		t.Fatalf("the page after repeats the hit: %+v", second)
	}

	vs := call[[]Version](t, h, "GET", obj+"/history", nil, 200)
	if len(vs) < 3 || vs[0].Version < vs[1].Version {
		t.Fatalf("history, newest first: %+v", vs)
	}
	var older int // the version with the first text
	for _, v := range vs {
		view := call[VersionView](t, h, "GET", obj+"/history/"+strconv.Itoa(v.Version), nil, 200)
		if view.Markdown == "oat milk and quinces\n" {
			older = v.Version
			if !hasLine(view.Diff, '-', "oat milk and quinces\n") || !hasLine(view.Diff, '+', "oat milk, quinces and rye\n") {
				t.Fatalf("diff against now: %+v", view.Diff)
			}
		}
	}
	if older == 0 {
		t.Fatalf("no version reads as the first text: %+v", vs)
	}
	call[Edited](t, h, "POST", obj+"/restore", map[string]int{"version": older}, 200)
	if md := call[map[string]any](t, h, "GET", obj, nil, 200)["markdown"]; md != "oat milk and quinces\n" {
		t.Fatalf("after restore: %q", md)
	}
	after := call[[]Version](t, h, "GET", obj+"/history", nil, 200)
	if after[0].Version != vs[0].Version+1 {
		t.Fatalf("the restore is not a version of its own: %+v", after)
	}
	call[Edited](t, h, "POST", obj+"/restore", map[string]int{"version": vs[0].Version}, 200) // undo by number
	if md := call[map[string]any](t, h, "GET", obj, nil, 200)["markdown"]; md != "oat milk, quinces and rye\n" {
		t.Fatalf("after undoing the restore: %q", md)
	}
	// By point (a version's last change, which no renumbering moves), and
	// undone by the point the answer gives.
	var point string
	for _, v := range vs {
		if v.Version == older {
			point = v.Point
		}
	}
	res := call[RestoreResult](t, h, "POST", obj+"/restore", map[string]string{"point": point}, 200)
	if md := call[map[string]any](t, h, "GET", obj, nil, 200)["markdown"]; md != "oat milk and quinces\n" || !res.Changed || res.Undo == "" {
		t.Fatalf("after restore by point: %q %+v", md, res)
	}
	call[RestoreResult](t, h, "POST", obj+"/restore", map[string]string{"point": res.Undo}, 200)
	if md := call[map[string]any](t, h, "GET", obj, nil, 200)["markdown"]; md != "oat milk, quinces and rye\n" {
		t.Fatalf("after undoing the restore: %q", md)
	}

	// Refusals say why.
	call[map[string]string](t, h, "POST", obj+"/details", map[string]string{"key": "deleted", "value": "true"}, 400)
	call[map[string]string](t, h, "POST", obj+"/restore", map[string]int{"version": 999}, 409)
	call[map[string]string](t, h, "POST", obj+"/restore", map[string]string{"point": "zz"}, 400)
	call[map[string]string](t, h, "POST", obj+"/restore", map[string]int{"version": 0}, 400)
	call[map[string]string](t, h, "GET", obj+"/history/0", nil, 400)
	call[map[string]string](t, h, "POST", obj+"/bin", map[string]any{"on": true, "extra": 1}, 400)
	call[map[string]string](t, h, "GET", "/v1/search?q=x&limit=0", nil, 400)
	call[map[string]string](t, h, "GET", "/v1/search?q=", nil, 400)
	call[map[string]string](t, h, "GET", "/v1/search?q=-rye", nil, 400)
	call[map[string]string](t, h, "GET", "/v1/search?q=x&after=zz", nil, 400)
	call[map[string]string](t, h, "GET", "/v1/objects/"+strings.Repeat("0", 64)+"/history", nil, 404)
}

// Devices, nodes and diagnostics: a node address that is no node's is
// refused with why (nothing added); diagnostics are anonymized unless
// asked.
func TestVaultRoutes(t *testing.T) {
	e, id := onePage(t, "Secret plans", "meet at the old mill\n")
	h := Handler(e, nil)
	ds := call[[]DeviceRow](t, h, "GET", "/v1/devices", nil, 200)
	if len(ds) != 1 || !ds[0].This || len(ds[0].Key) != 64 {
		t.Fatalf("devices: %+v", ds)
	}
	if e := call[map[string]string](t, h, "POST", "/v1/nodes", map[string]string{"addr": "example.org"}, 400); !strings.Contains(e["error"], "/p2p/") {
		t.Fatalf("bad address: %v", e)
	}
	if ns := call[[]map[string]any](t, h, "GET", "/v1/nodes", nil, 200); len(ns) != 0 {
		t.Fatalf("nodes: %v", ns)
	}
	call[map[string]string](t, h, "POST", "/v1/nodes/remove", map[string]string{"addr": "/ip4/127.0.0.1/tcp/1/p2p/x"}, 404)
	// A node caught losing or hiding changes says on how many pages;
	// trusting it again clears them.
	naddr := "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWNode"
	if err := e.SetNodes(t.Context(), []string{naddr}); err != nil {
		t.Fatal(err)
	}
	if err := e.Store().Update(t.Context(), func(tx store.Tx) error {
		return tx.PutNodeAck(store.NodeAck{Node: "12D3KooWNode", Object: id, Heads: []change.ID{id}, Time: 1, Sig: []byte("s"), Lied: 42})
	}); err != nil {
		t.Fatal(err)
	}
	if ns := call[[]map[string]any](t, h, "GET", "/v1/nodes", nil, 200); len(ns) != 1 || ns[0]["caught_pages"] != 1.0 || ns[0]["caught_at_ms"] != 42.0 {
		t.Fatalf("a node caught: %v", ns)
	}
	call[map[string]string](t, h, "POST", "/v1/nodes/trust", map[string]string{"addr": "/ip4/127.0.0.1/tcp/1"}, 400)
	call[map[string]string](t, h, "POST", "/v1/nodes/trust", map[string]string{}, 400) // neither a node nor all
	if r := call[map[string]any](t, h, "POST", "/v1/nodes/trust", map[string]string{"addr": naddr}, 200); r["pages"] != 1.0 {
		t.Fatalf("trust: %v", r)
	}
	if ns := call[[]map[string]any](t, h, "GET", "/v1/nodes", nil, 200); len(ns) != 1 || ns[0]["caught_pages"] != nil {
		t.Fatalf("a node trusted again: %v", ns)
	}
	get := func(path string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Header().Get("Content-Disposition"), "attachment") {
			t.Fatalf("diagnostics: %d %v %s", rec.Code, rec.Header(), rec.Body)
		}
		return rec.Body.String()
	}
	if d := get("/v1/objects/" + id.String() + "/diagnostics"); strings.Contains(d, "old mill") || strings.Contains(d, "Secret") {
		t.Fatalf("diagnostics hold the content: %s", d)
	}
	if d := get("/v1/objects/" + id.String() + "/diagnostics?content=1"); !strings.Contains(d, "old mill") {
		t.Fatalf("diagnostics with content lack it: %.300s", d)
	}
}

func hasLine(ls []diff.Line, op byte, text string) bool {
	for _, l := range ls {
		if l.Op == op && l.Text == text {
			return true
		}
	}
	return false
}
