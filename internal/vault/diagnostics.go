package vault

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/store"
)

// Diagnostics describes one object for support: its change graph, heads
// and verification, without its content unless asked, and without keys,
// the phrase, device names or any other object's data.
type Diagnostics struct {
	Object       string             `json:"object"`
	Generated    time.Time          `json:"generated"`
	Mycel        string             `json:"mycel_version"`
	StoreFormat  int                `json:"store_format"`
	Heads        []string           `json:"heads"`
	Changes      []DiagnosticChange `json:"changes"`
	Verification []string           `json:"verification"` // what Check found wrong with the object; empty: nothing
	// Log holds the last lines of this device's sync log that name the
	// object (mycel up keeps the log in the data folder).
	Log    []string `json:"log"`
	Parked int      `json:"changes_waiting_for_parents"`
	// Damaged lists changes found damaged here, waiting for sync.
	Damaged []string `json:"damaged_changes,omitempty"`
	// Peers is filled in by a running device: what each peer holds.
	Peers []DiagnosticPeer `json:"peers,omitempty"`
	// Content is the object's details (names and values) and text, with
	// only their structure kept (see Anonymize) unless Anonymized is false.
	Anonymized bool              `json:"anonymized"`
	Details    map[string]string `json:"details"`
	Text       string            `json:"text"`
	// Files are the page's files by size and state, never by name.
	Files []DiagnosticFile `json:"files"`
}

// DiagnosticChange is one change of the graph.
type DiagnosticChange struct {
	ID         string    `json:"id"`
	Parents    []string  `json:"parents"`
	Author     string    `json:"author"` // the device key's first 8 hex digits: not its name
	Lamport    uint64    `json:"lamport"`
	Time       time.Time `json:"time"`
	Size       int       `json:"size"`
	Snapshot   bool      `json:"snapshot,omitempty"`
	NewVersion bool      `json:"new_version,omitempty"`
	Local      bool      `json:"written_here,omitempty"`
	Inert      bool      `json:"inert,omitempty"` // lost a counter overlap: not part of the page
	Seq        int64     `json:"arrival"`
}

// DiagnosticPeer is what one connected peer holds of the object.
type DiagnosticPeer struct {
	Peer            string `json:"peer"` // short peer id
	Node            bool   `json:"node"`
	HoldsOurHeads   bool   `json:"holds_our_heads"`
	ChangesToSend   int    `json:"changes_to_send"`
	HasChangesForUs bool   `json:"has_changes_for_us"`
}

// Diagnose describes object id (see Diagnostics).
func (e *Engine) Diagnose(ctx context.Context, id change.ID, includeContent bool) (*Diagnostics, error) {
	d := &Diagnostics{Object: id.String(), Generated: time.Now().UTC(), Mycel: version(), StoreFormat: e.storeFormat,
		Anonymized: !includeContent, Verification: []string{}}
	var blocks []*crdt.Block
	err := e.db.View(ctx, func(tx store.Tx) error {
		metas, err := tx.Changes(id, 0)
		if err != nil {
			return err
		}
		for _, m := range metas {
			c := DiagnosticChange{ID: m.ID.String(), Author: hex.EncodeToString(m.Author)[:min(8, 2*len(m.Author))], Lamport: m.Lamport,
				Time: m.Time, Size: m.Size, Snapshot: m.Snapshot, NewVersion: m.NewVersion, Local: m.Local, Inert: m.Inert, Seq: m.Seq, Parents: []string{}}
			for _, p := range m.Parents {
				c.Parents = append(c.Parents, p.String())
			}
			d.Changes = append(d.Changes, c)
		}
		heads, err := tx.Heads(id)
		if err != nil {
			return err
		}
		for _, h := range heads {
			d.Heads = append(d.Heads, h.String())
		}
		parked, _, err := tx.Parked(id)
		d.Parked = len(parked)
		if err != nil {
			return err
		}
		damaged, err := tx.Damaged(id)
		if err != nil {
			return err
		}
		for _, x := range damaged {
			d.Damaged = append(d.Damaged, x.ID.String())
		}
		members, err := e.members(tx)
		if err != nil {
			return err
		}
		c, err := e.checkObject(tx, members.MayAuthor, id)
		if err != nil {
			return err
		}
		for _, p := range c.problems {
			d.Verification = append(d.Verification, p.Kind+": "+p.Detail)
		}
		if c.l != nil {
			blocks = c.l.doc.Blocks()
			d.Details, d.Text = c.l.doc.Details(), markdown.Render(blocks)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.Log = e.logLines(id, 100)
	d.Files = e.diagnoseFiles(id, blocks)
	if !includeContent {
		d.Details, d.Text = anonymizeDetails(d.Details), Anonymize(d.Text)
	}
	return d, nil
}

// LogFile is the sync log `mycel up` keeps in the data folder (the one
// before it is LogFile + ".1").
const LogFile = "mycel.log"

// logLines returns the last n lines of the sync log that name object id.
func (e *Engine) logLines(id change.ID, n int) []string {
	out := []string{}
	for _, name := range []string{LogFile + ".1", LogFile} {
		b, err := os.ReadFile(filepath.Join(e.dir, name))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, id.Short()) {
				out = append(out, line)
			}
		}
	}
	return out[max(0, len(out)-n):]
}

// version is this binary's module version ("(devel)" when built from a
// checkout).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return bi.Main.Version + " " + s.Value
			}
		}
		return bi.Main.Version
	}
	return "unknown"
}
