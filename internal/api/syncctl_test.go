package api

import (
	"net/http/httptest"
	"strings"
	"testing"

	"mycel/internal/activity"
	"mycel/internal/vault"
)

// Sync control through the API is the CLI's: the mode and the pages kept
// off sync are the engine's settings, read back, refused with the reason,
// and every change pokes the device.
func TestSyncRoutes(t *testing.T) {
	e, id := onePage(t, "Diary", "text\n")
	pokes := 0
	h := Handler(e, &fetcher{cs: func() error { return nil }, onPoke: func() { pokes++ }})
	q := "/v1/sync?object=" + id.String()
	post := func(body string) *httptest.ResponseRecorder {
		return do(h, httptest.NewRequest("POST", q, strings.NewReader(body)))
	}
	st := decodeJSON[SyncState](t, do(h, httptest.NewRequest("GET", q, nil)))
	if st.Mode != "all" || st.Off || len(st.SyncOff) != 0 || st.Object != id.String() {
		t.Fatalf("at first: %+v", st)
	}
	if st = decodeJSON[SyncState](t, post(`{"pages": ["`+id.String()[:8]+`"], "off": true}`)); !st.Off || len(st.SyncOff) != 1 || pokes != 1 {
		t.Fatalf("kept off: %+v, %d pokes", st, pokes)
	}
	if off, err := e.SyncOff(t.Context()); err != nil || !off[id] {
		t.Fatalf("the engine's list: %v, %v", off, err)
	}
	if st = decodeJSON[SyncState](t, post(`{"mode": "lan-only"}`)); st.Mode != "lan-only" || !st.Off {
		t.Fatalf("mode set: %+v", st)
	}
	if m, err := e.SyncMode(t.Context()); err != nil || m != vault.SyncLANOnly {
		t.Fatalf("the engine's mode: %v, %v", m, err)
	}
	for _, c := range []struct {
		body string
		code int
		says string
	}{
		{`{"mode": "sometimes"}`, 400, "not a sync mode"},
		{`{"pages": ["abcdef12"], "off": true}`, 404, ""},
		{`{"mode": "all", "pages": ["` + id.String() + `"]}`, 400, "one of them"},
		{`{}`, 400, "one of them"},
		{`nope`, 400, "JSON"},
	} {
		rec := post(c.body)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.says) {
			t.Errorf("POST %s: %d %s, want %d saying %q", c.body, rec.Code, rec.Body, c.code, c.says)
		}
	}
	if st = decodeJSON[SyncState](t, post(`{"pages": ["`+id.String()+`"]}`)); st.Off || len(st.SyncOff) != 0 || st.Mode != "lan-only" {
		t.Fatalf("given back: %+v", st)
	}
}

// The activity log through the API: the lines `mycel log` prints, with
// titles, filtered.
func TestLogRoute(t *testing.T) {
	e, id := onePage(t, "Diary", "text\n")
	l, err := activity.Open(e.Dir())
	if err != nil {
		t.Fatal(err)
	}
	l.Append(activity.Entry{Kind: activity.Received, Name: "phone", Object: id.String(), Changes: 2},
		activity.Entry{Kind: activity.Refused, Name: "phone", Object: id.String(), Changes: 1, Reason: "bad signature"})
	l.Close()
	h := Handler(e, nil)
	all := decodeJSON[[]LogLine](t, do(h, httptest.NewRequest("GET", "/v1/log", nil)))
	if len(all) != 2 || all[0].Title != "Diary" || !strings.Contains(all[0].Text, "received 2 changes of") {
		t.Fatalf("log: %+v", all)
	}
	errs := decodeJSON[[]LogLine](t, do(h, httptest.NewRequest("GET", "/v1/log?errors=1&object="+id.String(), nil)))
	if len(errs) != 1 || errs[0].Reason != "bad signature" {
		t.Fatalf("errors: %+v", errs)
	}
	if rec := do(h, httptest.NewRequest("GET", "/v1/log?n=lots", nil)); rec.Code != 400 {
		t.Fatalf("n=lots: %d", rec.Code)
	}
}
