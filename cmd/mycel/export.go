package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"mycel/internal/change"
	"mycel/internal/vault"
)

func (a *app) exportCmd() *cobra.Command {
	var format string
	var ids []string
	cmd := &cobra.Command{
		Use:   "export DIR [--format json] [--ids ID,…]",
		Short: "Export objects to a new folder, losslessly as JSON",
		Long: `Export every object (or those given with --ids) into DIR, a new or empty folder:
one ID.json per object with all its details and blocks (ids included), and a
manifest. 'mycel import DIR' reads it back, here or in another vault, without
duplicating what it imported before. (Markdown export is not built yet.)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "json" {
				return fmt.Errorf("--format %q: only json is built so far (Markdown export is to come)", format)
			}
			return a.withVault(func(e *vault.Engine) error {
				var want []change.ID
				for _, s := range ids {
					id, err := e.Resolve(cmd.Context(), s)
					if err != nil {
						return err
					}
					want = append(want, id)
				}
				n, err := e.ExportJSON(cmd.Context(), args[0], want)
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"objects": n, "dir": args[0], "format": format}, func(w io.Writer) {
					fmt.Fprintf(w, "Exported %d objects to %s.\n", n, args[0])
				})
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "json", "json (lossless, re-importable)")
	cmd.Flags().StringSliceVar(&ids, "ids", nil, "objects to export (ids or unique prefixes; default: all)")
	return cmd
}

func (a *app) importCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import DIR",
		Short: "Import a mycel JSON export",
		Long: `Import a folder written by 'mycel export': objects of this vault are brought to
the exported state, objects imported before are updated rather than duplicated,
and the rest become new objects, with links between them kept. (Importing
folders of Markdown files is not built yet.)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				r, err := e.ImportJSON(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if r.Created+r.Updated+r.Unchanged == 0 {
					return errors.New("the export holds no objects")
				}
				return a.emit(r, func(w io.Writer) {
					fmt.Fprintf(w, "Imported from %s: %d new objects, %d updated, %d already as exported.\n", args[0], r.Created, r.Updated, r.Unchanged)
				})
			})
		},
	}
	return cmd
}
