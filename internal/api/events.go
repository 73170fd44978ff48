package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"mycel/internal/vault"
)

// EventsPoll is how often the event stream looks at the store when
// nothing woke it: changes stored by other processes are seen within it;
// whatever this process stores (sync, an edit through this API) and a
// CLI's poke wake it at once.
const EventsPoll = 100 * time.Millisecond

// wake lets handlers wake every event stream.
type wake struct {
	mu sync.Mutex
	ch chan struct{}
}

func newWake() *wake { return &wake{ch: make(chan struct{})} }

// wait returns a channel closed at the next wake.
func (w *wake) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

func (w *wake) all() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.ch)
	w.ch = make(chan struct{})
}

// Changed is one event of GET /v1/events: object ID changed, and its heads
// are now Heads (an editor showing an older version loads the page again,
// or merges its own edit onto it).
type Changed struct {
	ID    string   `json:"id"`
	Heads []string `json:"heads"`
}

// events streams, as server-sent events, every object that changes from
// now on ("changed" events, data: a Changed), until the client goes or
// streams ends.
func events(e *vault.Engine, wk *wake, streams context.Context) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		_, seq, err := e.Changed(ctx, -1)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		rc := http.NewResponseController(w)
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "event: ready\ndata: {}\n\n")
		rc.Flush()
		poll := time.NewTicker(EventsPoll)
		defer poll.Stop()
		keepalive := time.NewTicker(15 * time.Second)
		defer keepalive.Stop()
		for {
			woken, stored := wk.wait(), e.Stored()
			select {
			case <-ctx.Done():
				return
			case <-streams.Done():
				return
			case <-keepalive.C:
				fmt.Fprint(w, ": keepalive\n\n")
				if rc.Flush() != nil {
					return
				}
				continue
			case <-poll.C:
			case <-woken:
			case <-stored:
			}
			objs, last, err := e.Changed(ctx, seq)
			if err != nil {
				return // the client reconnects (EventSource does)
			}
			seq = last
			for id, heads := range objs {
				ev := Changed{ID: id.String(), Heads: []string{}}
				for _, hd := range heads {
					ev.Heads = append(ev.Heads, hd.String())
				}
				b, _ := json.Marshal(ev)
				fmt.Fprintf(w, "event: changed\ndata: %s\n\n", b)
			}
			if len(objs) > 0 && rc.Flush() != nil {
				return
			}
		}
	}
}
