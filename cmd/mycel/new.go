package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"mycel/internal/vault"

	"mycel/internal/crdt"
	"mycel/internal/markdown"
)

func (a *app) newCmd() *cobra.Command {
	var title, typ, file, text string
	cmd := &cobra.Command{
		Use:   "new --title TITLE [--text TEXT | --file FILE.md]",
		Short: "Create an object and print its id",
		Long: `Create an object (a page) with a title and, optionally, content as Markdown,
from --text or from a file (- for standard input). A file's front matter
(title:, type:, tags: between --- lines) sets details too; flags win over it.

  mycel new --title "Groceries" --text "- [ ] milk"
  mycel new --title "Notes" --file notes.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file != "" && text != "" {
				return fmt.Errorf("give --text or --file, not both")
			}
			details := map[string]string{}
			var blocks []*crdt.Block
			if file != "" {
				md, err := a.readInput(file)
				if err != nil {
					return err
				}
				var fm map[string]string
				fm, blocks = markdown.ParseDocument(md)
				for k, v := range fm {
					details[k] = v
				}
			} else if text != "" {
				blocks = markdown.Parse(text)
			}
			if title != "" {
				details["title"] = title
			}
			if details["title"] == "" {
				return fmt.Errorf("an object needs a title: add --title TITLE")
			}
			details["type"] = typ
			if fm := details["type"]; fm == "" {
				details["type"] = "page"
			}
			return a.withVault(func(e *vault.Engine) error {
				id, err := e.Create(cmd.Context(), details, blocks)
				if err != nil {
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
	return cmd
}
