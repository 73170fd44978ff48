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
}

func keepState(o vault.Offline) KeepState {
	out := KeepState{All: o.All, Pages: []string{}}
	for _, id := range o.Pages {
		out.Pages = append(out.Pages, id.String())
	}
	return out
}

// keepRoutes adds GET and POST /v1/files/keep: the keep-offline setting
// read and changed through the engine, as the CLI does, then the running
// device poked so it fetches at once.
func keepRoutes(mux *http.ServeMux, e *vault.Engine, changed func()) {
	mux.HandleFunc("GET /v1/files/keep", func(w http.ResponseWriter, r *http.Request) {
		o, err := e.Offline(r.Context())
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		reply(w, keepState(o))
	})
	mux.HandleFunc("POST /v1/files/keep", func(w http.ResponseWriter, r *http.Request) {
		var req KeepRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf(`the body is JSON {"pages": [ids], "all": bool, "off": bool}: %w`, err))
			return
		}
		if req.All && len(req.Pages) > 0 {
			fail(w, http.StatusBadRequest, errors.New(`give pages or "all", not both`))
			return
		}
		var ids []change.ID
		for _, p := range req.Pages {
			id, err := e.Resolve(r.Context(), p)
			if err != nil {
				fail(w, http.StatusNotFound, err)
				return
			}
			ids = append(ids, id)
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
		reply(w, keepState(o))
	})
}
