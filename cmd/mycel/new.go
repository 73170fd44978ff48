package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"mycel/internal/vault"
)

func (a *app) newCmd() *cobra.Command {
	var title, typ, file, text string
	var syncOff bool
	cmd := &cobra.Command{
		Use:   "new --title TITLE [--text TEXT | --file FILE.md]",
		Short: "Create an object and print its id",
		Long: `Create an object (a page) with a title and, optionally, content as Markdown,
from --text or from a file (- for standard input). A file's front matter
(title:, type:, tags: between --- lines) sets details too; flags win over it.

  mycel new --title "Groceries" --text "- [ ] milk"
  mycel new --title "Notes" --file notes.md
  mycel new --title "Diary" --sync-off      kept to this device from the start`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file != "" && text != "" {
				return fmt.Errorf("give --text or --file, not both")
			}
			md := text
			if file != "" {
				var err error
				if md, err = a.readInput(file); err != nil {
					return err
				}
			} else if md != "" {
				md = "\n" + md // --text is content, never front matter
			}
			details := map[string]string{}
			if title != "" {
				details["title"] = title
			}
			if cmd.Flags().Changed("type") {
				details["type"] = typ
			}
			return a.withVault(func(e *vault.Engine) error {
				id, err := e.CreateMarkdownPage(cmd.Context(), md, vault.NewPage{Details: details, SyncOff: syncOff})
				if err != nil {
					if title == "" {
						return fmt.Errorf("%w: add --title TITLE", err)
					}
					return err
				}
				return a.emit(map[string]string{"id": id.String()}, func(w io.Writer) { fmt.Fprintln(w, id) })
			})
		},
	}
	cmd.Flags().StringVar(&title, "title", "", "title of the object")
	cmd.Flags().StringVar(&typ, "type", "page", "type of the object")
	cmd.Flags().StringVar(&file, "file", "", "Markdown file with the content (- for standard input)")
	cmd.Flags().StringVar(&text, "text", "", "content as Markdown")
	cmd.Flags().BoolVar(&syncOff, "sync-off", false, "keep the page to this device from its first change (see 'mycel sync off')")
	return cmd
}
