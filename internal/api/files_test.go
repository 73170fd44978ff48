package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/device"
	"mycel/internal/files"
	"mycel/internal/vault"
)

// pngBytes is a tiny valid PNG (1×1) and then random bytes, so that each
// test's file has an id of its own.
func pngBytes(t testing.TB, extra int) []byte {
	t.Helper()
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")
	r := make([]byte, extra)
	rand.Read(r)
	return append(b, r...)
}

func do(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeJSON[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer %q: %v", rec.Body, err)
	}
	return v
}

// upload posts body as one file named name of type typ to the page.
func upload(h http.Handler, id change.ID, query string, typ string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/v1/objects/"+id.String()+"/files?"+query, bytes.NewReader(body))
	if typ != "" {
		req.Header.Set("Content-Type", typ)
	}
	return do(h, req)
}

func getFile(h http.Handler, fileID, query string) *httptest.ResponseRecorder {
	return do(h, httptest.NewRequest("GET", "/v1/files/"+fileID+"?"+query, nil))
}

func types(bs []Block) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Type+":"+b.Text)
	}
	return out
}

// An image uploaded to a page becomes a file block at the place asked
// for, and is served back byte for byte as an image; files of other types
// (HTML, SVG: script in the app's origin) are served as downloads of
// opaque bytes, whatever type they claim.
func TestUploadAndServeFiles(t *testing.T) {
	e, id := onePage(t, "Trip", "first\n\nlast\n")
	h := Handler(e, nil)
	doc := call[Doc](t, h, "GET", "/v1/objects/"+id.String()+"/doc", nil, 200)
	img := pngBytes(t, 3000)
	rec := upload(h, id, "name=beach.png&after="+doc.Blocks[0].ID, "image/png", img)
	if rec.Code != 200 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	up := decodeJSON[FilesAdded](t, rec)
	if len(up.Files) != 1 || up.Files[0].Name != "beach.png" || up.Files[0].Type != "image/png" || up.Files[0].Size != uint64(len(img)) || len(up.Version) == 0 || len(up.Heads) == 0 {
		t.Fatalf("upload answer: %+v", up)
	}
	doc = call[Doc](t, h, "GET", "/v1/objects/"+id.String()+"/doc", nil, 200)
	if got := types(doc.Blocks); strings.Join(got, ",") != "paragraph:first,file:,paragraph:last" || doc.Blocks[1].ID != up.Files[0].Block {
		t.Fatalf("the page after the upload: %v (block %s)", got, up.Files[0].Block)
	}
	if strings.Join(doc.Heads, ",") != strings.Join(up.Heads, ",") {
		t.Fatalf("heads %v, answered %v", doc.Heads, up.Heads)
	}

	rec = getFile(h, up.Files[0].FileID, "object="+id.String())
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), img) {
		t.Fatalf("get: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	for k, want := range map[string]string{"Content-Type": "image/png", "X-Content-Type-Options": "nosniff", "Content-Disposition": `inline; filename=beach.png`} {
		if got := rec.Header().Get(k); got != want {
			t.Fatalf("%s: %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("CSP %q", rec.Header().Get("Content-Security-Policy"))
	}
	// Found without the page named, too; asked again with its ETag,
	// nothing is sent; as a download, an image is an attachment.
	if rec := getFile(h, up.Files[0].FileID, ""); rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), img) {
		t.Fatalf("get by id alone: %d", rec.Code)
	}
	req := httptest.NewRequest("GET", "/v1/files/"+up.Files[0].FileID, nil)
	req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	if rec := do(h, req); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Fatalf("conditional get: %d", rec.Code)
	}
	if rec := getFile(h, up.Files[0].FileID, "download=1"); !strings.HasPrefix(rec.Header().Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %q", rec.Header().Get("Content-Disposition"))
	}

	// A multipart upload of several files, after the image; each one's
	// type is served safely.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	parts := []struct{ name, typ, body string }{
		{"page.html", "text/html", "<script>alert(1)</script>"},
		{"logo.svg", "image/svg+xml", `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`},
		{"notes.txt", "", "plain words"},
		{"Ünïcode name.pdf", "application/pdf", "%PDF-1.4"},
	}
	for _, p := range parts {
		hd := textproto.MIMEHeader{}
		hd.Set("Content-Disposition", `form-data; name="file"; filename="`+p.name+`"`)
		if p.typ != "" {
			hd.Set("Content-Type", p.typ)
		}
		w, _ := mw.CreatePart(hd)
		w.Write([]byte(p.body))
	}
	mw.WriteField("other", "ignored")
	mw.Close()
	rec = upload(h, id, "after="+up.Files[0].Block, mw.FormDataContentType(), body.Bytes())
	if rec.Code != 200 {
		t.Fatalf("multipart upload: %d %s", rec.Code, rec.Body)
	}
	multi := decodeJSON[FilesAdded](t, rec)
	if len(multi.Files) != len(parts) {
		t.Fatalf("multipart: %+v", multi)
	}
	doc = call[Doc](t, h, "GET", "/v1/objects/"+id.String()+"/doc", nil, 200)
	if got := types(doc.Blocks); len(got) != 7 || got[6] != "paragraph:last" || doc.Blocks[2].ID != multi.Files[0].Block || doc.Blocks[5].ID != multi.Files[3].Block {
		t.Fatalf("the page after the multipart upload: %v", got)
	}
	for i, p := range parts {
		rec := getFile(h, multi.Files[i].FileID, "object="+id.String())
		if rec.Code != 200 || rec.Body.String() != p.body {
			t.Fatalf("%s: %d %q", p.name, rec.Code, rec.Body)
		}
		if ct, cd := rec.Header().Get("Content-Type"), rec.Header().Get("Content-Disposition"); ct != "application/octet-stream" || !strings.HasPrefix(cd, "attachment;") {
			t.Fatalf("%s served as %q, %q", p.name, ct, cd)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s without nosniff", p.name)
		}
	}
	if multi.Files[2].Type != "text/plain; charset=utf-8" && multi.Files[2].Type != "text/plain" {
		t.Fatalf("a type guessed from the name: %q", multi.Files[2].Type)
	}
	if cd := getFile(h, multi.Files[3].FileID, "").Header().Get("Content-Disposition"); !strings.Contains(cd, "filename*=utf-8''%C3%9Cn%C3%AFcode%20name.pdf") {
		t.Fatalf("a name not ASCII: %q", cd)
	}

	// A file of several chunks streams in and out whole.
	large := make([]byte, 5<<20+123)
	rand.Read(large)
	rec = upload(h, id, "name=film.bin", "", large)
	if rec.Code != 200 {
		t.Fatalf("a large upload: %d %s", rec.Code, rec.Body)
	}
	if m := decodeJSON[FilesAdded](t, rec); len(m.Files) != 1 || m.Files[0].Type != "application/octet-stream" {
		t.Fatalf("a large upload: %+v", m)
	} else if rec := getFile(h, m.Files[0].FileID, "object="+id.String()); !bytes.Equal(rec.Body.Bytes(), large) || rec.Header().Get("Content-Length") != fmt.Sprint(len(large)) {
		t.Fatalf("the large file back: %d bytes, length %q", rec.Body.Len(), rec.Header().Get("Content-Length"))
	}

	// The list of the page's files says what is here of each.
	rows := call[[]FileRow](t, h, "GET", "/v1/objects/"+id.String()+"/files", nil, 200)
	if len(rows) != 6 || rows[0].FileID != up.Files[0].FileID || !rows[0].Complete || rows[0].Here != uint64(len(img)) {
		t.Fatalf("files: %+v", rows)
	}
}

