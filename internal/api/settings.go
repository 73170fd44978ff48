package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/device"
	"mycel/internal/vault"
)

// DeviceRow is one device of the vault, as the devices panel shows it.
type DeviceRow struct {
	Key       string    `json:"key"`
	Name      string    `json:"name"`
	Added     time.Time `json:"added"`
	Removed   bool      `json:"removed"`
	This      bool      `json:"this_device"`
	Connected bool      `json:"connected"` // directly, now (LAN)
	// ConnectedVia is how it is connected now: "lan", or "" (not directly;
	// it may still sync through a node).
	ConnectedVia string `json:"connected_via"`
	// LastSeen is when this device last heard from it: the last message
	// over the LAN, or the arrival of a change it made (through a node).
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// lastSeer is what a running device may offer the devices panel: when it
// last heard from each device, by hex key (device.Device.LastSeen).
type lastSeer interface {
	LastSeen(ctx context.Context) map[string]time.Time
}

// DeviceRows lists the vault's devices: what the store says, and, with a
// running device, which are connected and when each was last heard from.
func DeviceRows(ctx context.Context, e *vault.Engine, dev Running) ([]DeviceRow, error) {
	ds, err := e.Devices(ctx)
	if err != nil {
		return nil, err
	}
	connected := map[string]bool{}
	live := map[string]time.Time{}
	if dev != nil {
		if vs, err := dev.Status(ctx, &noObject); err == nil {
			for _, p := range vs.Devices {
				connected[p.Key] = true
			}
		}
		if ls, ok := dev.(lastSeer); ok {
			live = ls.LastSeen(ctx)
		}
	}
	out := []DeviceRow{}
	for _, d := range ds {
		k := hex.EncodeToString(d.Key)
		row := DeviceRow{Key: k, Name: d.Name, Added: d.Added, Removed: d.Removed, This: d.This, Connected: connected[k], LastSeen: d.LastSeen}
		if row.Connected {
			row.ConnectedVia = "lan"
		}
		if t := live[k]; !d.This && t.After(row.LastSeen) {
			row.LastSeen = t
		}
		out = append(out, row)
	}
	return out, nil
}

// noObject names no object: a status asked for it has the vault's nodes
// and devices without the cost of every object's.
var noObject change.ID

// vaultRoutes adds the routes of the vault's devices, backup nodes and
// diagnostics.
func vaultRoutes(mux *http.ServeMux, e *vault.Engine, dev Running) {
	mux.HandleFunc("GET /v1/devices", func(w http.ResponseWriter, r *http.Request) {
		out, err := DeviceRows(r.Context(), e, dev)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		reply(w, out)
	})
	// Renaming a device, as `mycel devices rename` does: any device, the
	// record reaching the others at the next sync (at once, to those
	// connected: the running device is poked).
	mux.HandleFunc("POST /v1/devices/rename", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Device string `json:"device"`
			Name   string `json:"name"`
		}
		if !decode(w, r, &in) {
			return
		}
		d, err := e.RenameDevice(r.Context(), in.Device, in.Name)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		if dev != nil {
			dev.Poke()
		}
		reply(w, map[string]string{"key": hex.EncodeToString(d.Key), "name": d.Name})
	})
	// A node's row says on how many pages it was caught showing less
	// than it had confirmed (and when last), for its "Trust again".
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		addrs, err := e.Nodes(r.Context())
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		state := map[string]device.NodeStatus{}
		if dev != nil {
			if vs, err := dev.Status(r.Context(), &noObject); err == nil {
				for _, n := range vs.Nodes {
					state[n.Addr] = n
				}
			}
		}
		lies, err := e.NodeLies(r.Context())
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		out := []nodeRow{}
		for _, a := range addrs {
			n, ok := state[a]
			if !ok {
				n = device.NodeStatus{Addr: a}
			}
			row := nodeRow{NodeStatus: n}
			for _, l := range lies {
				if vault.NodePeer(a) == l.Node {
					row.CaughtPages++
					row.CaughtAt = max(row.CaughtAt, l.Found)
				}
			}
			out = append(out, row)
		}
		reply(w, out)
	})
	// Trusting a node again after it was caught losing or hiding changes
	// it had confirmed: what 'mycel nodes trust' does.
	mux.HandleFunc("POST /v1/nodes/trust", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Addr string `json:"addr"`
			All  bool   `json:"all"`
		}
		if !decode(w, r, &in) {
			return
		}
		if (in.Addr == "") == !in.All {
			fail(w, http.StatusBadRequest, errors.New(`give one node's "addr", or "all": true`))
			return
		}
		n, err := e.TrustNodeAgain(r.Context(), in.Addr)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		if dev != nil {
			dev.Poke()
		}
		reply(w, map[string]any{"addr": in.Addr, "pages": n})
	})
	// Adding a node registers the vault with it first, as `mycel nodes
	// add` does: an address that is not a node's, or a node that refuses,
	// is answered with why, and nothing is added.
	mux.HandleFunc("POST /v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Addr   string `json:"addr"`
			Invite string `json:"invite"`
		}
		if !decode(w, r, &in) {
			return
		}
		in.Addr = strings.TrimSpace(in.Addr)
		if !strings.HasPrefix(in.Addr, "/") || !strings.Contains(in.Addr, "/p2p/") {
			fail(w, http.StatusBadRequest, errors.New("a node's address is the /…/p2p/… address 'mycel node' prints"))
			return
		}
		if err := device.RegisterInvited(r.Context(), e, in.Addr, in.Invite); err != nil {
			fail(w, http.StatusBadGateway, err)
			return
		}
		if dev != nil {
			dev.Poke()
		}
		reply(w, map[string]string{"added": in.Addr})
	})
	mux.HandleFunc("POST /v1/nodes/remove", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Addr string `json:"addr"`
		}
		if !decode(w, r, &in) {
			return
		}
		if err := e.RemoveNode(r.Context(), in.Addr); err != nil {
			fail(w, http.StatusNotFound, err)
			return
		}
		reply(w, map[string]string{"removed": in.Addr})
	})
	// Diagnostics of one object, as `mycel diagnostics` writes them:
	// anonymized unless content=1.
	mux.HandleFunc("GET /v1/objects/{id}/diagnostics", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		d, err := e.Diagnose(r.Context(), id, r.URL.Query().Get("content") == "1")
		if err != nil {
			fail(w, notFoundOr(err), err)
			return
		}
		if dev != nil {
			if vs, err := dev.Status(r.Context(), &id); err == nil {
				d.Peers = DiagnosticPeers(vs)
			}
		}
		b, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="mycel-diagnostics-%s.json"`, id.Short()))
		w.Write(append(b, '\n'))
	})
}

// DiagnosticPeers is what each peer holds of the objects of vs, the peers
// named by the end of their id only (never by name).
func DiagnosticPeers(vs device.VaultStatus) []vault.DiagnosticPeer {
	var out []vault.DiagnosticPeer
	for _, o := range vs.Objects {
		for _, p := range o.Peers {
			out = append(out, vault.DiagnosticPeer{Peer: "…" + p.Peer[max(0, len(p.Peer)-8):], Node: p.Node,
				HoldsOurHeads: p.HasMine, ChangesToSend: p.Outgoing, HasChangesForUs: p.Incoming})
		}
	}
	return out
}

// nodeRow is a node in GET /v1/nodes: its state, and the pages it was
// caught losing or hiding changes of (see vault.NodeLies).
type nodeRow struct {
	device.NodeStatus
	CaughtPages int   `json:"caught_pages,omitempty"`
	CaughtAt    int64 `json:"caught_at_ms,omitempty"`
}
