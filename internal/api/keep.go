package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"mycel/internal/change"
	"mycel/internal/vault"
)

// KeepRequest marks pages (or the whole vault) kept offline on this
// device, or with Off stops keeping them: what `mycel files keep` does.
type KeepRequest struct {
	Pages []string `json:"pages,omitempty"` // ids, or their first 4+ characters
	All   bool     `json:"all,omitempty"`
	Off   bool     `json:"off,omitempty"`
}

// KeepState is what this device keeps offline.
type KeepState struct {
	All   bool     `json:"all"`
	Pages []string `json:"pages"`
	// Object and Kept answer ?object=ID (the web app's page toggle):
	// whether that page's files are kept, by itself or with the whole
	// vault, as the engine decides it (vault.Offline.Keeps), so the app
	// holds no rule of its own.
	Object string `json:"object,omitempty"`
	Kept   bool   `json:"kept,omitempty"`
}

// askedObject is the page r asks about (?object=ID, its whole id), if any.
func askedObject(r *http.Request) (id change.ID, asked bool, err error) {
	q := r.URL.Query().Get("object")
	if q == "" {
		return id, false, nil
	}
	if id, err = change.ParseID(q); err != nil {
		return id, false, fmt.Errorf("object: %w", err)
	}
	return id, true, nil
}

// keepState is o as the API says it, with whether page id is kept when
// asked.
func keepState(o vault.Offline, id change.ID, asked bool) KeepState {
	out := KeepState{All: o.All, Pages: []string{}}
	for _, p := range o.Pages {
		out.Pages = append(out.Pages, p.String())
	}
	if asked {
		out.Object, out.Kept = id.String(), o.Keeps(id)
	}
	return out
}

// keepRoutes adds GET and POST /v1/files/keep: the keep-offline setting
// read and changed through the engine, as the CLI does, then the running
// device poked so it fetches at once. Either answers, with ?object=ID,
// whether that page is kept.
func keepRoutes(mux *http.ServeMux, e *vault.Engine, changed func()) {
	mux.HandleFunc("GET /v1/files/keep", func(w http.ResponseWriter, r *http.Request) {
		obj, asked, err := askedObject(r)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		o, err := e.Offline(r.Context())
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		reply(w, keepState(o, obj, asked))
	})
	mux.HandleFunc("POST /v1/files/keep", func(w http.ResponseWriter, r *http.Request) {
		// Read before anything changes: a bad one changes nothing.
		obj, asked, err := askedObject(r)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		var req KeepRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf(`the body is JSON {"pages": [ids], "all": bool, "off": bool}: %w`, err))
			return
		}
		if req.All && len(req.Pages) > 0 {
			fail(w, http.StatusBadRequest, errors.New(`give pages or "all", not both`))
			return
		}
		ids, ok := resolvePages(w, r, e, req.Pages)
		if !ok {
			return
		}
		o, err := e.SetOffline(r.Context(), ids, req.All, !req.Off)
		switch {
		case errors.Is(err, vault.ErrKeptByAll):
			fail(w, http.StatusConflict, err)
			return
		case err != nil:
			fail(w, http.StatusBadRequest, err)
			return
		}
		changed()
		reply(w, keepState(o, obj, asked))
	})
}

// resolvePages resolves page ids (or their first characters), or answers
// 404 naming the one that is not here.
func resolvePages(w http.ResponseWriter, r *http.Request, e *vault.Engine, pages []string) ([]change.ID, bool) {
	var ids []change.ID
	for _, p := range pages {
		id, err := e.Resolve(r.Context(), p)
		if err != nil {
			fail(w, http.StatusNotFound, err)
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}