// Every input is checked: a page, a block, a name, the limit (a clear
// error naming it, and no block added), a file id.
func TestUploadRefusals(t *testing.T) {
	e, id := onePage(t, "Trip", "only\n")
	h := Handler(e, nil)
	defer func(old int64) { MaxUpload = old }(MaxUpload)
	MaxUpload = 300 << 10
	big := pngBytes(t, 400<<10)
	for _, c := range []struct {
		what, path, query, typ string
		body                   []byte
		chunked                bool
		code                   int
		says                   string
	}{
		{"a page id that is no id", "/v1/objects/nope/files", "name=a.png", "image/png", big[:100], false, 400, ""},
		{"no such page", "/v1/objects/" + strings.Repeat("ab", 32) + "/files", "name=a.png", "image/png", big[:100], false, 404, ""},
		{"a block id that is no id", "", "name=a.png&after=zz", "image/png", big[:100], false, 400, "after"},
		{"no name", "", "", "image/png", big[:100], false, 400, "name"},
		{"a name that is not text", "", "name=%ff%fe", "image/png", big[:100], false, 400, "name"},
		{"a name with a line break", "", "name=a%0Ab.png", "image/png", big[:100], false, 400, "control characters"},
		{"over the limit, said up front", "", "name=big.png", "image/png", big, false, 413, "over the limit of 307.2 kB for one file"},
		{"over the limit, found while reading", "", "name=big.png", "image/png", big, true, 413, "over the limit of 307.2 kB for one file"},
		{"a multipart upload without a boundary", "", "", "multipart/form-data", big[:100], false, 400, "boundary"},
		{"a multipart upload without a file", "", "", "multipart/form-data; boundary=x", []byte("--x--\r\n"), false, 400, "file"},
	} {
		path := c.path
		if path == "" {
			path = "/v1/objects/" + id.String() + "/files"
		}
		req := httptest.NewRequest("POST", path+"?"+c.query, bytes.NewReader(c.body))
		req.Header.Set("Content-Type", c.typ)
		if c.chunked {
			req.ContentLength = -1
			req.Body = io.NopCloser(bytes.NewReader(c.body))
		}
		rec := do(h, req)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.what, rec.Code, rec.Body, c.code, c.says)
		}
	}
	doc := call[Doc](t, h, "GET", "/v1/objects/"+id.String()+"/doc", nil, 200)
	if got := types(doc.Blocks); strings.Join(got, ",") != "paragraph:only" {
		t.Fatalf("refused uploads changed the page: %v", got)
	}
	// A block deleted meanwhile: the file goes at the end rather than
	// nowhere.
	rec := upload(h, id, "name=a.png&after="+crdt.ID{Counter: 99, Actor: "zz"}.String(), "image/png", big[:1000])
	if rec.Code != 200 {
		t.Fatalf("after a block not there: %d %s", rec.Code, rec.Body)
	}
	doc = call[Doc](t, h, "GET", "/v1/objects/"+id.String()+"/doc", nil, 200)
	if got := types(doc.Blocks); strings.Join(got, ",") != "paragraph:only,file:" {
		t.Fatalf("the page: %v", got)
	}
	for _, c := range []struct {
		path string
		code int
	}{
		{"/v1/files/abc", 400},
		{"/v1/files/" + strings.Repeat("g", 64), 400},
		{"/v1/files/" + strings.Repeat("a", 64), 404},
		{"/v1/files/" + strings.Repeat("a", 64) + "?object=nope", 400},
		{"/v1/files/" + strings.Repeat("a", 64) + "?object=" + id.String(), 404},
	} {
		if rec := do(h, httptest.NewRequest("GET", c.path, nil)); rec.Code != c.code {
			t.Errorf("GET %s: %d %s, want %d", c.path, rec.Code, rec.Body, c.code)
		}
	}
}

