package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/vault"
)

func (a *app) backupCmd() *cobra.Command {
	var withKey bool
	cmd := &cobra.Command{
		Use:   "backup DEST",
		Short: "Write a consistent copy of this device's store to a new folder",
		Long: `Write a consistent copy of this device's store (every object and its whole
history) to DEST, a new or empty folder, with a manifest (vault, time, counts,
checksum). It works while 'mycel up' runs: the copy is one snapshot of the store,
not a copy of its files.

Without --include-device-key the backup holds only ciphertext: the changes and
the membership log as stored, no key, no title, no search text. Restoring it
needs the recovery phrase, and rebuilds the index. With --include-device-key it
holds the vault's keys and this device's plaintext index too: whoever has it can
read the vault, so keep it safe. Either way a restore is a new device of the
vault (named like this one), never a second copy of this one: two stores writing
with one device key would fork pages.

Restore with 'mycel restore-backup DEST --data NEWDIR'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				start := time.Now()
				m, err := e.Backup(cmd.Context(), args[0], withKey)
				if err != nil {
					return err
				}
				return a.emit(m, func(w io.Writer) {
					fmt.Fprintf(w, "Backed up %d objects, %d changes (%.1f MB) to %s in %s.\n", m.Objects, m.Changes, float64(m.Bytes)/(1<<20), args[0], time.Since(start).Round(time.Millisecond))
					if m.Chunks > 0 || m.ChunksDamaged > 0 {
						fmt.Fprintf(w, "With %d file chunks (%.1f MB, sealed as stored).\n", m.Chunks, float64(m.ChunkBytes)/(1<<20))
					}
					if m.ChunksDamaged > 0 {
						fmt.Fprintf(w, "Left out %d damaged file chunks: 'mycel check' lists them, and sync fetches them again.\n", m.ChunksDamaged)
					}
					if withKey {
						fmt.Fprintln(w, "The backup holds this device's keys: whoever has it can read the vault.")
					} else {
						fmt.Fprintln(w, "The backup holds no keys: restoring it needs the recovery phrase.")
					}
				})
			})
		},
	}
	cmd.Flags().BoolVar(&withKey, "include-device-key", false, "include the vault's keys and the plaintext index (the restore needs no phrase)")
	return cmd
}

func (a *app) restoreBackupCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "restore-backup SRC --data DIR",
		Short: "Restore a backup into a new data folder",
		Long: `Restore the backup in SRC (made by 'mycel backup') into the data folder given
with --data, which must be new or empty: nothing is overwritten. The backup is
checked against its manifest first.

The restore is a new device of the vault, with a key of its own, named like the
device backed up unless --name says otherwise. For a backup without keys the
recovery phrase is read from standard input (or asked for on the terminal), and
the index (titles, search) is rebuilt from the changes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := vault.ReadBackup(args[0])
			if err != nil {
				return err
			}
			phrase := ""
			if !m.IncludeDeviceKey {
				if phrase, err = a.readPhrase(); err != nil {
					return err
				}
			}
			e, err := vault.RestoreBackup(cmd.Context(), args[0], a.data, phrase, name)
			if err != nil {
				return err
			}
			defer e.Close()
			return a.emit(m, func(w io.Writer) {
				fmt.Fprintf(w, "Restored %d objects, %d changes of vault %s (backed up %s) into %s.\n", m.Objects, m.Changes, e.VaultID().Short(), m.Created.Local().Format(time.DateTime), a.data)
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the new device (default: the backed-up device's)")
	return cmd
}
