package main

import (
	"fmt"
	"io"

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
			return a.withVault(func(e *vault.Engine) error {
				r, err := e.Check(cmd.Context(), repair)
				if err != nil {
					return err
				}
				left := 0
				var problems []map[string]any
				for _, p := range r.Problems {
					if !(repair && p.Repairable && r.Repaired > 0) {
						left++
					}
					problems = append(problems, map[string]any{"object": p.Object.String(), "kind": p.Kind, "detail": p.Detail, "repairable": p.Repairable})
				}
				err = a.emit(map[string]any{"objects": r.Objects, "changes": r.Changes, "problems": problems, "repaired": r.Repaired, "remaining": left}, func(w io.Writer) {
					fmt.Fprintf(w, "Checked %d objects, %d changes: ", r.Objects, r.Changes)
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
					damaged := len(r.Problems) - repairable
					switch {
					case r.Repaired > 0:
						fmt.Fprintf(w, "Rebuilt the index, search text and heads of %d objects from their changes.\n", r.Repaired)
					case repairable > 0:
						fmt.Fprintf(w, "%d of them 'mycel check --repair' rebuilds from the changes.\n", repairable)
					}
					if damaged > 0 {
						fmt.Fprintln(w, "Damaged or missing changes are not rebuilt here: sync with another device or the backup node brings them back.")
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
