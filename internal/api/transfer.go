package api

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"mycel/internal/markdown"
	"mycel/internal/vault"
)

// Bounds of an uploaded import: what a browser sends is read no further.
const (
	maxImportBytes = 1 << 30 // the zip, and what it unpacks to
	maxImportFiles = 100_000
)

// transferRoutes adds export (a zip download), import (a zip upload) and
// backup (to a folder of this computer), each the engine call the CLI's
// command makes.
func transferRoutes(mux *http.ServeMux, e *vault.Engine, changed func()) {
	mux.HandleFunc("GET /v1/export", func(w http.ResponseWriter, r *http.Request) {
		format := r.URL.Query().Get("format")
		if format == "" {
			format = "markdown"
		}
		if format != "markdown" && format != "obsidian" && format != "json" {
			fail(w, http.StatusBadRequest, fmt.Errorf("format is markdown, obsidian or json, not %q", format))
			return
		}
		dir, err := os.MkdirTemp("", "mycel-export-")
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		defer os.RemoveAll(dir)
		switch format {
		case "json":
			_, err = e.ExportJSON(r.Context(), dir, nil)
		case "obsidian":
			_, err = e.ExportMarkdown(r.Context(), dir, nil, markdown.Obsidian)
		default:
			_, err = e.ExportMarkdown(r.Context(), dir, nil, markdown.Markdown)
		}
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="mycel-%s-%s.zip"`, format, time.Now().Format("2006-01-02")))
		if err := zipDir(w, dir); err != nil {
			// The download is cut short; the browser shows it failed.
			panic(http.ErrAbortHandler)
		}
	})
	mux.HandleFunc("POST /v1/import", func(w http.ResponseWriter, r *http.Request) {
		dir, err := os.MkdirTemp("", "mycel-import-")
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		defer os.RemoveAll(dir)
		unpack := unzipUpload
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			unpack = folderUpload
		}
		if err := unpack(w, r, dir); err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("import: %w", err))
			return
		}
		root := dir
		if ents, err := os.ReadDir(dir); err == nil && len(ents) == 1 && ents[0].IsDir() {
			root = filepath.Join(dir, ents[0].Name()) // a zip of one folder
		}
		if vault.IsJSONExport(root) {
			res, err := e.ImportJSON(r.Context(), root)
			if err != nil {
				fail(w, http.StatusConflict, err)
				return
			}
			changed()
			reply(w, map[string]any{"kind": "json", "created": res.Created, "updated": res.Updated, "unchanged": res.Unchanged, "not_converted": res.Skipped})
			return
		}
		res, err := e.ImportMarkdown(r.Context(), root)
		if err != nil {
			fail(w, http.StatusConflict, err)
			return
		}
		changed()
		reply(w, map[string]any{"kind": "markdown", "created": res.Created, "updated": res.Updated, "unchanged": res.Unchanged, "not_converted": res.NotConverted})
	})
	mux.HandleFunc("POST /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Dest string `json:"dest"`
		}
		if !decode(w, r, &in) {
			return
		}
		if !filepath.IsAbs(in.Dest) {
			fail(w, http.StatusBadRequest, errors.New("backup: give the whole path of a new or empty folder on this computer"))
			return
		}
		// Never with the device key from a browser: that needs the CLI
		// (`mycel backup --include-device-key`), typed by whoever owns it.
		m, err := e.Backup(r.Context(), in.Dest, false)
		if err != nil {
			fail(w, http.StatusConflict, err)
			return
		}
		reply(w, m)
	})
}

// zipDir writes every file under dir to w as a zip.
func zipDir(w io.Writer, dir string) error {
	zw := zip.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		out, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		_, err = io.Copy(out, f)
		return err
	})
	if err != nil {
		return err
	}
	return zw.Close()
}

// inside is the place in dir of an uploaded file's relative path, or an
// error when the path would reach out of dir.
func inside(dir, name string) (string, error) {
	clean := path.Clean(name)
	if name == "" || strings.Contains(name, `\`) || path.IsAbs(name) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("the entry %q is outside its folder", name)
	}
	return filepath.Join(dir, filepath.FromSlash(clean)), nil
}

// folderUpload writes the files of a multipart upload (a folder picked in
// the browser: each part's file name is its path in the folder) into dir.
func folderUpload(w http.ResponseWriter, r *http.Request, dir string) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxImportBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return err
	}
	var total int64
	for files := 0; ; files++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("the upload: %w", err)
		}
		if files >= maxImportFiles {
			return fmt.Errorf("more than %d files", maxImportFiles)
		}
		if part.FormName() != "file" {
			continue
		}
		// Its path in the folder (FileName keeps only the last element).
		_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if err != nil {
			return fmt.Errorf("the upload: %w", err)
		}
		target, err := inside(dir, params["filename"])
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return err
		}
		n, err := writeNew(target, part, maxImportBytes-total)
		total += n
		if err != nil {
			return err
		}
	}
}

// writeNew writes at most limit bytes of in to a new file at target.
func writeNew(target string, in io.Reader, limit int64) (int64, error) {
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	n, err := io.Copy(out, io.LimitReader(in, limit+1))
	if err == nil && n > limit {
		err = fmt.Errorf("the upload unpacks to more than %d MiB", maxImportBytes>>20)
	}
	if err == nil {
		err = out.Close()
	}
	return n, err
}

// unzipUpload unpacks the zip in r's body into dir, refusing what could
// write outside it (absolute paths, "..", links) and stopping at the
// bounds.
func unzipUpload(w http.ResponseWriter, r *http.Request, dir string) error {
	tmp, err := os.CreateTemp("", "mycel-upload-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := io.Copy(tmp, http.MaxBytesReader(w, r.Body, maxImportBytes))
	if err != nil {
		return fmt.Errorf("the upload: %w (at most %d MiB)", err, maxImportBytes>>20)
	}
	zr, err := zip.NewReader(tmp, n)
	if err != nil {
		return fmt.Errorf("not a zip file: %w", err)
	}
	if len(zr.File) > maxImportFiles {
		return fmt.Errorf("the zip holds %d files, more than %d", len(zr.File), maxImportFiles)
	}
	var total int64
	for _, f := range zr.File {
		target, err := inside(dir, f.Name)
		if err != nil {
			return err
		}
		if f.Mode()&fs.ModeSymlink != 0 || !f.Mode().IsRegular() && !f.FileInfo().IsDir() {
			return fmt.Errorf("the zip's entry %q is not a file or folder", f.Name)
		}
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return err
		}
		in, err := f.Open()
		if err != nil {
			return err
		}
		n, err := writeNew(target, in, maxImportBytes-total)
		in.Close()
		total += n
		if err != nil {
			return err
		}
	}
	return nil
}
