package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/vault"
)

func (a *app) devicesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "devices",
		Short: "List the devices of this vault",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				ds, err := e.Devices(cmd.Context())
				if err != nil {
					return err
				}
				type deviceJSON struct {
					Key     string    `json:"key"`
					Name    string    `json:"name"`
					Added   time.Time `json:"added"`
					Removed bool      `json:"removed"`
					This    bool      `json:"this_device"`
				}
				out := []deviceJSON{}
				for _, d := range ds {
					out = append(out, deviceJSON{fmt.Sprintf("%x", d.Key), d.Name, d.Added, d.Removed, d.This})
				}
				return a.emit(map[string]any{"vault_id": fmt.Sprintf("%x", e.VaultID()), "devices": out}, func(w io.Writer) {
					fmt.Fprintf(w, "Vault %s\n\n", e.VaultID().Short())
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "DEVICE\tKEY\tADDED\t")
					for _, d := range out {
						mark := ""
						if d.This {
							mark = "(this device)"
						}
						if d.Removed {
							mark = "(removed)"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, d.Key[:12], d.Added.Local().Format("2006-01-02 15:04"), mark)
					}
					tw.Flush()
				})
			})
		},
	}
}
