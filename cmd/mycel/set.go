package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"mycel/internal/change"
	"mycel/internal/crdt"
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
			key, value := strings.TrimSpace(args[1]), args[2]
			if key == "" || strings.ContainsAny(key, ":\n") {
				return fmt.Errorf("%q is not a detail name (no colons or newlines)", args[1])
			}
			if key == "title" && strings.TrimSpace(value) == "" {
				return fmt.Errorf("an object needs a title")
			}
			if key == "archived" {
				return fmt.Errorf("use 'mycel archive' or 'mycel unarchive'")
			}
			return a.setDetail(cmd, args[0], key, value)
		},
	}
}

func (a *app) setDetail(cmd *cobra.Command, arg, key, value string) error {
	return a.withObject(cmd, arg, func(e *vault.Engine, id change.ID) error {
		changed, err := e.Edit(cmd.Context(), id, func(tx *crdt.Tx) error {
			if cur, ok := tx.Details()[key]; ok && cur == value {
				return nil
			}
			if value == "" {
				tx.UnsetDetail(key)
			} else {
				tx.SetDetail(key, value)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return a.reportChange(id, changed)
	})
}

func (a *app) archiveCmd(archive bool) *cobra.Command {
	use, short, value := "archive ID", "Archive an object (hidden from ls; nothing is deleted)", "true"
	if !archive {
		use, short, value = "unarchive ID", "Bring an archived object back", ""
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return a.setDetail(cmd, args[0], "archived", value) },
	}
}
