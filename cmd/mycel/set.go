package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"mycel/internal/change"
	"mycel/internal/vault"
)

func (a *app) setCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set ID KEY VALUE",
		Short: "Set a detail of an object (title, type, tags…)",
		Long: `Set a detail of an object: title, type, tags or any key of your own. An empty
VALUE removes the detail (the title cannot be removed).

  mycel set 3fa1 title "Groceries for Sunday"
  mycel set 3fa1 tags "home, food"`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				r, err := e.SetDetail(cmd.Context(), id, args[1], args[2])
				if err != nil {
					return err
				}
				return a.reportEdit(r)
			})
		},
	}
}

func (a *app) archiveCmd(archive bool) *cobra.Command {
	use, short := "archive ID", "Archive an object (hidden from ls; nothing is deleted)"
	if !archive {
		use, short = "unarchive ID", "Bring an archived object back"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

An edit made on another device while it was being archived (before the two
met) brings it back: archiving never hides an edit nobody saw.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				r, err := e.Archive(cmd.Context(), id, archive)
				if err != nil {
					return err
				}
				return a.reportEdit(r)
			})
		},
	}
}

func (a *app) rmCmd() *cobra.Command {
	var undo bool
	cmd := &cobra.Command{
		Use:   "rm ID",
		Short: "Put an object in the bin (or take it out with --undo)",
		Long: `Put an object in the bin: it is hidden from 'mycel ls' and search, and stays in
the bin (and in its history) on every device. 'mycel bin' lists the bin;
'mycel rm --undo ID' takes an object out of it.

An edit made on another device while it was being deleted (before the two met)
takes it out of the bin again: a delete never swallows an edit nobody saw.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				var r vault.Result
				var err error
				if undo {
					r, err = e.Undelete(cmd.Context(), id)
				} else {
					r, err = e.Delete(cmd.Context(), id)
				}
				if err != nil {
					return err
				}
				heads := []string{}
				for _, h := range r.Heads {
					heads = append(heads, h.String())
				}
				return a.emit(map[string]any{"id": id.String(), "changed": r.Changed, "in_bin": !undo, "heads": heads}, func(w io.Writer) {
					switch {
					case !r.Changed && undo:
						fmt.Fprintf(w, "%s is not in the bin.\n", id.Short())
					case !r.Changed:
						fmt.Fprintf(w, "%s is in the bin already.\n", id.Short())
					case undo:
						fmt.Fprintf(w, "Took %s out of the bin.\n", id.Short())
					default:
						fmt.Fprintf(w, "Put %s in the bin; 'mycel rm --undo %s' takes it out.\n", id.Short(), id.Short()[:8])
					}
				})
			})
		},
	}
	cmd.Flags().BoolVar(&undo, "undo", false, "take the object out of the bin")
	return cmd
}

func (a *app) binCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "bin",
		Short: "List the objects in the bin",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				objs, err := e.List(cmd.Context(), vault.ListOptions{Deleted: true})
				if err != nil {
					return err
				}
				return a.printObjects(objs, "The bin is empty.")
			})
		},
	}
}
