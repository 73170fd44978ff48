package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/diff"
	"mycel/internal/markdown"
	"mycel/internal/store"
	"mycel/internal/vault"
)

// maxSmall bounds the body of the small requests (a title, a flag).
const maxSmall = 1 << 20

// Row is an object as lists and search show it.
type Row struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Type     string    `json:"type"`
	Archived bool      `json:"archived"`
	Deleted  bool      `json:"deleted"`
	Updated  time.Time `json:"updated"`
	Snippet  string    `json:"snippet"`
	Changes  int       `json:"changes"`
	Match    string    `json:"match,omitempty"` // search: the text around the match, the match in [brackets]
	// Cursor (search): after=Cursor asks for the hits after this one.
	Cursor string `json:"cursor,omitempty"`
}

func rowOf(o store.Object) Row {
	return Row{ID: o.ID.String(), Title: o.Title, Type: o.Type, Archived: o.Archived, Deleted: o.Deleted, Updated: o.Updated, Snippet: o.Snippet, Changes: o.Changes}
}

// Edited answers a request that changed an object.
type Edited struct {
	ID      string   `json:"id"`
	Changed bool     `json:"changed"`
	Heads   []string `json:"heads"`
}

func editedOf(r vault.Result) Edited {
	out := Edited{ID: r.ID.String(), Changed: r.Changed, Heads: []string{}}
	for _, h := range r.Heads {
		out.Heads = append(out.Heads, h.String())
	}
	return out
}

