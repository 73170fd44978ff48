package device

import (
	"bytes"
	"context"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/change"
	"mycel/internal/files"
	"mycel/internal/status"
)

// FileState is how far one file of a page is.
type FileState struct {
	ID   string `json:"id"`
	Name string `json:"-"` // shown in the device's own status only, never sent
	Size int64  `json:"size"`
	// State: downloading (a fetch is under way), not downloaded (pinned,
	// not all here), pinned, refused, uploading, waiting for pinning.
	State       string `json:"state"`
	Done        int64  `json:"done"` // bytes the node holds
	Here        int64  `json:"here"` // bytes on this device
	Pinned      bool   `json:"pinned"`
	Downloading bool   `json:"downloading,omitempty"`
	Kept        bool   `json:"kept_offline,omitempty"` // its page is kept offline here
	// Holders: which peers hold it. Nodes as they confirmed (chunk_held);
	// devices nearby only in a detail status (AskNearby), else unknown.
	Holders []FileHolder `json:"holders,omitempty"`
}

// FileHolder is one peer's part in a file.
type FileHolder struct {
	Peer  string `json:"peer"`
	Name  string `json:"name,omitempty"` // a device's name
	Node  bool   `json:"node"`
	Holds string `json:"holds"`           // all, part, none, unknown
	Bytes int64  `json:"bytes,omitempty"` // of the file, when known
}

// What a holder holds.
const (
	HoldsAll     = "all"
	HoldsPart    = "part"
	HoldsNone    = "none"
	HoldsUnknown = "unknown"
)

func holds(done, size int64, all bool) string {
	switch {
	case all:
		return HoldsAll
	case done > 0:
		return HoldsPart
	}
	return HoldsNone
}

// nodePeers are the peer ids of the configured nodes, from their
// addresses (their /p2p/ part): known before any connection, so what a
// node confirmed in an earlier run counts at once.
func (d *Device) nodePeers() []string {
	var out []string
	for _, n := range d.Nodes() {
		if n.Peer != "" {
			out = append(out, string(n.Peer))
			continue
		}
		if info, err := peer.AddrInfoFromString(n.Addr); err == nil {
			out = append(out, info.ID.String())
		}
	}
	return out
}

// Files says where each file of a page is: pinned (every chunk confirmed
// by a node), uploading, waiting for a node to pin it, downloading, or
// not downloaded; and which nodes hold it.
func (d *Device) Files(ctx context.Context, obj change.ID) ([]FileState, error) {
	e := d.Engine
	fs, err := e.Files(ctx, obj)
	if err != nil {
		return nil, err
	}
	cs, err := e.Chunks()
	if err != nil {
		return nil, err
	}
	kept, err := e.Offline(ctx)
	if err != nil {
		return nil, err
	}
	nodes := d.nodePeers()
	var out []FileState
	for _, f := range fs {
		if f.Manifest == nil {
			continue
		}
		fm := f.Manifest
		st := FileState{ID: fm.ID(), Name: fm.Name, Size: int64(fm.Size), Kept: kept.Keeps(obj), Downloading: d.keep.downloading(fm.ID())}
		h, err := e.Here(fm)
		if err != nil {
			return nil, err
		}
		st.Here = int64(h.Had)
		addrs := fm.Addresses()
		var sizes map[files.Address]int64
		if rs, err := e.FileKeys().Refs(fm, cs.Get); err == nil {
			sizes = map[files.Address]int64{}
			for _, r := range rs {
				sizes[r.Address] = int64(r.Size)
				addrs = append(addrs, r.Address)
			}
		}
		slices.SortFunc(addrs, func(x, y files.Address) int { return bytes.Compare(x[:], y[:]) })
		addrs = slices.Compact(addrs)
		for _, p := range nodes {
			held, err := e.ChunkHeld(ctx, p, addrs)
			if err != nil {
				return nil, err
			}
			var done int64
			all := sizes != nil
			for i, a := range addrs {
				if held[i] {
					done += sizes[a]
				} else {
					all = false
				}
			}
			hd := FileHolder{Peer: p, Node: true, Holds: holds(done, st.Size, all), Bytes: done}
			if all {
				hd.Bytes = st.Size
			} else if sizes == nil && slices.Contains(held, true) {
				// Its list is not here, so neither are its sizes: the
				// node holds the list, and of the rest this device cannot tell.
				hd.Holds = HoldsUnknown
			}
			st.Holders = append(st.Holders, hd)
			if all {
				st.Pinned, st.Done = true, st.Size
			}
			if !st.Pinned {
				st.Done = max(st.Done, done)
			}
		}
		switch {
		case st.Downloading:
			st.State = "downloading"
		case st.Pinned && st.Here < st.Size:
			st.State = "not downloaded"
		case st.Pinned:
			st.State = "pinned"
		case d.files.refusal() != "":
			st.State = "refused"
		case st.Here == st.Size && len(nodes) > 0:
			st.State = "uploading"
		default:
			st.State = "waiting for pinning"
		}
		out = append(out, st)
	}
	return out, nil
}

// fileFacts are an object's files for its status: none (and no page
// read) when its changes reference no chunk.
func (d *Device) fileFacts(ctx context.Context, obj change.ID) ([]FileState, []status.FileFacts, error) {
	refs, err := d.Engine.ObjectChunks(ctx, obj)
	if err != nil || len(refs) == 0 {
		return nil, nil, err
	}
	fs, err := d.Files(ctx, obj)
	if err != nil {
		return nil, nil, err
	}
	refused := d.files.refusal()
	var facts []status.FileFacts
	for _, f := range fs {
		ff := status.FileFacts{Name: f.Name, Size: f.Size, Done: f.Done, Pinned: f.Pinned, Here: f.Here == f.Size,
			Downloading: f.Downloading, HereBytes: f.Here}
		if !f.Pinned && ff.Here {
			ff.Refused = refused
		}
		facts = append(facts, ff)
	}
	return fs, facts, nil
}

// wantPageMax is the largest file an opened page fetches by itself.
const wantPageMax = 64 << 20

// WantPage fetches the files of a page not here yet, up to wantPageMax
// each, in the background (a page was opened): one fetch a page at a time.
func (d *Device) WantPage(id change.ID) {
	m := d.files
	m.mu.Lock()
	if m.wanted == nil {
		m.wanted = map[change.ID]bool{}
	}
	if m.wanted[id] {
		m.mu.Unlock()
		return
	}
	m.wanted[id] = true
	m.mu.Unlock()
	d.mu.Lock()
	started := d.goTracked(func() {
		defer func() {
			m.mu.Lock()
			delete(m.wanted, id)
			m.mu.Unlock()
		}()
		fs, err := d.Engine.Files(d.ctx, id)
		if err != nil {
			return
		}
		for _, f := range fs {
			// Larger files come when asked for (a download, 'mycel files
			// get'): opening a page with a film must not fill the disk.
			if f.Manifest == nil || f.Manifest.Size > wantPageMax {
				continue
			}
			if err := d.Download(d.ctx, f.Manifest); err != nil && d.ctx.Err() == nil {
				// The log names no file (its errors do, for the person).
				msg := strings.ReplaceAll(err.Error(), f.Manifest.Name, "…")
				d.cfg.Log.Info("fetch a page's file", "page", id.Short(), "file", f.Manifest.ID()[:12], "err", msg)
			}
		}
	})
	d.mu.Unlock()
	if !started {
		m.mu.Lock()
		delete(m.wanted, id)
		m.mu.Unlock()
	}
}
