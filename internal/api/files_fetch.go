package api

import (
	"errors"
	"net/http"
	"strings"

	"mycel/internal/change"
	"mycel/internal/vault"
)

// fileFetcher is what a running device offers for files (device.Device):
// the API asks it through this interface so that Running stays as it is.
type fileFetcher interface {
	FileFetcher // Download returns once the whole file is on this device
	// WantPage fetches a page's files in the background.
	WantPage(id change.ID)
}

// fileRoutes adds POST /v1/files/{id}/fetch: the file's missing chunks
// brought from a node by the running device, answered once all are here
// (what `mycel files get` asks when the file is not here).
func fileRoutes(mux *http.ServeMux, e *vault.Engine, dev Running) {
	mux.HandleFunc("POST /v1/files/{id}/fetch", func(w http.ResponseWriter, r *http.Request) {
		f, err := e.FindFile(r.Context(), r.PathValue("id"))
		if err != nil {
			fail(w, http.StatusNotFound, err)
			return
		}
		ff, ok := dev.(fileFetcher)
		if dev == nil || !ok {
			fail(w, http.StatusConflict, errors.New("no device is running to fetch files: start 'mycel up'"))
			return
		}
		if err := ff.Download(r.Context(), f.Manifest); err != nil {
			fail(w, http.StatusBadGateway, err)
			return
		}
		reply(w, map[string]any{"id": f.Manifest.ID(), "complete": true})
	})
}

// withPageFiles has a page's files fetched in the background when the
// page is opened (GET /v1/objects/{id} and its /doc), so they are there
// by the time they are shown.
func withPageFiles(h http.Handler, dev Running) http.Handler {
	ff, ok := dev.(fileFetcher)
	if dev == nil || !ok {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/objects/") {
			rest := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/objects/"), "/doc")
			if id, err := change.ParseID(rest); err == nil {
				ff.WantPage(id)
			}
		}
		h.ServeHTTP(w, r)
	})
}