// fetcher is a running device whose Download puts back the chunks kept.
type fetcher struct {
	cs     func() error
	asks   int
	onPoke func()
}

func (f *fetcher) Status(context.Context, *change.ID) (device.VaultStatus, error) {
	return device.VaultStatus{}, nil
}
func (f *fetcher) Poke() {
	if f.onPoke != nil {
		f.onPoke()
	}
}
func (f *fetcher) Mode() string { return "test" }
func (f *fetcher) Download(context.Context, *files.Manifest) error {
	f.asks++
	return f.cs()
}

// A file whose chunks are not on this device answers 404 with what is
// missing; a device that can fetch them (the hook of on-demand download)
// is asked first, and the file is served once they are here.
func TestFileNotHere(t *testing.T) {
	e, id := onePage(t, "Trip", "only\n")
	img := pngBytes(t, 1000)
	m, err := e.StoreFile(context.Background(), bytes.NewReader(img), vault.StoreFileOptions{Name: "gone.png"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddFileBlocks(context.Background(), id, []*files.Manifest{m}); err != nil {
		t.Fatal(err)
	}
	cs, _ := e.Chunks()
	kept := map[files.Address][]byte{}
	for _, a := range m.Addresses() {
		kept[a], _ = cs.Get(a)
		if err := cs.Remove(a); err != nil {
			t.Fatal(err)
		}
	}
	rec := getFile(Handler(e, nil), m.ID(), "object="+id.String())
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "not on this device yet") || !strings.Contains(rec.Body.String(), "gone.png") {
		t.Fatalf("a file not here: %d %s", rec.Code, rec.Body)
	}
	f := &fetcher{cs: func() error {
		for a, b := range kept {
			if _, err := cs.Put(a, b); err != nil {
				return err
			}
		}
		return nil
	}}
	// A HEAD asks, and fetches nothing.
	if rec := do(Handler(e, f), httptest.NewRequest("HEAD", "/v1/files/"+m.ID()+"?object="+id.String(), nil)); rec.Code != 404 || f.asks != 0 {
		t.Fatalf("HEAD of a file not here: %d (asked %d times)", rec.Code, f.asks)
	}
	rec = getFile(Handler(e, f), m.ID(), "object="+id.String())
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), img) || f.asks != 1 {
		t.Fatalf("fetched on demand: %d (asked %d times)", rec.Code, f.asks)
	}
	if _, err := os.Stat(filepath.Join(e.Dir(), "chunks")); err != nil {
		t.Fatal(err)
	}
}

