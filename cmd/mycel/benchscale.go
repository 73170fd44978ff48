package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/bench"
)

func (a *app) benchScaleCmd() *cobra.Command {
	var objects, perObject, runs, huge int
	var keep string
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Measure a large vault: its initial sync, and everyday commands on it",
		Long: `In a temporary folder, build a vault of --objects objects of --changes-per-object
changes each on a backup node (signed and sealed as a device writes them), sync
it to a fresh device over loopback, then time this executable's commands on
that device as people run them, each its own process (start and store open
included), the median of --runs:

  show ID, status ID, search WORD, append ID, ls --limit 50, ls, status,
  then, with the node and 'mycel up' running, status --peers, status ID
  --peers and status (what the running device computes), and 'mycel up'
  from its start until its local API serves.

Beside the sync it prints the two limits measured in the same run: the same
bytes copied over loopback TCP, and every signature verified on every core.

  mycel bench scale --objects 100000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := atLeastOne(cmd, "objects", "changes-per-object", "runs"); err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			dir := keep
			if dir == "" {
				if dir, err = os.MkdirTemp("", "mycel-bench-scale-"); err != nil {
					return err
				}
				defer os.RemoveAll(dir)
			} else if err := emptyFolder(dir); err != nil {
				return fmt.Errorf("--keep: %w", err)
			}
			r, err := bench.Scale(cmd.Context(), exe, dir, objects, perObject, runs, huge, func(s string) { fmt.Fprintln(a.stderr, s) })
			if err != nil {
				return err
			}
			s := r.Sync
			cmds := map[string]float64{}
			for _, c := range r.Commands {
				cmds[c.Name] = ms(c.Median)
			}
			out := map[string]any{"objects": s.Objects, "changes": s.Changes, "bytes": s.Bytes,
				"initial_sync_ms": ms(s.Wall), "tcp_copy_ms": ms(s.TCPCopy), "verify_all_ms": ms(s.VerifyAll),
				"node_peak_rss_bytes": s.NodeRSS, "device_peak_rss_bytes": s.DeviceRSS,
				"commands_ms": cmds, "runs": runs}
			if h := r.Huge; h != nil {
				out["huge_object"] = map[string]any{"changes": h.Changes, "bytes": h.Bytes, "initial_sync_ms": ms(h.Wall),
					"tcp_copy_ms": ms(h.TCPCopy), "verify_all_ms": ms(h.VerifyAll),
					"node_peak_rss_bytes": h.NodeRSS, "device_peak_rss_bytes": h.DeviceRSS}
			}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "vault: %d objects, %d changes, %.1f MB\n", s.Objects, s.Changes, float64(s.Bytes)/(1<<20))
				printSync(w, "initial sync node → fresh device", s)
				fmt.Fprintf(w, "commands (median of %d, each its own process):\n", runs)
				for _, c := range r.Commands {
					fmt.Fprintf(w, "  %-28s %8.1f ms\n", c.Name, ms(c.Median))
				}
				if h := r.Huge; h != nil {
					fmt.Fprintf(w, "one object of %d changes, %.1f MB\n", h.Changes, float64(h.Bytes)/(1<<20))
					printSync(w, "initial sync node → fresh device", *h)
				}
			})
		},
	}
	cmd.Flags().IntVar(&objects, "objects", 10000, "objects in the vault")
	cmd.Flags().IntVar(&perObject, "changes-per-object", 20, "changes per object (root included)")
	cmd.Flags().IntVar(&huge, "huge-object", 0, "also sync one object of this many changes (1000000: what the issue's target is measured on)")
	cmd.Flags().IntVar(&runs, "runs", 5, "runs of each command (the median is printed)")
	cmd.Flags().StringVar(&keep, "keep", "", "build in this empty folder and keep it (the synced device is DIR/b, the node DIR/node)")
	return cmd
}

// printSync prints an initial sync beside its limits, and the peak memory
// of the node and the device.
func printSync(w io.Writer, what string, s bench.InitialSyncResult) {
	limit := max(s.TCPCopy, s.VerifyAll)
	fmt.Fprintf(w, "%s: %s, %.1f× the larger limit (loopback copy %s, every signature verified on all cores %s)\n", what,
		s.Wall.Round(time.Millisecond), float64(s.Wall)/float64(limit), s.TCPCopy.Round(time.Millisecond), s.VerifyAll.Round(time.Millisecond))
	fmt.Fprintf(w, "  peak memory (RSS): node %.0f MB, device %.0f MB\n", float64(s.NodeRSS)/(1<<20), float64(s.DeviceRSS)/(1<<20))
}

// emptyFolder makes dir if it is not there; one holding anything is
// refused, so that nothing is built over a user's data.
func emptyFolder(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return errors.New(dir + " is not empty: give an empty or new folder")
	}
	return nil
}
