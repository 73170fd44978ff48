package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"mycel/internal/change"
	"mycel/internal/device"
)

// statusDevice is a running device that records what status was asked.
type statusDevice struct{ asked []device.StatusOptions }

func (d *statusDevice) Status(ctx context.Context, only *change.ID) (device.VaultStatus, error) {
	return d.StatusOf(ctx, device.StatusOptions{Only: only})
}

func (d *statusDevice) StatusOf(_ context.Context, opt device.StatusOptions) (device.VaultStatus, error) {
	d.asked = append(d.asked, opt)
	return device.VaultStatus{Status: "Synced", Summary: "on the node as of 12:04; phone has 3 pages to fetch",
		Peers: []device.PeerSummary{{Name: "phone", ToFetch: 3}}}, nil
}

func (d *statusDevice) Poke()        {}
func (d *statusDevice) Mode() string { return "all" }

// ?peers= says which peers each object lists (one object's: all unless
// told); the reply has each peer's summary and the vault's line.
func TestStatusPeersQuery(t *testing.T) {
	e, id := onePage(t, "Hello", "one\n")
	dev := &statusDevice{}
	h := Handler(e, dev)
	for _, c := range []struct {
		query string
		code  int
		want  device.PeerList
		only  bool
	}{
		{"", 200, device.ConnectedPeers, false},
		{"?peers=all", 200, device.AllPeers, false},
		{"?peers=1", 200, device.AllPeers, false},
		{"?peers=pending", 200, device.PendingPeers, false},
		{"?peers=none", 200, device.NoPeers, false},
		{"?object=" + id.String(), 200, device.AllPeers, true},
		{"?object=" + id.String() + "&peers=none", 200, device.NoPeers, true},
		{"?peers=some", 400, 0, false},
	} {
		dev.asked = nil
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/status"+c.query, nil))
		if rec.Code != c.code {
			t.Fatalf("%s: %d, want %d: %s", c.query, rec.Code, c.code, rec.Body)
		}
		if c.code != 200 {
			continue
		}
		if len(dev.asked) != 1 || dev.asked[0].Peers != c.want || (dev.asked[0].Only != nil) != c.only {
			t.Errorf("%s asked %+v, want peers %v", c.query, dev.asked, c.want)
		}
		var r struct {
			Summary string               `json:"summary"`
			Peers   []device.PeerSummary `json:"peers"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Summary == "" || len(r.Peers) != 1 || r.Peers[0].ToFetch != 3 {
			t.Errorf("%s: %s (%v)", c.query, rec.Body, err)
		}
	}
}
