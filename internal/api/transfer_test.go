package api

import (
	"archive/zip"
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/vault"
)

func zipOf(t *testing.T, files map[string]string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	return b.Bytes()
}

func post(h http.Handler, path string, body []byte) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", path, bytes.NewReader(body)))
	return rec
}

// Export downloads the vault as a zip; that zip uploaded to another vault
// imports its pages (a second upload changes nothing); a zip of Markdown
// notes imports too; a zip reaching out of its folder, or no zip at all,
// is refused with why and writes nothing; a backup goes to a folder given
// by its whole path.
func TestExportImportBackupRoutes(t *testing.T) {
	e, _ := onePage(t, "Travel", "Pack the tent.\n")
	h := Handler(e, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/export?format=json", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/zip" {
		t.Fatalf("export: %d %s", rec.Code, rec.Body)
	}
	exported := rec.Body.Bytes()

	other, _, err := vault.Init(context.Background(), filepath.Join(t.TempDir(), "o"), "other")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ho := Handler(other, nil)
	if r := post(ho, "/v1/import", exported); r.Code != 200 || !strings.Contains(r.Body.String(), `"created":1`) {
		t.Fatalf("import of the export: %d %s", r.Code, r.Body)
	}
	if r := post(ho, "/v1/import", exported); r.Code != 200 || !strings.Contains(r.Body.String(), `"created":0`) {
		t.Fatalf("the same export again: %d %s", r.Code, r.Body)
	}
	notes := zipOf(t, map[string]string{"notes/Garden.md": "# Garden\n\nWater the [[Roses]].\n", "notes/Roses.md": "Red ones.\n"})
	if r := post(ho, "/v1/import", notes); r.Code != 200 || !strings.Contains(r.Body.String(), `"kind":"markdown"`) || !strings.Contains(r.Body.String(), `"created":2`) {
		t.Fatalf("import of notes: %d %s", r.Code, r.Body)
	}
	// A folder picked in the browser comes as a multipart upload, each
	// file named by its path in the folder.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "trip/Packing list.md")
	fw.Write([]byte("- tent\n- stove\n"))
	mw.Close()
	rq := httptest.NewRequest("POST", "/v1/import", &mp)
	rq.Header.Set("Content-Type", mw.FormDataContentType())
	rr := httptest.NewRecorder()
	ho.ServeHTTP(rr, rq)
	if rr.Code != 200 || !strings.Contains(rr.Body.String(), `"created":1`) {
		t.Fatalf("a folder upload: %d %s", rr.Code, rr.Body)
	}
	var bad bytes.Buffer
	bw := multipart.NewWriter(&bad)
	fw, _ = bw.CreateFormFile("file", "../../escape.md")
	fw.Write([]byte("x"))
	bw.Close()
	rq = httptest.NewRequest("POST", "/v1/import", &bad)
	rq.Header.Set("Content-Type", bw.FormDataContentType())
	rr = httptest.NewRecorder()
	ho.ServeHTTP(rr, rq)
	if rr.Code != 400 {
		t.Fatalf("a folder upload reaching out: %d %s", rr.Code, rr.Body)
	}
	before, _ := other.List(context.Background(), vault.ListOptions{All: true})
	for _, bad := range [][]byte{zipOf(t, map[string]string{"../evil.md": "x"}), zipOf(t, map[string]string{"/abs.md": "x"}), []byte("not a zip")} {
		if r := post(ho, "/v1/import", bad); r.Code != 400 || !strings.Contains(r.Body.String(), "import:") {
			t.Fatalf("a bad upload: %d %s", r.Code, r.Body)
		}
	}
	after, _ := other.List(context.Background(), vault.ListOptions{All: true})
	if len(after) != len(before) {
		t.Fatalf("a refused upload imported: %d → %d objects", len(before), len(after))
	}

	if r := post(h, "/v1/backup", []byte(`{"dest":"relative/dir"}`)); r.Code != 400 {
		t.Fatalf("backup to a relative path: %d %s", r.Code, r.Body)
	}
	dest := filepath.Join(t.TempDir(), "bk")
	if r := post(h, "/v1/backup", []byte(`{"dest":"`+dest+`"}`)); r.Code != 200 || !strings.Contains(r.Body.String(), `"objects":1`) {
		t.Fatalf("backup: %d %s", r.Code, r.Body)
	}
	if _, err := os.Stat(dest); err != nil {
		t.Fatal(err)
	}
}
