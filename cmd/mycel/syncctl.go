package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"mycel/internal/change"
	"mycel/internal/vault"
)

func (a *app) syncCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Choose with whom this device syncs, and which pages it keeps to itself",
		Long: `Control this device's sync. Both settings are this device's alone (a phone may
sync on the local network only while the laptop uses the backup node), kept in
its data folder, and take effect at once in a running 'mycel up'.

  mycel sync                 show the mode and the pages kept off sync
  mycel sync mode MODE       all | lan-only | node-only | local-only
  mycel sync off ID...       keep pages to this device
  mycel sync on ID...        share them again`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error { return a.printSync(cmd.Context(), e) })
		},
	}
	cmd.AddCommand(a.syncModeCmd(), a.syncPagesCmd(true), a.syncPagesCmd(false))
	return cmd
}

func (a *app) syncModeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "mode [all|lan-only|node-only|local-only]",
		Short: "Set with whom this device syncs (without MODE: show it)",
		Long: `Set with whom this device syncs:

  all         the backup nodes and the vault's devices directly (the default)
  lan-only    the vault's devices directly (same network, --peer), never a node
  node-only   the backup nodes only: no device directly, not announced on the LAN
  local-only  nothing: every edit stays on this device until the mode changes

Nothing is lost in any mode: what is not sent now is sent when the mode allows.
A running 'mycel up' takes the new mode at once: it drops the connections the
mode no longer allows and makes those it allows again. Its --lan-only flag
narrows the mode for that run (no node, whatever the mode); 'mycel status'
shows the mode in force.`,
		Example: `  mycel sync mode lan-only    on a trip: sync with the laptop only
  mycel sync mode all         back to everything`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				ctx := cmd.Context()
				if len(args) == 1 {
					m, err := vault.ParseSyncMode(args[0])
					if err != nil {
						return err
					}
					if err := e.SetSyncMode(ctx, m); err != nil {
						return err
					}
				}
				return a.printSync(ctx, e)
			})
		},
	}
}

func (a *app) syncPagesCmd(off bool) *cobra.Command {
	use, short, long := "on ID...", "Share pages kept off sync again (their whole history goes out)",
		`Share pages again that 'mycel sync off' kept to this device: their whole history
goes to the backup nodes and devices this device syncs with, as any page's.`
	if off {
		use, short, long = "off ID...", "Keep pages to this device: their changes and files go nowhere",
			`Keep pages to this device: their changes and files go to no backup node and no
device, and reconciliation does not name them, so a node or a device that never
had a page learns nothing of it, not even its id. Their status is 'Not syncing'
(sync is off for this page). Edits on other devices no longer come in either,
until 'mycel sync on ID'.

Turning sync off does not take back what already left: a page synced before
stays on the other devices as it was then, and on the backup nodes unless
--from-nodes asks them to remove it. A node removes it once it has checked
that this device, a member of the vault, signed the request; from then on it
refuses the page's changes from every device (another device that still
syncs the page shows it 'Not syncing', with the reason), until 'mycel sync
on ID' here, which asks the nodes to take it back and uploads its history.
The request is sent by the running 'mycel up', now and to each node as it
connects. To keep a new page to this device from its first change, create it
with 'mycel new --sync-off'.`
	}
	var fromNodes bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				ctx := cmd.Context()
				ids, err := resolveAll(ctx, e, args)
				if err != nil {
					return err
				}
				if err := e.SetSyncOff(ctx, ids, off); err != nil {
					return err
				}
				// Taken back: a node that removed it lets it in again.
				if fromNodes || !off {
					if err := e.RemoveFromNodes(ctx, ids, !off); err != nil {
						return err
					}
				}
				return a.printSync(ctx, e)
			})
		},
	}
	if off {
		cmd.Flags().BoolVar(&fromNodes, "from-nodes", false, "also ask the backup nodes to remove the pages from their stores (and to refuse them from any device until 'mycel sync on')")
	}
	return cmd
}

// printSync shows this device's sync mode and the pages it keeps off sync.
func (a *app) printSync(ctx context.Context, e *vault.Engine) error {
	mode, err := e.SyncMode(ctx)
	if err != nil {
		return err
	}
	ids, err := e.SyncOffList(ctx)
	if err != nil {
		return err
	}
	type page struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	pages := []page{}
	for _, id := range ids {
		title := ""
		if o, err := e.Get(ctx, id); err == nil {
			title = o.Title()
		}
		pages = append(pages, page{id.String(), title})
	}
	rs, err := e.NodeRemovals(ctx)
	if err != nil {
		return err
	}
	nodes, err := e.Nodes(ctx)
	if err != nil {
		return err
	}
	type removal struct {
		ID      string   `json:"id"`
		Restore bool     `json:"restore"`
		Done    []string `json:"done_by"`
	}
	removals := []removal{}
	for _, id := range slices.SortedFunc(maps.Keys(rs), func(x, y change.ID) int { return bytes.Compare(x[:], y[:]) }) {
		r := rs[id]
		removals = append(removals, removal{id.String(), r.Restore, append([]string{}, r.Done...)})
	}
	return a.emit(map[string]any{"mode": mode, "sync_off": pages, "node_requests": removals}, func(w io.Writer) {
		defer func() {
			for _, r := range removals {
				what := "removed from the backup nodes"
				if r.Restore {
					what = "taken back by the backup nodes"
				}
				fmt.Fprintf(w, "  %s  to be %s: done by %d of %d\n", r.ID[:12], what, len(r.Done), len(nodes))
			}
		}()
		fmt.Fprintf(w, "Sync mode: %s (%s)\n", mode, describeMode(mode))
		if len(pages) == 0 {
			fmt.Fprintln(w, "Every page syncs.")
			return
		}
		fmt.Fprintf(w, "Kept to this device (sync off): %d\n", len(pages))
		for _, p := range pages {
			fmt.Fprintf(w, "  %s  %s\n", p.ID[:12], p.Title)
		}
	})
}

func describeMode(m vault.SyncMode) string {
	var with []string
	if m.Nodes() {
		with = append(with, "backup nodes")
	}
	if m.Devices() {
		with = append(with, "devices directly")
	}
	if len(with) == 0 {
		return "syncs with nothing"
	}
	return "syncs with " + strings.Join(with, " and ")
}

// resolveAll resolves id arguments (whole ids or their first characters).
func resolveAll(ctx context.Context, e *vault.Engine, args []string) ([]change.ID, error) {
	var ids []change.ID
	for _, arg := range args {
		id, err := e.Resolve(ctx, arg)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
