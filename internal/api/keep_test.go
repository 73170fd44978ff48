package api

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// The keep-offline mark through the API is the CLI's: set per page or
// for all, read back, refused with the way out when it cannot be done,
// and shown on the page's files; every change pokes the device.
func TestKeepRoutes(t *testing.T) {
	e, id := onePage(t, "Trip", "text\n")
	pokes := 0
	h := Handler(e, &fetcher{cs: func() error { return nil }, onPoke: func() { pokes++ }})
	post := func(body string) *httptest.ResponseRecorder {
		return do(h, httptest.NewRequest("POST", "/v1/files/keep", strings.NewReader(body)))
	}
	if rec := post(`{"pages": ["` + id.String()[:8] + `"]}`); rec.Code != 200 {
		t.Fatalf("keep a page: %d %s", rec.Code, rec.Body)
	}
	st := decodeJSON[KeepState](t, do(h, httptest.NewRequest("GET", "/v1/files/keep", nil)))
	if st.All || len(st.Pages) != 1 || st.Pages[0] != id.String() || pokes != 1 {
		t.Fatalf("kept: %+v, %d pokes", st, pokes)
	}
	if o, err := e.Offline(t.Context()); err != nil || !o.Keeps(id) {
		t.Fatalf("the engine's mark: %+v, %v", o, err)
	}
	for _, c := range []struct {
		body string
		code int
		says string
	}{
		{`{"all": true}`, 200, ""},
		{`{"pages": ["` + id.String() + `"], "off": true}`, 409, "--off --all"},
		{`{"pages": ["abcdef12"]}`, 404, ""},
		{`{"all": true, "pages": ["` + id.String() + `"]}`, 400, "not both"},
		{`{}`, 400, "say which pages"},
		{`nope`, 400, "JSON"},
		{`{"all": true, "off": true}`, 200, ""},
	} {
		rec := post(c.body)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.says) {
			t.Errorf("POST %s: %d %s, want %d saying %q", c.body, rec.Code, rec.Body, c.code, c.says)
		}
	}
	if st := decodeJSON[KeepState](t, do(h, httptest.NewRequest("GET", "/v1/files/keep", nil))); st.All || len(st.Pages) != 0 {
		t.Fatalf("after off all: %+v", st)
	}
}

// ?object=ID says whether that page is kept as the engine decides it (by
// itself, or with the whole vault): the web app's toggles show it and
// hold no rule of their own. A bad one changes nothing.
func TestKeepRoutesSayWhetherAPageIsKept(t *testing.T) {
	e, id := onePage(t, "Trip", "text\n")
	h := Handler(e, &fetcher{cs: func() error { return nil }})
	q := "/v1/files/keep?object=" + id.String()
	post := func(path, body string) *httptest.ResponseRecorder {
		return do(h, httptest.NewRequest("POST", path, strings.NewReader(body)))
	}
	get := func() KeepState { return decodeJSON[KeepState](t, do(h, httptest.NewRequest("GET", q, nil))) }
	if st := get(); st.Kept || st.Object != id.String() {
		t.Fatalf("before: %+v", st)
	}
	if st := decodeJSON[KeepState](t, post(q, `{"pages": ["`+id.String()+`"]}`)); !st.Kept || st.All {
		t.Fatalf("kept by itself, the answer: %+v", st)
	}
	if st := decodeJSON[KeepState](t, post(q, `{"pages": ["`+id.String()+`"], "off": true}`)); st.Kept {
		t.Fatalf("off, the answer: %+v", st)
	}
	if st := decodeJSON[KeepState](t, post(q, `{"all": true}`)); !st.Kept || !st.All || len(st.Pages) != 0 {
		t.Fatalf("kept with the whole vault, the answer: %+v", st)
	}
	if st := get(); !st.Kept || !st.All {
		t.Fatalf("kept with the whole vault, read back: %+v", st)
	}
	if rec := post("/v1/files/keep?object=nope", `{"all": true, "off": true}`); rec.Code != 400 || !strings.Contains(rec.Body.String(), "object") {
		t.Fatalf("a bad object: %d %s", rec.Code, rec.Body)
	}
	if st := get(); !st.All {
		t.Fatalf("a refused request changed the mark: %+v", st)
	}
	if st := decodeJSON[KeepState](t, do(h, httptest.NewRequest("GET", "/v1/files/keep", nil))); st.Object != "" || st.Kept {
		t.Fatalf("not asked about a page: %+v", st)
	}
}
