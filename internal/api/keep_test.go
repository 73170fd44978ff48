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
