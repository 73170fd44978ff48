package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"mycel/internal/api"
	"mycel/internal/change"
	"mycel/internal/device"
	"mycel/internal/vault"
)

func (a *app) diagnosticsCmd() *cobra.Command {
	var out string
	var withContent bool
	cmd := &cobra.Command{
		Use:   "diagnostics ID -o FILE [--include-content]",
		Short: "Write a file describing one object, for support, without its content",
		Long: `Write a JSON file describing one object for whoever helps you with a sync
problem: its change graph (ids, parents, author device short ids, Lamport
clocks, times, sizes, snapshots), its heads, what each peer holds of it (when
'mycel up' runs), what 'mycel check' finds wrong with it, and the versions of
mycel and of the store.

Its content is anonymized: every letter and digit replaced by a random one, so
the shape of the text is kept but not what it says. --include-content keeps the
real text. The file never holds keys, the phrase, device names or any other
object's data.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("give the file to write with -o FILE")
			}
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				d, err := e.Diagnose(cmd.Context(), id, withContent)
				if err != nil {
					return err
				}
				d.Peers = a.diagnosticPeers(cmd, id)
				b, err := json.MarshalIndent(d, "", "  ")
				if err != nil {
					return err
				}
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("write diagnostics: %w (give a new file)", err)
				}
				if _, err := f.Write(append(b, '\n')); err != nil {
					f.Close()
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				return a.emit(map[string]any{"id": id.String(), "file": out, "changes": len(d.Changes), "anonymized": d.Anonymized}, func(w io.Writer) {
					fmt.Fprintf(w, "Wrote diagnostics of %s (%d changes) to %s", id.Short(), len(d.Changes), out)
					if d.Anonymized {
						fmt.Fprintln(w, "; its content is anonymized.")
					} else {
						fmt.Fprintln(w, "; it holds the object's real content.")
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write (must not exist)")
	cmd.Flags().BoolVar(&withContent, "include-content", false, "keep the object's real title and text")
	return cmd
}

// diagnosticPeers asks the running device what each peer holds of id; none
// when no device runs. Peers are named by short id only, never by name.
func (a *app) diagnosticPeers(cmd *cobra.Command, id change.ID) []vault.DiagnosticPeer {
	r, err := a.fetchStatus(cmd.Context(), "?object="+id.String())
	if err != nil {
		return nil
	}
	return api.DiagnosticPeers(device.VaultStatus{Objects: r.Objects})
}
