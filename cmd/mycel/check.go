package main

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"mycel/internal/vault"
)

func (a *app) checkCmd() *cobra.Command {
	var repair bool
	cmd := &cobra.Command{
		Use:   "check [--repair]",
		Short: "Verify the whole store: every change, every history, snapshots, index and search",
		Long: `Verify the whole store, as if every change had just arrived: each change's bytes
hash to its id and carry a valid signature by a device of the vault; no history
has a hole (a change whose parent is missing); each object's heads, snapshots,
index row and search text are what its changes make.

--repair rebuilds index rows, search text and heads from the changes. Damaged or
missing changes cannot be rebuilt here: another device or the backup node has
them, and sync brings them back. The exit code is not 0 while a problem remains.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if repair && deviceRunning(a.data) {
				return errors.New("stop 'mycel up' for this data folder first: repair may give this device a new key")
			}
			return a.withVault(func(e *vault.Engine) error {
				r, err := e.Check(cmd.Context(), repair)
				if err != nil {
					return err
				}
				after := r
				if repair && (r.Repaired > 0 || r.Rekeyed || r.ChunksRemoved > 0) {
					// What is left is what a check finds now.
					if after, err = e.Check(cmd.Context(), false); err != nil {
						return err
					}
				}
				var problems []map[string]any
				for _, p := range r.Problems {
					problems = append(problems, map[string]any{"object": p.Object.String(), "kind": p.Kind, "detail": p.Detail, "repairable": p.Repairable})
				}
				left := len(after.Problems)
				err = a.emit(map[string]any{"objects": r.Objects, "changes": r.Changes, "problems": problems, "repaired": r.Repaired,
					"rekeyed": r.Rekeyed, "rewritten": r.Rewritten, "remaining": left, "files": r.Files, "chunks": r.Chunks,
					"files_incomplete": r.FilesIncomplete, "chunks_removed": r.ChunksRemoved}, func(w io.Writer) {
					fmt.Fprintf(w, "Checked %d objects, %d changes, %d files (%d chunks here): ", r.Objects, r.Changes, r.Files, r.Chunks)
					defer func() {
						if len(r.FilesIncomplete) > 0 {
							fmt.Fprintf(w, "Files not all on this device yet (%d; a running 'mycel up' fetches them):\n", len(r.FilesIncomplete))
							for _, f := range r.FilesIncomplete {
								fmt.Fprintf(w, "  %s\n", f)
							}
						}
					}()
					if len(r.Problems) == 0 {
						fmt.Fprintln(w, "all good.")
						return
					}
					fmt.Fprintf(w, "%d problems.\n", len(r.Problems))
					repairable := 0
					for _, p := range r.Problems {
						fmt.Fprintf(w, "  %s\n", p)
						if p.Repairable {
							repairable++
						}
					}
					switch {
					case r.Repaired > 0 || r.Rekeyed || r.ChunksRemoved > 0:
						if r.Rekeyed {
							fmt.Fprintln(w, "Gave this device a key of its own (another copy of this data folder writes with the old one).")
						}
						if r.Rewritten > 0 {
							fmt.Fprintf(w, "Wrote again the content of %d changes that a copy of this device's key had made overlap.\n", r.Rewritten)
						}
						fmt.Fprintf(w, "Repaired %d objects from their changes.\n", r.Repaired)
						if r.ChunksRemoved > 0 {
							fmt.Fprintf(w, "Removed %d damaged file chunks, for sync to fetch again.\n", r.ChunksRemoved)
						}
					case repairable > 0:
						fmt.Fprintf(w, "%d of them 'mycel check --repair' repairs.\n", repairable)
					}
					if left > 0 {
						fmt.Fprintf(w, "%d problems remain", left)
						if slices.ContainsFunc(after.Problems, func(p vault.Problem) bool { return p.Kind == "damaged" }) {
							fmt.Fprint(w, ": damaged changes come back from another device or the backup node when they sync ('mycel up')")
						}
						fmt.Fprintln(w, ".")
					}
				})
				if err == nil && left > 0 {
					err = fmt.Errorf("%d problems remain", left)
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&repair, "repair", false, "rebuild index rows, search text and heads from the changes")
	return cmd
}
