package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The devices panel renames through the engine's RenameDevice and lists
// the new name; a refused name is a 400 saying why.
func TestRenameDeviceRoute(t *testing.T) {
	e, _ := onePage(t, "Hello", "x\n")
	h := Handler(e, nil)
	post := func(body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/devices/rename", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := post(`{"device":"desk","name":"study"}`); rec.Code != 200 {
		t.Fatalf("rename: %d %s", rec.Code, rec.Body)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/devices", nil))
	var rows []DeviceRow
	if err := json.Unmarshal(rec.Body.Bytes(), &rows); err != nil || len(rows) != 1 || rows[0].Name != "study" || !rows[0].This || rows[0].ConnectedVia != "" {
		t.Fatalf("devices after the rename: %v %s", err, rec.Body)
	}
	if rec := post(`{"device":"study","name":""}`); rec.Code != 400 || !strings.Contains(rec.Body.String(), "cannot be empty") {
		t.Fatalf("an empty name: %d %s", rec.Code, rec.Body)
	}
}
