package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/files"
	"mycel/internal/vault"
)

func (a *app) filesGCCmd() *cobra.Command {
	var dryRun bool
	var grace string
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Remove the file chunks no version of any page needs",
		Long: `Remove from the data folder's chunks/ the chunks that no change of any page names, in
any version: what an interrupted 'files add' or a failed import left. A file taken
out of a page stays, since its history can bring it back. Only chunks older than
the grace period go (a file being added right now is younger).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := parseGrace(grace)
			if err != nil {
				return err
			}
			return a.withVault(func(e *vault.Engine) error {
				r, err := e.CollectChunks(cmd.Context(), g, dryRun)
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"collected": r.Collected, "collected_bytes": r.CollectedBytes, "kept": r.Kept, "young": r.Young, "dry_run": dryRun}, func(w io.Writer) {
					verb := "Removed"
					if dryRun {
						verb = "Would remove"
					}
					fmt.Fprintf(w, "%s %d chunks (%s) no page needs; kept %d", verb, r.Collected, files.Bytes(r.CollectedBytes), r.Kept)
					if r.Young > 0 {
						fmt.Fprintf(w, ", and %d unnamed ones within the grace period", r.Young)
					}
					fmt.Fprintln(w, ".")
				})
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only count what would be removed")
	cmd.Flags().StringVar(&grace, "grace", "7d", "how old an unnamed chunk must be to go (e.g. 7d, 36h)")
	return cmd
}

// parseGrace reads a duration, with days ("7d") besides Go's units.
func parseGrace(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if d, err := strconv.Atoi(n); err == nil && d >= 0 {
			return time.Duration(d) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--grace %q is not a duration (7d, 36h, 90m)", s)
	}
	return d, nil
}
