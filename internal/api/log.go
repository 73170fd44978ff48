package api

import (
	"errors"
	"net/http"
	"strconv"

	"mycel/internal/activity"
	"mycel/internal/vault"
)

// LogLine is one line of the activity log, with the text `mycel log`
// prints for it.
type LogLine struct {
	activity.Entry
	Title string `json:"title,omitempty"`
	Text  string `json:"text"`
}

// logRoutes adds GET /v1/log: the activity log's last lines (?n=, 50 by
// default; ?errors=1; ?object=ID), as `mycel log` shows them.
func logRoutes(mux *http.ServeMux, e *vault.Engine) {
	mux.HandleFunc("GET /v1/log", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n := 50
		if s := q.Get("n"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 || v > 10000 {
				fail(w, http.StatusBadRequest, errBadCount)
				return
			}
			n = v
		}
		f := activity.Filter{Errors: q.Get("errors") != ""}
		obj, asked, err := askedObject(r)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		if asked {
			f.Object = obj.String()
		}
		es, _, err := activity.Read(e.Dir(), f, n)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		title := e.TitleLookup(r.Context())
		out := make([]LogLine, 0, len(es))
		for _, en := range es {
			t := title(en.Object)
			out = append(out, LogLine{Entry: en, Title: t, Text: activity.Describe(en, t)})
		}
		reply(w, out)
	})
}

var errBadCount = errors.New("n is a count of lines, 0 to 10000 (0: all)")
