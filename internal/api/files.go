package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/files"
	"mycel/internal/vault"
)

// MaxUpload is the largest file the web app adds (the CLI's --limit
// default): a request over it is refused with the limit named, before
// its body is read when it says its length.
var MaxUpload int64 = files.DefaultMaxFile

// maxUploadFiles bounds the files of one multipart upload.
const maxUploadFiles = 100

// multipartSlack is what a multipart upload may carry beyond its files
// (part headers, boundaries).
const multipartSlack = 1 << 20

// FileFetcher is what a running device may offer to bring a file's
// missing chunks from its peers (the node, devices nearby) when the web
// app asks for a file not all here. Without it such a file answers 404
// with what is missing. Download (device.Device.Download) is FetchFile
// recorded as a download under way, so status shows its progress.
type FileFetcher interface {
	Download(ctx context.Context, m *files.Manifest) error
}

// AddedFile is one file an upload added.
type AddedFile struct {
	FileID string `json:"file_id"` // its hash (files.Manifest.ID)
	Block  string `json:"block"`   // the file block made for it
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   uint64 `json:"size"`
}

// FilesAdded answers an upload: the files and the page's new version.
type FilesAdded struct {
	ID    string      `json:"id"`
	Files []AddedFile `json:"files"`
	// Heads are the page's heads now, Version those of exactly the edit
	// that added the blocks (see DocEdited).
	Heads   []string `json:"heads"`
	Version []string `json:"version"`
}

// FileRow is a file block of a page and how much of it is here.
type FileRow struct {
	FileID string `json:"file_id,omitempty"`
	Block  string `json:"block"`
	Name   string `json:"name,omitempty"`
	Type   string `json:"type,omitempty"`
	Size   uint64 `json:"size"`
	Here   uint64 `json:"bytes_here"`
	// Complete: every chunk is on this device (the file can be shown).
	Complete bool   `json:"complete"`
	Error    string `json:"error,omitempty"` // a damaged file block
	// Kept: its page is kept offline here (fetched whatever its size).
	Kept bool `json:"kept_offline,omitempty"`
}

// filesRoutes adds the routes of files: an upload adding file blocks to a
// page, a page's files with what is here of each, and a file's bytes.
func filesRoutes(mux *http.ServeMux, e *vault.Engine, dev Running, changed func()) {
	mux.HandleFunc("POST /v1/objects/{id}/files", func(w http.ResponseWriter, r *http.Request) {
		id, err := change.ParseID(r.PathValue("id"))
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		var after crdt.ID
		if a := r.URL.Query().Get("after"); a != "" {
			if after, err = crdt.ParseID(a); err != nil {
				fail(w, http.StatusBadRequest, fmt.Errorf("after: %w", err))
				return
			}
		}
		// Before any byte is stored: the page is there (an upload to a
		// mistyped id would leave its chunks for nothing).
		if _, err := e.Page(r.Context(), id); err != nil {
			fail(w, http.StatusNotFound, err)
			return
		}
		ms, code, err := storeUpload(w, r, e)
		if err != nil {
			fail(w, code, fmt.Errorf("upload: %w", err))
			return
		}
		// Nothing is added unless every file of the request is stored;
		// the chunks of a failed one stay until collected, like any
		// chunk no page references.
		added, err := e.InsertFileBlocks(context.WithoutCancel(r.Context()), id, after, ms)
		if err != nil {
			fail(w, notFoundOr(err), err)
			return
		}
		changed()
		out := FilesAdded{ID: id.String(), Files: []AddedFile{}, Heads: idStrings(added.Heads), Version: idStrings(added.Version)}
		for i, m := range ms {
			out.Files = append(out.Files, AddedFile{FileID: m.ID(), Block: added.Blocks[i].String(), Name: m.Name, Type: m.Type, Size: m.Size})
		}
		reply(w, out)
	})
	mux.HandleFunc("GET /v1/objects/{id}/files", func(w http.ResponseWriter, r *http.Request) {
		id, err := change.ParseID(r.PathValue("id"))
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		fs, err := e.Files(r.Context(), id)
		if err != nil {
			fail(w, http.StatusNotFound, err)
			return
		}
		kept, err := e.Offline(r.Context())
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		out := []FileRow{}
		for _, f := range fs {
			row := FileRow{Block: f.Block.String(), Kept: kept.Keeps(id)}
			if f.Err != nil {
				row.Error = f.Err.Error()
			} else {
				h, err := e.Here(f.Manifest)
				if err != nil {
					fail(w, http.StatusInternalServerError, err)
					return
				}
				row.FileID, row.Name, row.Type, row.Size, row.Here, row.Complete = f.Manifest.ID(), f.Manifest.Name, f.Manifest.Type, f.Manifest.Size, h.Had, h.Complete()
			}
			out = append(out, row)
		}
		reply(w, out)
	})
	mux.HandleFunc("GET /v1/files", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"max_upload": MaxUpload})
	})
	var found manifestCache
	mux.HandleFunc("GET /v1/files/{file}", func(w http.ResponseWriter, r *http.Request) {
		serveFile(w, r, e, dev, &found)
	})
}