// Version is one version of an object's history, as the history panel
// lists it.
type Version struct {
	Version int       `json:"version"`
	Point   string    `json:"point"` // its last change: names it for view and restore whatever its number becomes
	Device  string    `json:"device"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Changes int       `json:"changes"`
	Merged  bool      `json:"merged"`
}

// VersionView is an object at one version: its Markdown, and the line
// diff from it to the current version.
type VersionView struct {
	Version  int         `json:"version"`
	Markdown string      `json:"markdown"`
	Diff     []diff.Line `json:"diff"`
}

// decode reads a small JSON body into v, refusing unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSmall))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail(w, http.StatusBadRequest, fmt.Errorf("request: %w", err))
		return false
	}
	return true
}

// pageRoutes adds the routes that list, find, make and change pages and
// read their history: each a call of the engine the CLI makes too.
func pageRoutes(mux *http.ServeMux, e *vault.Engine, changed func()) {
	mux.HandleFunc("GET /v1/objects", func(w http.ResponseWriter, r *http.Request) {
		objs, err := e.List(r.Context(), vault.ListOptions{All: true})
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		out := []Row{}
		for _, o := range objs {
			out = append(out, rowOf(o))
		}
		reply(w, out)
	})
	mux.HandleFunc("GET /v1/search", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := 50
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000 {
				fail(w, http.StatusBadRequest, errors.New("search: limit is a number from 1 to 1000"))
				return
			}
			limit = n
		}
		// A page of hits: after=CURSOR, the cursor of the last hit of
		// the page before, asks for the next one.
		page, err := e.Search(r.Context(), q.Get("q"), vault.SearchOptions{Limit: limit, After: q.Get("after")})
		var bad *vault.SearchError
		if errors.As(err, &bad) {
			fail(w, http.StatusBadRequest, err)
			return
		}
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		out := []Row{}
		for _, h := range page.Hits {
			row := rowOf(h.Object)
			row.Match, row.Cursor = h.Match, h.Cursor
			out = append(out, row)
		}
		reply(w, out)
	})
	mux.HandleFunc("POST /v1/objects", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Title    string `json:"title"`
			Type     string `json:"type"`
			Markdown string `json:"markdown"`
			// SyncOff keeps the page to this device from its first change.
			SyncOff bool `json:"sync_off"`
		}
		if !decode(w, r, &in) {
			return
		}
		var id change.ID
		var err error
		if in.Markdown != "" {
			id, err = e.CreateMarkdownPage(r.Context(), in.Markdown, vault.NewPage{Details: map[string]string{"title": in.Title, "type": in.Type}, SyncOff: in.SyncOff})
		} else {
			id, err = e.Create(r.Context(), vault.NewPage{Title: in.Title, Type: in.Type, SyncOff: in.SyncOff})
		}
		if err != nil {
			fail(w, http.StatusConflict, err)
			return
		}
		changed()
		reply(w, map[string]string{"id": id.String()})
	})
	// A detail: the title (rename), tags, type or a key of one's own; an
	// empty value removes it.
	mux.HandleFunc("POST /v1/objects/{id}/details", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		id, ok := pathID(w, r)
		if !ok || !decode(w, r, &in) {
			return
		}
		if in.Key == "archived" || in.Key == "deleted" {
			fail(w, http.StatusBadRequest, fmt.Errorf("%s is set by its own request (archive, bin)", in.Key))
			return
		}
		edited(w, changed)(e.SetDetail(r.Context(), id, in.Key, in.Value))
	})
	mux.HandleFunc("POST /v1/objects/{id}/archive", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			On bool `json:"on"`
		}
		if id, ok := pathID(w, r); ok && decode(w, r, &in) {
			edited(w, changed)(e.Archive(r.Context(), id, in.On))
		}
	})
	// The bin: on moves the object there (hidden, kept with its history),
	// off brings it back.
	mux.HandleFunc("POST /v1/objects/{id}/bin", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			On bool `json:"on"`
		}
		if id, ok := pathID(w, r); ok && decode(w, r, &in) {
			if in.On {
				edited(w, changed)(e.Delete(r.Context(), id))
			} else {
				edited(w, changed)(e.Undelete(r.Context(), id))
			}
		}
	})
	mux.HandleFunc("GET /v1/objects/{id}/history", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		vs, points, err := e.HistoryPoints(r.Context(), id)
		if err != nil {
			fail(w, notFoundOr(err), err)
			return
		}
		names := e.DeviceNames(r.Context())
		out := []Version{}
		for i := len(vs) - 1; i >= 0; i-- { // newest first
			v := vs[i]
			out = append(out, Version{v.N, points[i].String(), names[string(v.Author)], v.Start, v.End, v.Changes, v.Merged})
		}
		reply(w, out)
	})
	mux.HandleFunc("GET /v1/objects/{id}/history/{version}", func(w http.ResponseWriter, r *http.Request) {
		id, o, ok := object(w, r, e)
		if !ok {
			return
		}
		n, err := strconv.Atoi(r.PathValue("version"))
		if err != nil || n < 1 {
			fail(w, http.StatusBadRequest, errors.New("a version is a number from 1 (see the history)"))
			return
		}
		old, err := e.At(r.Context(), id, vault.Point{Version: n})
		if err != nil {
			fail(w, http.StatusNotFound, err)
			return
		}
		then := markdown.Render(old.Blocks())
		reply(w, VersionView{Version: n, Markdown: then, Diff: diff.Text(then, markdown.Render(o.Blocks))})
	})
	// Restore writes the version's state as a new version on top (nothing
	// of history goes): restoring the version before it undoes it.
	mux.HandleFunc("POST /v1/objects/{id}/restore", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Version int    `json:"version"`
			Point   string `json:"point"` // a change id (a version's point, from the history)
		}
		id, ok := pathID(w, r)
		if !ok || !decode(w, r, &in) {
			return
		}
		var p vault.Point
		switch {
		case in.Point != "":
			c, err := change.ParseID(in.Point)
			if err != nil {
				fail(w, http.StatusBadRequest, fmt.Errorf("restore: point: %w", err))
				return
			}
			p.Change = c
		case in.Version >= 1:
			p.Version = in.Version
		default:
			fail(w, http.StatusBadRequest, errors.New("restore: name a version from 1, or its point (see the history)"))
			return
		}
		// The state before the restore, named by its last change: what
		// restoring undoes it (a number could name another version by then).
		_, points, err := e.HistoryPoints(r.Context(), id)
		if err != nil {
			fail(w, notFoundOr(err), err)
			return
		}
		res, err := e.Restore(r.Context(), id, p)
		if err != nil {
			fail(w, notFoundOr(err), err)
			return
		}
		if res.Changed {
			changed()
		}
		out := RestoreResult{Edited: editedOf(res)}
		if len(points) > 0 {
			out.Undo = points[len(points)-1].String()
		}
		reply(w, out)
	})
}

// RestoreResult answers a restore: Undo is the point that restores the
// object as it was just before.
type RestoreResult struct {
	Edited
	Undo string `json:"undo"`
}

func pathID(w http.ResponseWriter, r *http.Request) (change.ID, bool) {
	id, err := change.ParseID(r.PathValue("id"))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return id, false
	}
	return id, true
}

// edited answers with what an engine call that changes an object did.
func edited(w http.ResponseWriter, changed func()) func(vault.Result, error) {
	return func(res vault.Result, err error) {
		if err != nil {
			fail(w, notFoundOr(err), err)
			return
		}
		if res.Changed {
			changed()
		}
		reply(w, editedOf(res))
	}
}

// notFoundOr is 404 for an object the vault does not have, else 409 (the
// engine refused: the message says why).
func notFoundOr(err error) int {
	if strings.HasPrefix(err.Error(), "no object") {
		return http.StatusNotFound
	}
	return http.StatusConflict
}
