// Package api is the local HTTP/JSON API of a running device (`mycel up`),
// served on a unix socket in the data folder that only its owner can open.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"mycel/internal/change"
	"mycel/internal/device"
	"mycel/internal/markdown"
	"mycel/internal/vault"
)

// SocketDir is the folder of the socket in the data folder, and SocketFile
// the socket's name in it. The folder is the socket's protection: it is
// made 0700 before the socket exists, so nobody else can ever reach the
// socket, whatever the data folder's mode or the process's umask (a chmod
// of the socket after listening left a moment in which others could
// connect).
const (
	SocketDir  = "api"
	SocketFile = "mycel.sock"
)

// SocketPath is where the API of the device on data folder dir listens.
func SocketPath(dir string) string { return filepath.Join(dir, SocketDir, SocketFile) }

// Running is what the API needs of a running device (nil: none).
type Running interface {
	Status(ctx context.Context, only *change.ID) (device.VaultStatus, error)
	Poke()
	Mode() string // with whom it syncs (see device.Device.Mode)
}

// peersStatuser is what a running device may offer: a status whose objects
// list every known peer, connected or not (?peers=1).
type peersStatuser interface {
	StatusOf(ctx context.Context, opt device.StatusOptions) (device.VaultStatus, error)
}

// nearbyAsker is what a running device may offer a detail status: which
// devices nearby hold each file (device.Device.AskNearby).
type nearbyAsker interface {
	AskNearby(ctx context.Context, vs *device.VaultStatus)
}

// API is the handler of the API.
type API struct {
	http.Handler
	stop context.CancelFunc
}

// StopStreams ends the event streams (call it as the server shuts down:
// they never end on their own).
func (a *API) StopStreams() { a.stop() }

// Handler serves the API for e, and for the running device dev if any.
func Handler(e *vault.Engine, dev Running) *API {
	mux := http.NewServeMux()
	wk := newWake()
	streams, stop := context.WithCancel(context.Background())
	mux.HandleFunc("GET /v1/events", events(e, wk, streams))
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]any{"vault_id": fmt.Sprintf("%x", e.VaultID()), "device": fmt.Sprintf("%x", e.DeviceKey()), "data_dir": e.Dir()}
		if dev == nil {
			reply(w, out)
			return
		}
		var only *change.ID
		if q := r.URL.Query().Get("object"); q != "" {
			id, err := change.ParseID(q)
			if err != nil {
				fail(w, http.StatusBadRequest, err)
				return
			}
			only = &id
		}
		var vs device.VaultStatus
		ps, ok := dev.(peersStatuser)
		list, err := device.ParsePeerList(r.URL.Query().Get("peers"))
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		if ok {
			// Which peers each object lists: ?peers=all (one object's
			// status has them all unless told), pending or none; else
			// the connected ones.
			if only != nil && r.URL.Query().Get("peers") == "" {
				list = device.AllPeers
			}
			vs, err = ps.StatusOf(r.Context(), device.StatusOptions{Only: only, Peers: list})
		} else {
			vs, err = dev.Status(r.Context(), only)
		}
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		// One object's status says, with ?holders=1, which devices nearby
		// hold its files: asked of them now, so only when asked for (the
		// web app polls a page's status; a vault's would ask of every file).
		if na, ok := dev.(nearbyAsker); ok && only != nil && r.URL.Query().Get("holders") != "" {
			na.AskNearby(r.Context(), &vs)
		}
		out["status"] = vs.Status
		out["mode"] = dev.Mode()
		if vs.Reason != "" {
			out["reason"] = vs.Reason
		}
		out["nodes"] = vs.Nodes
		out["devices_connected"] = vs.Devices
		out["objects"] = vs.Objects
		out["peers"] = vs.Peers
		if vs.Summary != "" {
			out["summary"] = vs.Summary
		}
		if vs.FilesPending > 0 {
			out["files_pending"] = vs.FilesPending
		}
		if vs.Files != (device.FilesSummary{}) {
			out["files"] = vs.Files
		}
		reply(w, out)
	})
	// A CLI that wrote to the store pokes the running device so that what
	// it wrote is pushed at once rather than at the next poll.
	mux.HandleFunc("POST /v1/poke", func(w http.ResponseWriter, r *http.Request) {
		if dev != nil {
			dev.Poke()
		}
		wk.all()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/objects/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, o, ok := object(w, r, e)
		if !ok {
			return
		}
		downloading := false
		if dev != nil {
			if vs, err := dev.Status(r.Context(), &id); err == nil {
				for _, os := range vs.Objects {
					for _, p := range os.Peers {
						downloading = downloading || p.Incoming
					}
				}
			}
		}
		reply(w, map[string]any{"id": id.String(), "details": o.Details, "markdown": markdown.Render(o.Blocks),
			"incomplete": o.Parked > 0 || downloading, "downloading": downloading})
	})
	changed := func() {
		if dev != nil {
			dev.Poke()
		}
		wk.all()
	}
	docRoutes(mux, e, changed)
	pageRoutes(mux, e, changed)
	vaultRoutes(mux, e, dev)
	transferRoutes(mux, e, changed)
	filesRoutes(mux, e, dev, changed)
	fileRoutes(mux, e, dev)
	keepRoutes(mux, e, changed)
	syncRoutes(mux, e, changed)
	logRoutes(mux, e)
	return &API{Handler: withPageFiles(mux, dev), stop: stop}
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// Listen opens the socket of data folder dir, in its private folder,
// refusing when another device process already serves it and clearing a
// stale one left by a crash.
func Listen(dir string) (net.Listener, error) {
	if err := privateDir(filepath.Join(dir, SocketDir)); err != nil {
		return nil, err
	}
	path := SocketPath(dir)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("mycel is already running for %s (socket %s answers)", dir, path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return l, nil
}

// Client talks to the API of the device running on data folder dir.
func Client(dir string, timeout time.Duration) *http.Client {
	sock := SocketPath(dir)
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}
