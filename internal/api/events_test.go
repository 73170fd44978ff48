package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/vault"
)

// The event stream names every object that changes, whoever changed it:
// an edit through the API (which wakes the stream at once) and a write by
// another writer of the store (seen at the next poll).
func TestEventsNameEveryChange(t *testing.T) {
	ctx := context.Background()
	e, id := onePage(t, "Notes", "first\n")
	srv := httptest.NewServer(Handler(e, nil))
	defer srv.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, "GET", srv.URL+"/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %v %v", resp, err)
	}
	defer resp.Body.Close()
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var ev string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				events <- ev + " " + strings.TrimPrefix(line, "data: ")
			}
		}
		close(events)
	}()
	next := func() (string, Changed) {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			name, data, _ := strings.Cut(ev, " ")
			var c Changed
			json.Unmarshal([]byte(data), &c)
			return name, c
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return "", Changed{}
	}
	if name, _ := next(); name != "ready" {
		t.Fatalf("first event %q", name)
	}
	// Another writer.
	res, err := e.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error {
		tx.AppendBlocks(markdown.Parse("second\n"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if name, c := next(); name != "changed" || c.ID != id.String() || len(c.Heads) != 1 || c.Heads[0] != res.Heads[0].String() {
		t.Fatalf("after another writer's edit: %s %+v", name, c)
	}
	// An edit through the API wakes the stream.
	doc := call[Doc](t, Handler(e, nil), "GET", "/v1/objects/"+id.String()+"/doc", nil, 200)
	body := strings.NewReader(`{"base":["` + doc.Heads[0] + `"],"blocks":[{"type":"paragraph","text":"only"}]}`)
	post, err := http.Post(srv.URL+"/v1/objects/"+id.String()+"/doc", "application/json", body)
	if err != nil || post.StatusCode != 200 {
		t.Fatalf("edit: %v %v", post, err)
	}
	var edited DocEdited
	json.NewDecoder(post.Body).Decode(&edited)
	post.Body.Close()
	if name, c := next(); name != "changed" || c.ID != id.String() || c.Heads[0] != edited.Heads[0] {
		t.Fatalf("after an edit through the API: %s %+v (heads %v)", name, c, edited.Heads)
	}
}
