package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/api"
	"mycel/internal/markdown"
	"mycel/internal/vault"
)

// Files through the web app keep its rules: an upload needs the session
// and the app's own Origin (a page of another site cannot add files to a
// page, nor read one); a file served is never run in the app's origin (a
// page's HTML file is a download of opaque bytes, with nosniff and a
// sandbox policy, framed by nobody).
func TestFilesThroughTheApp(t *testing.T) {
	ctx := context.Background()
	e, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "d"), "desk")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Create(ctx, vault.NewPage{Details: map[string]string{"title": "Files"}, Blocks: markdown.Parse("text\n")})
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	h := api.Handler(e, nil)
	defer h.StopStreams()
	s, err := New(h, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s}
	go srv.Serve(l)
	defer srv.Close()
	base := s.Base()
	c := client(t)
	login(t, s, c)

	page := []byte("<html><script>document.cookie</script></html>")
	post := func(c *http.Client, origin string) *http.Response {
		req, _ := http.NewRequest("POST", base+"/api/v1/objects/"+id.String()+"/files?name=page.html", bytes.NewReader(page))
		req.Header.Set("Content-Type", "text/html")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for what, resp := range map[string]*http.Response{
		"without the session":    post(client(t), base),
		"from another site":      post(c, "http://evil.example"),
		"without the app Origin": post(c, ""),
	} {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			t.Errorf("an upload %s: %d", what, resp.StatusCode)
		}
	}
	if fs, _ := e.Files(ctx, id); len(fs) != 0 {
		t.Fatalf("refused uploads added %d files", len(fs))
	}
	resp := post(c, base)
	var added api.FilesAdded
	json.NewDecoder(resp.Body).Decode(&added)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(added.Files) != 1 {
		t.Fatalf("upload from the app: %d %+v", resp.StatusCode, added)
	}
	file := base + "/api/v1/files/" + added.Files[0].FileID + "?object=" + id.String()
	if resp := do(t, client(t), "GET", file, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a file without the session: %d", resp.StatusCode)
	}
	resp, err = c.Get(file)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, page) {
		t.Fatalf("the file: %d %q", resp.StatusCode, body)
	}
	hd := resp.Header
	csp := hd.Get("Content-Security-Policy")
	if hd.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(hd.Get("Content-Disposition"), "attachment") ||
		hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("X-Frame-Options") != "DENY" ||
		!strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("an HTML file served with %v", hd)
	}
}