// storeUpload stores the files of an upload: its body is the file (named
// by ?name=, typed by its Content-Type), or a multipart form of "file"
// parts. It answers the manifests, or the status and error to answer.
func storeUpload(w http.ResponseWriter, r *http.Request, e *vault.Engine) ([]*files.Manifest, int, error) {
	limit := MaxUpload
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	multi := ct == "multipart/form-data"
	max := limit
	if multi {
		max += multipartSlack
	}
	if r.ContentLength > max {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("%s is over the limit of %s for one file", files.Bytes(r.ContentLength), files.Bytes(limit))
	}
	body := http.MaxBytesReader(w, r.Body, max)
	store := func(rd io.Reader, name, typ string) (*files.Manifest, int, error) {
		if name == "" {
			return nil, http.StatusBadRequest, errors.New("a file needs its name (?name= or the part's filename)")
		}
		if !utf8.ValidString(name) || len(name) > 1024 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
			return nil, http.StatusBadRequest, errors.New("a file's name must be text (no control characters) of at most 1024 bytes")
		}
		m, err := e.StoreFile(r.Context(), rd, vault.StoreFileOptions{Name: name, Type: uploadType(typ), Limit: limit})
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, files.ErrTooLarge), errors.As(err, &tooBig):
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("%s is over the limit of %s for one file", name, files.Bytes(limit))
		case err != nil:
			return nil, http.StatusBadRequest, err
		}
		return m, 0, nil
	}
	if !multi {
		m, code, err := store(body, r.URL.Query().Get("name"), r.Header.Get("Content-Type"))
		if err != nil {
			return nil, code, err
		}
		return []*files.Manifest{m}, 0, nil
	}
	if params["boundary"] == "" {
		return nil, http.StatusBadRequest, errors.New("a multipart upload without its boundary")
	}
	mr := multipart.NewReader(body, params["boundary"])
	var ms []*files.Manifest
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the files of one upload are over the limit of %s", files.Bytes(limit))
			}
			return nil, http.StatusBadRequest, err
		}
		if part.FormName() != "file" {
			continue
		}
		if len(ms) == maxUploadFiles {
			return nil, http.StatusBadRequest, fmt.Errorf("more than %d files in one upload", maxUploadFiles)
		}
		m, code, err := store(part, part.FileName(), part.Header.Get("Content-Type"))
		if err != nil {
			return nil, code, err
		}
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return nil, http.StatusBadRequest, errors.New(`no "file" part in the upload`)
	}
	return ms, 0, nil
}

// uploadType is the MIME type an upload gives a file: its media type,
// lower case and without parameters; empty (guessed from the name) when
// the browser did not know it either. It is only a label: what a file is
// served as is decided when it is served (servedType).
func uploadType(ct string) string {
	t, _, err := mime.ParseMediaType(ct)
	if err != nil || t == "application/octet-stream" || len(t) > 255 {
		return ""
	}
	return t
}

// inlineImages are the image types served as themselves: ones browsers
// show and that hold no script. SVG is left out on purpose: an SVG opened
// from the app's origin runs its script there.
var inlineImages = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"image/avif": true, "image/bmp": true, "image/x-icon": true, "image/vnd.microsoft.icon": true,
}

// servedType is the Content-Type a file is served with and whether it is
// shown inline: every other file is a download of opaque bytes, whatever
// type its manifest (written by any member's device) claims, so nothing
// served can run in the app's origin.
func servedType(m *files.Manifest) (string, bool) {
	t, _, err := mime.ParseMediaType(m.Type)
	if err == nil && inlineImages[strings.ToLower(t)] {
		return strings.ToLower(t), true
	}
	return "application/octet-stream", false
}

