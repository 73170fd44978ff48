package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/api"
	"mycel/internal/vault"
)

func (a *app) devicesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the devices of this vault",
		Long: `List the devices of this vault: each one's name and key, which is this
device, when it was added, when this device last heard from it (its last
message over the local network, or the arrival of a change it made, through
a node), and, while 'mycel up' runs, whether it is connected now and how
(LAN: directly, on the local network).

Last seen is kept in this device's store, so it shows while 'mycel up' is
not running too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				rows, err := a.deviceRows(cmd.Context(), e)
				if err != nil {
					return err
				}
				type deviceJSON struct {
					Key          string     `json:"key"`
					Name         string     `json:"name"`
					Added        time.Time  `json:"added"`
					Removed      bool       `json:"removed"`
					This         bool       `json:"this_device"`
					LastSeen     *time.Time `json:"last_seen"`
					Connected    bool       `json:"connected"`
					ConnectedVia string     `json:"connected_via"`
				}
				out := []deviceJSON{}
				for _, d := range rows {
					j := deviceJSON{d.Key, d.Name, d.Added, d.Removed, d.This, nil, d.Connected, d.ConnectedVia}
					if !d.LastSeen.IsZero() {
						t := d.LastSeen
						j.LastSeen = &t
					}
					out = append(out, j)
				}
				return a.emit(map[string]any{"vault_id": fmt.Sprintf("%x", e.VaultID()), "devices": out}, func(w io.Writer) {
					fmt.Fprintf(w, "Vault %s\n\n", e.VaultID().Short())
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "DEVICE\tKEY\tADDED\tLAST SEEN\tCONNECTED\t")
					for _, d := range out {
						mark := ""
						if d.This {
							mark = "(this device)"
						}
						if d.Removed {
							mark = "(removed)"
						}
						seen, conn := "never", "no"
						switch {
						case d.This:
							seen, conn = "-", "-"
						case d.LastSeen != nil:
							seen = d.LastSeen.Local().Format("2006-01-02 15:04:05")
						}
						if d.ConnectedVia == "lan" {
							conn = "LAN"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.Key[:12], d.Added.Local().Format("2006-01-02 15:04"), seen, conn, mark)
					}
					tw.Flush()
				})
			})
		},
	}
	cmd.AddCommand(a.devicesRenameCmd())
	return cmd
}

// deviceRows lists the devices: from the running device when 'mycel up'
// runs (it knows who is connected, and last seen up to now), else from the
// store.
func (a *app) deviceRows(ctx context.Context, e *vault.Engine) ([]api.DeviceRow, error) {
	if deviceRunning(a.data) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://mycel/v1/devices", nil)
		if resp, err := api.Client(a.data, 5*time.Second).Do(req); err == nil {
			defer resp.Body.Close()
			var rows []api.DeviceRow
			if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&rows) == nil {
				return rows, nil
			}
		}
	}
	return api.DeviceRows(ctx, e, nil)
}

func (a *app) devicesRenameCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rename DEVICE NAME",
		Short: "Rename a device of this vault (any device, offline too)",
		Long: fmt.Sprintf(`Rename a device of this vault: this one or any other, whether or not it
is running or reachable.

DEVICE is the device's current name, its key as 'mycel devices' prints it,
or a prefix of the key that only one device's key starts with (a name is
matched before a prefix; a whole key always wins). NAME is at
most %d bytes, without control characters; spaces around it are dropped.

It works offline: the new name is a record signed with the vault's account
key, written to this device's store, and it reaches the other devices and
the nodes at the next sync (at once, to those connected to a running
'mycel up').

If two devices rename the same device before they sync, every device ends
with the same name: the rename made at the later time wins (by the clock
of the device that made it; at the same millisecond, the record whose hash
is greater). A rename is always dated after the name it replaces, so it
takes effect here even if this device's clock is behind.`, vault.MaxDeviceName),
		Example: `  mycel devices rename phone "old phone"
  mycel devices rename 3fa1c2 "work laptop"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				d, err := e.RenameDevice(cmd.Context(), args[0], args[1])
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"key": fmt.Sprintf("%x", d.Key), "name": d.Name, "this_device": d.This}, func(w io.Writer) {
					fmt.Fprintf(w, "Device %x is now named %q\n", d.Key[:6], d.Name)
				})
			})
		},
	}
}
