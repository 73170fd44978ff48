package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/api"
	"mycel/internal/change"
	"mycel/internal/device"
	"mycel/internal/status"
	"mycel/internal/vault"
)

type statusReply struct {
	VaultID string                `json:"vault_id"`
	Status  string                `json:"status"`
	Reason  string                `json:"reason,omitempty"`
	Mode    string                `json:"mode,omitempty"` // with whom it syncs now ('mycel sync mode')
	Nodes   []device.NodeStatus   `json:"nodes"`
	Devices []device.PeerStatus   `json:"devices_connected"`
	Objects []device.ObjectStatus `json:"objects"`
	// Peers: each node and other device and how many pages it holds;
	// Summary says it in a line.
	Peers   []device.PeerSummary `json:"peers,omitempty"`
	Summary string               `json:"summary,omitempty"`
	// FilesPending counts files no node pinned yet, Files them by state.
	FilesPending int                 `json:"files_pending,omitempty"`
	Files        device.FilesSummary `json:"files,omitzero"`
	// names: the files' names by id, read from this device's vault (the
	// API never sends them).
	names map[string]string
}

func (a *app) statusCmd() *cobra.Command {
	var watch, peers bool
	cmd := &cobra.Command{
		Use:   "status [ID]",
		Short: "Show sync status: of the vault, its nodes and devices, and its objects",
		Long: `Show the sync status of the vault, of each backup node and connected device, and
of each object (or of one object, with each peer's part):

  Preparing…     after start, until every node was tried and compared with
  Syncing…       uploading or downloading, or waiting for a node to acknowledge
  Synced         a backup node said it holds its current version; nothing pending
  No connection  no backup node can be reached (devices may still sync directly)
  Not syncing    sync failed (a change was refused, the store fails, a node refused
                 this vault) or is off

The vault's line of peers says where the vault is ("on the node as of 12:04;
phone has 3 pages to fetch"). With ID, each peer of the page, the node and the
vault's other devices by name, connected or not: whether it holds this
device's latest changes and since when (when it last said which version it
holds), when it was last seen, how many changes (and bytes) it lacks, how many
it has for this device ("n of m" while downloading), and why sync with it
fails. What a device holds is known from what it told this one directly (on
the LAN); of a device met only through the node it is not known. --peers
lists every peer of the vault with how many pages it holds, and under each
page the peers that lack it, have changes of it for this device, or fail;
with --json, every peer of every page, and every field.

With ID, each file of the page too: how much is here ("not downloaded: 40 MB"),
whether it is kept offline ('mycel files keep'), and which peers hold it (nodes
as they confirmed; devices nearby are asked).

Status comes from the running device ('mycel up'); --watch refreshes it.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var query string
			names := map[string]string{}
			if len(args) == 1 {
				if err := a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
					// One object's status lists every peer, --peers or not.
					query = "?object=" + url.QueryEscape(id.String()) + "&holders=1"
					fs, _ := e.Files(cmd.Context(), id) // without them the files show by id alone
					for _, f := range fs {
						if f.Manifest != nil {
							names[f.Manifest.ID()] = f.Manifest.Name
						}
					}
					return nil
				}); err != nil {
					return err
				}
			} else if _, err := os.Stat(filepath.Join(a.data, vault.SecretsFile)); err != nil {
				return a.withVault(func(*vault.Engine) error { return nil }) // says there is no vault
			} else {
				// What is printed: a vault's text lists no object's peers,
				// with --peers those with something to say (a peer that
				// lacks the page, has changes for us, or fails); --json
				// with --peers gives every peer of every object.
				switch {
				case peers && a.asJSON:
					query = "?peers=all"
				case peers:
					query = "?peers=pending"
				case !a.asJSON:
					query = "?peers=none"
				}
			}
			last := ""
			for {
				r, err := a.fetchStatus(cmd.Context(), query)
				if err != nil {
					return err
				}
				r.names = names
				var b strings.Builder
				if a.asJSON {
					enc := json.NewEncoder(&b)
					if !watch { // --watch: one object a line, a line per change
						enc.SetIndent("", "  ")
					}
					enc.Encode(r)
				} else {
					printStatus(&b, r, len(args) == 1, peers)
				}
				if out := b.String(); out != last {
					if watch && last != "" && !a.asJSON {
						fmt.Fprintln(a.stdout, "—", time.Now().Format("15:04:05"))
					}
					fmt.Fprint(a.stdout, out)
					last = out
				}
				if !watch {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(time.Second):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "keep showing the status as it changes, until Ctrl-C")
	cmd.Flags().BoolVar(&peers, "peers", false, "each peer of the vault (connected or not) and of each page: holds, since, pending")
	return cmd
}

// fetchStatus asks the running device; without one, sync is off.
func (a *app) fetchStatus(ctx context.Context, query string) (statusReply, error) {
	c := api.Client(a.data, 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://mycel/v1/status"+query, nil)
	resp, err := c.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "connect") {
			return statusReply{Status: status.NotSyncing, Reason: "this device is not running; start it with 'mycel up'"}, nil
		}
		return statusReply{}, err
	}
	defer resp.Body.Close()
	var r statusReply
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return r, fmt.Errorf("status: %s", strings.TrimSpace(string(b)))
	}
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

func printStatus(w io.Writer, r statusReply, detail, peers bool) {
	fmt.Fprintf(w, "Vault: %s", r.Status)
	if r.Reason != "" {
		fmt.Fprintf(w, " (%s)", r.Reason)
	}
	fmt.Fprintln(w)
	if r.Nodes == nil {
		return // no device running
	}
	if r.Mode != "" && r.Mode != string(vault.SyncAll) {
		fmt.Fprintf(w, "Sync mode: %s\n", r.Mode)
	}
	if len(r.Nodes) == 0 {
		fmt.Fprintln(w, "Backup nodes: none (add one with 'mycel nodes add ADDR')")
	}
	for _, n := range r.Nodes {
		state := "reachable"
		if !n.Connected {
			state = "not reachable"
			switch {
			case n.Refused != "":
				state = "refused: " + n.Refused
			case n.LastError != "":
				state += ": " + n.LastError // whole: a reason clipped helps no one
			}
		}
		seen := ""
		if !n.LastSeen.IsZero() {
			seen = ", last seen " + n.LastSeen.Local().Format("15:04:05")
		}
		fmt.Fprintf(w, "Node %s: %s%s\n", n.Addr, state, seen)
	}
	if line := filesLine(r.Files); line != "" {
		fmt.Fprintf(w, "Files: %s\n", line)
	}
	var names []string
	for _, d := range r.Devices {
		names = append(names, d.Name)
	}
	if len(names) > 0 {
		fmt.Fprintf(w, "Devices connected: %s\n", strings.Join(names, ", "))
	}
	if r.Summary != "" {
		fmt.Fprintf(w, "Peers: %s\n", r.Summary)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	byPeer := map[string]device.PeerSummary{}
	for _, p := range r.Peers {
		byPeer[p.Peer] = p
	}
	if peers {
		for _, p := range r.Peers {
			kind := "device"
			if p.Node {
				kind = "node"
			}
			held := fmt.Sprintf("holds %d of %d pages", p.Holding, p.Holding+p.ToFetch+p.Unknown)
			if !p.AsOf.IsZero() {
				held += " as of " + when(p.AsOf)
			}
			if p.Unknown > 0 {
				held += fmt.Sprintf(" (%d not known)", p.Unknown)
			}
			fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\n", kind, p.Name, seenText(p.Connected, p.LastSeen), held, pendingText(p.ChangesToSend, p.BytesToSend, p.ForUs, p.Failure))
		}
	}
	for _, o := range r.Objects {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.ID[:12], clip(o.Title, 30), o.Status, o.Reason)
		for _, q := range o.Equivocating {
			fmt.Fprintf(tw, "\t  warning: device %q (%s) signed different changes with the same counters; %d of them are kept out of the page, alike on every device (a copy of its data folder, or a device that means harm)\n", q.Name, q.Key[:12], q.Inert)
		}
		if detail || peers {
			for _, p := range o.Peers {
				if s, ok := byPeer[p.Peer]; ok && p.LastSeen.IsZero() {
					p.LastSeen = s.LastSeen // a vault's status says it once a peer
				}
				printPeer(tw, p)
			}
		}
		if detail {
			for _, f := range o.Files {
				printFile(tw, f, r.names[f.ID])
			}
		}
	}
	tw.Flush()
}

// filesLine says what is left to do of the vault's files: "3 files
// uploading, 1 downloading, 2 not downloaded" ("" when nothing is).
func filesLine(s device.FilesSummary) string {
	var parts []string
	for _, c := range []struct {
		n    int
		what string
	}{{s.Uploading, "uploading"}, {s.Waiting, "waiting for the backup node to pin"}, {s.Refused, "refused by the backup node"},
		{s.Downloading, "downloading"}, {s.NotDownloaded, "not downloaded"}} {
		if c.n == 0 {
			continue
		}
		noun := ""
		if len(parts) == 0 {
			noun = " files"
			if c.n == 1 {
				noun = " file"
			}
		}
		parts = append(parts, fmt.Sprintf("%d%s %s", c.n, noun, c.what))
	}
	return strings.Join(parts, ", ")
}

// printFile is one file of a detail status: its state, how much is here,
// and who holds it.
func printFile(w io.Writer, f device.FileState, name string) {
	here := hereText(uint64(f.Here), uint64(f.Size))
	if f.Downloading {
		here = "downloading: " + status.OfBytes(f.Here, f.Size)
	}
	kept := ""
	if f.Kept {
		kept = ", kept offline"
	}
	var holders []string
	for _, h := range f.Holders {
		who := "device " + h.Name
		if h.Name == "" {
			who = "device …" + h.Peer[max(0, len(h.Peer)-8):]
		}
		if h.Node {
			who = "node …" + h.Peer[max(0, len(h.Peer)-8):]
		}
		switch h.Holds {
		case device.HoldsPart:
			who += " (" + status.OfBytes(h.Bytes, f.Size) + ")"
		case device.HoldsNone:
			who += " (none)"
		case device.HoldsUnknown:
			who += " (unknown)"
		}
		holders = append(holders, who)
	}
	held := "held by: no node configured, no device nearby connected"
	if len(holders) > 0 {
		held = "held by: " + strings.Join(holders, ", ")
	}
	fmt.Fprintf(w, "  file %s\t%s\t%s\there: %s%s; %s\n", f.ID[:12], clip(name, 30), f.State, here, kept, held)
}

// printPeer is one peer's line of an object's status: "  device phone
// lacks our latest changes (its word of 12:04:05)  last seen 12:06:10
// 2 changes (710 B) to send".
func printPeer(w io.Writer, p device.PeerStatus) {
	kind, name := "device", p.Name
	if p.Node {
		kind = "node"
	}
	if name == "" {
		name = "…" + p.Peer[max(0, len(p.Peer)-8):]
	}
	held := "lacks our latest changes"
	switch {
	case p.HasMine:
		held = "holds our latest changes"
	case p.Holds == device.HoldsUnknown:
		held = "not known to hold our latest changes"
	}
	if !p.Since.IsZero() {
		if p.HasMine {
			held += " since " + when(p.Since)
		} else {
			held += " (its word of " + when(p.Since) + ")"
		}
	}
	pending := fmt.Sprintf("%d to send", p.Outgoing)
	switch {
	case p.Holds == device.HoldsUnknown && !p.Connected:
		pending = "" // what it lacks is not known either
	case p.Outgoing > 0:
		pending = fmt.Sprintf("%s (%s) to send", changesText(p.Outgoing), bytesText(p.OutgoingBytes))
	}
	switch {
	case p.IncomingCount > 0 && p.Total > 0:
		pending += fmt.Sprintf(", %d to receive (%d of %d changes here)", p.IncomingCount, p.Have, p.Total)
	case p.IncomingCount > 0:
		pending += fmt.Sprintf(", %d to receive", p.IncomingCount)
	case p.Incoming:
		pending += ", has changes for us"
	}
	if p.Failure != "" {
		pending += "; " + p.Failure
	}
	pending = strings.TrimPrefix(pending, ", ")
	fmt.Fprintf(w, "  %s %s\t%s\t%s\t%s\n", kind, name, held, seenText(p.Connected, p.LastSeen), pending)
}

// pendingText is a peer's line of the vault's: what it lacks, what it
// has for us, why it fails.
func pendingText(changes int, bytes int64, forUs int, failure string) string {
	var parts []string
	if changes > 0 {
		parts = append(parts, fmt.Sprintf("%s (%s) to send", changesText(changes), bytesText(bytes)))
	}
	if forUs > 0 {
		parts = append(parts, fmt.Sprintf("has changes of %d pages for us", forUs))
	}
	if failure != "" {
		parts = append(parts, failure)
	}
	return strings.Join(parts, "; ")
}

func changesText(n int) string {
	if n == 1 {
		return "1 change"
	}
	return fmt.Sprintf("%d changes", n)
}

// seenText is "connected", or when the peer was last seen.
func seenText(connected bool, seen time.Time) string {
	switch {
	case connected:
		return "connected"
	case seen.IsZero():
		return "never seen"
	}
	return "last seen " + when(seen)
}

// when is a time as status shows it: 15:04:05 today, else with the date.
func when(t time.Time) string {
	t = t.Local()
	if y, m, d := t.Date(); y == time.Now().Year() && m == time.Now().Month() && d == time.Now().Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}

// bytesText is a size: "710 B", "1.2 MB".
func bytesText(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	s := status.OfBytes(n, n) // "1.2 of 1.2 MB"
	return s[strings.LastIndex(s, " of ")+4:]
}