// serveFile streams a file's bytes, checked against its hash. ?object=
// names the page it is in (looked up there alone, not in every page);
// ?download=1 makes an image a download too.
func serveFile(w http.ResponseWriter, r *http.Request, e *vault.Engine, dev Running, found *manifestCache) {
	fileID := strings.ToLower(r.PathValue("file"))
	if len(fileID) != 64 || strings.Trim(fileID, "0123456789abcdef") != "" {
		fail(w, http.StatusBadRequest, fmt.Errorf("a file id is the 64 hex characters of its SHA-256, not %q", r.PathValue("file")))
		return
	}
	key := r.URL.Query().Get("object") + "/" + fileID
	m := found.get(key)
	if m == nil {
		var f vault.File
		var err error
		if o := r.URL.Query().Get("object"); o != "" {
			id, perr := change.ParseID(o)
			if perr != nil {
				fail(w, http.StatusBadRequest, perr)
				return
			}
			f, err = e.PageFile(r.Context(), id, fileID)
		} else {
			f, err = e.FindFile(r.Context(), fileID)
		}
		if err != nil {
			fail(w, http.StatusNotFound, err)
			return
		}
		m = f.Manifest
		found.put(key, m)
	}
	h, err := e.Here(m)
	if err != nil {
		fail(w, http.StatusInternalServerError, err)
		return
	}
	if !h.Complete() {
		// The hook of on-demand download: a device that can fetch the
		// missing chunks does so while the request waits. A HEAD only
		// asks whether the file is here (the editor's look at a file it
		// shows as a link: a film on a page opened is not fetched for it).
		if ff, ok := dev.(FileFetcher); ok && r.Method != http.MethodHead {
			if err := ff.Download(r.Context(), m); err == nil {
				h, err = e.Here(m)
				if err != nil {
					fail(w, http.StatusInternalServerError, err)
					return
				}
			}
		}
		if !h.Complete() {
			fail(w, http.StatusNotFound, fmt.Errorf("%w: %s has %s of %s here; it arrives once a device or the node that holds it is reachable",
				vault.ErrMissingChunks, m.Name, files.Bytes(int64(h.Had)), files.Bytes(int64(m.Size))))
			return
		}
	}
	etag := `"` + m.ID() + `"`
	hd := w.Header()
	// The address is the hash of the bytes: they never change.
	hd.Set("Cache-Control", "private, max-age=31536000, immutable")
	hd.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	typ, inline := servedType(m)
	if r.URL.Query().Get("download") != "" {
		inline = false
	}
	disp := "attachment"
	if inline {
		disp = "inline"
	}
	hd.Set("Content-Type", typ)
	if d := mime.FormatMediaType(disp, map[string]string{"filename": m.Name}); d != "" {
		disp = d
	}
	hd.Set("Content-Disposition", disp)
	hd.Set("X-Content-Type-Options", "nosniff")
	// Stricter than the app's own policy: whatever a file is, opened on
	// its own it runs nothing and loads nothing.
	hd.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox")
	hd.Set("Content-Length", strconv.FormatUint(m.Size, 10))
	if r.Method == http.MethodHead {
		return
	}
	if err := e.ReadFile(r.Context(), m, w); err != nil {
		// Headers are sent: cut the response short, so the browser sees
		// a failed download rather than a file that ends early.
		panic(http.ErrAbortHandler)
	}
}

// manifestCache remembers the manifests of the files served, by page and
// file id: a page of many images asks for each, and finding one renders
// its page (for a long page, once per image, most of the cost). A file's
// id is the hash of its bytes, so a manifest remembered never goes stale;
// one whose block was deleted since is still served, as it would be by
// its id alone.
type manifestCache struct {
	mu sync.Mutex
	m  map[string]*files.Manifest
}

// keepManifests bounds the cache (it starts over when full).
const keepManifests = 4096

func (c *manifestCache) get(key string) *files.Manifest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}

func (c *manifestCache) put(key string, m *files.Manifest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= keepManifests {
		c.m = map[string]*files.Manifest{}
	}
	c.m[key] = m
}

func idStrings(ids []change.ID) []string {
	out := []string{}
	for _, h := range ids {
		out = append(out, h.String())
	}
	return out
}
