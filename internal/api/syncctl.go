package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"mycel/internal/change"
	"mycel/internal/vault"
)

// SyncState is this device's sync control: its mode and the pages it
// keeps off sync. Object and Off answer ?object=ID (the web app's page
// toggle).
type SyncState struct {
	Mode    string   `json:"mode"`
	SyncOff []string `json:"sync_off"`
	Object  string   `json:"object,omitempty"`
	Off     bool     `json:"off,omitempty"`
}

// SyncRequest sets the mode, or keeps pages off sync (Off) or gives them
// back: what `mycel sync mode` and `mycel sync off|on` do.
type SyncRequest struct {
	Mode  string   `json:"mode,omitempty"`
	Pages []string `json:"pages,omitempty"` // ids, or their first 4+ characters
	Off   bool     `json:"off,omitempty"`
}

func syncState(r *http.Request, e *vault.Engine, obj change.ID, asked bool) (SyncState, error) {
	m, err := e.SyncMode(r.Context())
	if err != nil {
		return SyncState{}, err
	}
	ids, err := e.SyncOffList(r.Context())
	if err != nil {
		return SyncState{}, err
	}
	out := SyncState{Mode: string(m), SyncOff: []string{}}
	for _, id := range ids {
		out.SyncOff = append(out.SyncOff, id.String())
	}
	if asked {
		out.Object, out.Off = obj.String(), slices.Contains(ids, obj)
	}
	return out, nil
}

// syncRoutes adds GET and POST /v1/sync, through the engine as the CLI
// does, then pokes the running device, which takes a new mode at once.
func syncRoutes(mux *http.ServeMux, e *vault.Engine, changed func()) {
	mux.HandleFunc("GET /v1/sync", func(w http.ResponseWriter, r *http.Request) {
		obj, asked, err := askedObject(r)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		st, err := syncState(r, e, obj, asked)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		reply(w, st)
	})
	mux.HandleFunc("POST /v1/sync", func(w http.ResponseWriter, r *http.Request) {
		obj, asked, err := askedObject(r)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		var req SyncRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf(`the body is JSON {"mode": "all|lan-only|node-only|local-only"} or {"pages": [ids], "off": bool}: %w`, err))
			return
		}
		if (req.Mode == "") == (len(req.Pages) == 0) {
			fail(w, http.StatusBadRequest, errors.New(`give a "mode" or "pages", one of them`))
			return
		}
		if req.Mode != "" {
			m, err := vault.ParseSyncMode(req.Mode)
			if err != nil {
				fail(w, http.StatusBadRequest, err)
				return
			}
			if err := e.SetSyncMode(r.Context(), m); err != nil {
				fail(w, http.StatusInternalServerError, err)
				return
			}
		} else {
			ids, ok := resolvePages(w, r, e, req.Pages)
			if !ok {
				return
			}
			if err := e.SetSyncOff(r.Context(), ids, req.Off); err != nil {
				fail(w, http.StatusBadRequest, err)
				return
			}
		}
		changed()
		st, err := syncState(r, e, obj, asked)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		reply(w, st)
	})
}
