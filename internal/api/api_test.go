package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	e, id := onePage(t, "Hello", "- one\n")
	h := Handler(e, nil)
	get := func(path string, want int) map[string]any {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Fatalf("GET %s: %d, want %d: %s", path, rec.Code, want, rec.Body)
		}
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("GET %s: not JSON: %s", path, rec.Body)
		}
		if m, ok := v.(map[string]any); ok {
			return m
		}
		return map[string]any{"list": v}
	}
	if st := get("/v1/status", 200); len(st["vault_id"].(string)) != 64 {
		t.Fatalf("status = %v", st)
	}
	if l := get("/v1/objects", 200)["list"].([]any); len(l) != 1 {
		t.Fatalf("objects = %v", l)
	}
	o := get("/v1/objects/"+id.String(), 200)
	if o["markdown"] != "- one\n" || o["details"].(map[string]any)["title"] != "Hello" {
		t.Fatalf("object = %v", o)
	}
	if e := get("/v1/objects/nothex", 400); !strings.Contains(e["error"].(string), "not a change or object id") {
		t.Fatalf("bad id error = %v", e)
	}
	get("/v1/objects/"+strings.Repeat("0", 64), 404)
}

func TestListenRefusesSecondServer(t *testing.T) {
	dir := t.TempDir()
	l, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(l, http.NotFoundHandler())
	if _, err := Listen(dir); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second listen: %v", err)
	}
	l.Close()
	// A stale socket (no one answering) is cleared.
	l2, err := Listen(dir)
	if err != nil {
		t.Fatalf("listen after a stale socket: %v", err)
	}
	l2.Close()
}

// The socket is born in a folder only its owner can enter: whatever the
// data folder's mode, and even where an earlier folder was left open to
// all, nobody else can reach it at any moment (a chmod after listening
// left one). A folder that is a link elsewhere is refused.
func TestSocketIsPrivateFromTheStart(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	if err := os.Mkdir(filepath.Join(dir, SocketDir), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, SocketDir), 0o777)
	l, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sock, err := os.Lstat(SocketPath(dir))
	if err != nil || sock.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no socket at %s: %v", SocketPath(dir), err)
	}
	if filepath.Dir(SocketPath(dir)) == dir {
		t.Fatal("the socket is in the data folder itself")
	}
	fi, err := os.Lstat(filepath.Join(dir, SocketDir))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the socket's folder: %v %v, want a 0700 folder", fi.Mode(), err)
	}

	other := t.TempDir()
	if err := os.Symlink(t.TempDir(), filepath.Join(other, SocketDir)); err != nil {
		t.Fatal(err)
	}
	if l, err := Listen(other); err == nil {
		l.Close()
		t.Fatal("listened in a folder that is a link")
	}
}