// No data loss: a page with file blocks the CLI added, edited through
// the editor's route (the whole block tree sent back, text typed around
// the files, their captions typed into), keeps every file block with its
// attributes exactly, and an edit's answer is the page as sent.
func TestDocEditsKeepFileBlocks(t *testing.T) {
	ctx := context.Background()
	e, id := onePage(t, "Trip", "before\n\nafter\n")
	var ms []*files.Manifest
	for _, name := range []string{"a.png", "b.pdf"} {
		m, err := e.StoreFile(ctx, bytes.NewReader(pngBytes(t, 100)), vault.StoreFileOptions{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	if _, err := e.AddFileBlocks(ctx, id, ms); err != nil {
		t.Fatal(err)
	}
	h := Handler(e, nil)
	path := "/v1/objects/" + id.String() + "/doc"
	doc := call[Doc](t, h, "GET", path, nil, 200)
	want := map[string]map[string]string{}
	for _, b := range doc.Blocks {
		if b.Type == "file" {
			want[b.ID] = maps.Clone(b.Attrs)
		}
	}
	if len(want) != 2 {
		t.Fatalf("file blocks: %+v", doc.Blocks)
	}
	// The editor sends what it loaded with a size set on one image (a
	// display attribute), a caption typed, and text around.
	blocks := doc.Blocks
	blocks[0].Text = "before, typed on"
	blocks[2].Text = "a caption"
	blocks[2].Attrs["size"] = "200"
	want[blocks[2].ID]["size"] = "200"
	blocks = append(blocks, Block{Type: "paragraph", Text: "new at the end"})
	got := call[DocEdited](t, h, "POST", path, DocEdit{Base: doc.Heads, Blocks: blocks}, 200)
	if !got.Changed || !got.Same {
		t.Fatalf("edit: changed %v same %v", got.Changed, got.Same)
	}
	doc = call[Doc](t, h, "GET", path, nil, 200)
	if got := types(doc.Blocks); strings.Join(got, ",") != "paragraph:before, typed on,paragraph:after,file:a caption,file:,paragraph:new at the end" {
		t.Fatalf("page: %v", got)
	}
	for _, b := range doc.Blocks {
		if w, ok := want[b.ID]; ok && !maps.Equal(w, b.Attrs) {
			t.Fatalf("block %s: attrs %v, want %v", b.ID, b.Attrs, w)
		}
		delete(want, b.ID)
	}
	if len(want) != 0 {
		t.Fatalf("file blocks lost: %v", want)
	}
	fs, err := e.Files(ctx, id)
	if err != nil || len(fs) != 2 || fs[0].Manifest == nil || fs[0].Manifest.ID() != ms[0].ID() || fs[1].Manifest.ID() != ms[1].ID() {
		t.Fatalf("files after the edit: %+v %v", fs, err)
	}
}

// webFixture is the manifest the web app's Node test reads (fileInfo in
// web/src/files.ts decodes manifests itself): the same bytes as the
// engine's, a size over 32 bits and a name not ASCII.
func webFixture() (*files.Manifest, map[string]any) {
	m := &files.Manifest{Name: "Ünïcode photo.png", Type: "image/png", Size: 5_000_000_123, Hash: sha256.Sum256([]byte("fixture")),
		Index: &files.Ref{Address: sha256.Sum256([]byte("a")), Hash: sha256.Sum256([]byte("b")), Size: 1000}}
	return m, map[string]any{"attr": vault.FileBlock(m).Attrs[vault.FileAttr], "id": m.ID(), "name": m.Name, "type": m.Type, "size": m.Size}
}

// The web app's fixture is what the engine writes for its manifest, and
// reads back.
func TestWebManifestFixture(t *testing.T) {
	m, want := webFixture()
	path := filepath.Join("..", "..", "web", "test", "manifest.fixture.json")
	if os.Getenv("MYCEL_WRITE_FIXTURE") != "" {
		b, _ := json.MarshalIndent(want, "", "  ")
		os.WriteFile(path, append(b, '\n'), 0o644)
	}
	var got map[string]any
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["attr"] != want["attr"] || got["id"] != m.ID() {
		t.Fatalf("the fixture %v is not the engine's %v (MYCEL_WRITE_FIXTURE=1 writes it)", got, want)
	}
	back, err := vault.ManifestOf(&crdt.Block{Type: crdt.TypeFile, Attrs: map[string]string{vault.FileAttr: got["attr"].(string)}})
	if err != nil || back.Name != m.Name || back.Size != m.Size {
		t.Fatalf("read back: %+v %v", back, err)
	}
}

// A block or a mark of a type this version does not know (a newer
// mycel's: the CRDT keeps any) is sent back by the editor as it got it,
// and the edit is taken, the block kept with its attributes, the mark on
// its text; a new block of such a type, a block turned into one, or such
// a mark on another block is still refused.
func TestDocEditsKeepBlocksOfUnknownTypes(t *testing.T) {
	ctx := context.Background()
	e, id := onePage(t, "Future", "before\n")
	if _, err := e.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error {
		p, _ := e.Page(ctx, id)
		b := tx.InsertBlock(crdt.ID{}, p.Blocks[0].ID, "hologram")
		tx.SetAttr(b, "beam", "3")
		tx.InsertText(b, 0, "from a newer mycel")
		tx.Mark(p.Blocks[0].ID, 0, 3, "sparkle", "")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h := Handler(e, nil)
	path := "/v1/objects/" + id.String() + "/doc"
	doc := call[Doc](t, h, "GET", path, nil, 200)
	if len(doc.Blocks) != 2 || doc.Blocks[1].Type != "hologram" {
		t.Fatalf("doc: %+v", doc.Blocks)
	}
	blocks := slices.Clone(doc.Blocks)
	blocks[0].Text = "before, typed on"
	blocks[1].Text = "from a newer mycel, typed on"
	got := call[DocEdited](t, h, "POST", path, DocEdit{Base: doc.Heads, Blocks: blocks}, 200)
	if !got.Changed {
		t.Fatal("not changed")
	}
	doc = call[Doc](t, h, "GET", path, nil, 200)
	if len(doc.Blocks) != 2 || doc.Blocks[0].Text != "before, typed on" || doc.Blocks[1].Type != "hologram" || doc.Blocks[1].Attrs["beam"] != "3" || doc.Blocks[1].Text != "from a newer mycel, typed on" ||
		!slices.Equal(doc.Blocks[0].Marks, []Mark{{0, 3, "sparkle", ""}}) {
		t.Fatalf("after the edit: %+v", doc.Blocks)
	}
	for name, bs := range map[string][]Block{
		"a new block of it":      append(slices.Clone(doc.Blocks), Block{Type: "hologram", Text: "x"}),
		"a block turned into it": {{ID: doc.Blocks[0].ID, Type: "hologram", Text: "x"}, doc.Blocks[1]},
		"it as another unknown":  {doc.Blocks[0], {ID: doc.Blocks[1].ID, Type: "marquee", Text: "x"}},
		"a mark of it elsewhere": {doc.Blocks[0], {ID: doc.Blocks[1].ID, Type: "hologram", Text: "x", Marks: []Mark{{0, 1, "sparkle", ""}}}},
	} {
		rec := httptest.NewRecorder()
		b, _ := json.Marshal(DocEdit{Base: doc.Heads, Blocks: bs})
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, bytes.NewReader(b)))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "unknown type") {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
}
