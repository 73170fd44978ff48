package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/vault"
)

// replaceWith makes the object match a Markdown document: the content
// always, the details when the document has front matter.
func (a *app) replaceWith(cmd *cobra.Command, e *vault.Engine, id change.ID, md string) error {
	details, blocks := markdown.ParseDocument(md)
	changed, err := e.Edit(cmd.Context(), id, func(tx *crdt.Tx) error {
		if details != nil {
			if t, ok := details["title"]; ok && t == "" {
				return fmt.Errorf("the front matter's title is empty; an object needs a title")
			}
			delete(details, "archived") // archive and unarchive do that
			tx.SetDetails(details)
		}
		tx.Replace(blocks)
		return nil
	})
	if err != nil {
		return err
	}
	return a.reportChange(id, changed)
}

func (a *app) reportChange(id change.ID, changed bool) error {
	return a.emit(map[string]any{"id": id.String(), "changed": changed}, func(w io.Writer) {
		if changed {
			fmt.Fprintf(w, "Saved %s.\n", id.Short())
		} else {
			fmt.Fprintln(w, "No changes.")
		}
	})
}

func (a *app) writeCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "write ID --file FILE.md",
		Short: "Replace an object's content with a Markdown file",
		Long: `Replace an object's content with Markdown from a file (- for standard input).
Only what differs is written, as block and character edits, so it merges with
edits made elsewhere at the same time. Front matter, if present, sets the details
it names (an empty value removes one); details it does not name stay.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return fmt.Errorf("give the new content with --file FILE.md (or --file - for standard input)")
			}
			md, err := a.readInput(file)
			if err != nil {
				return err
			}
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error { return a.replaceWith(cmd, e, id, md) })
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "Markdown file (- for standard input)")
	return cmd
}

func (a *app) editCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "edit ID",
		Short: "Edit an object in your $EDITOR",
		Long: `Open the object as Markdown in $VISUAL or $EDITOR (vi if neither is set); when the
editor exits, save what changed, as 'mycel write' does. If the editor fails,
nothing is saved.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				o, err := e.Get(cmd.Context(), id)
				if err != nil {
					return err
				}
				before := markdown.RenderDocument(o.Details, o.Doc.Blocks())
				dir, err := os.MkdirTemp("", "mycel-edit-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				path := filepath.Join(dir, id.Short()+".md")
				if err := os.WriteFile(path, []byte(before), 0o600); err != nil {
					return err
				}
				editor := os.Getenv("VISUAL")
				if editor == "" {
					editor = os.Getenv("EDITOR")
				}
				if editor == "" {
					editor = "vi"
				}
				argv := append(strings.Fields(editor), path)
				ed := exec.CommandContext(cmd.Context(), argv[0], argv[1:]...)
				ed.Stdin, ed.Stdout, ed.Stderr = os.Stdin, a.stderr, a.stderr
				if err := ed.Run(); err != nil {
					return fmt.Errorf("editor %q failed (%v); nothing was saved", editor, err)
				}
				after, err := a.readInput(path)
				if err != nil {
					return err
				}
				if after == before {
					return a.reportChange(id, false)
				}
				return a.replaceWith(cmd, e, id, after)
			})
		},
	}
}

func (a *app) appendCmd() *cobra.Command {
	var text string
	cmd := &cobra.Command{
		Use:   "append ID --text TEXT",
		Short: "Add Markdown at the end of an object",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if text == "" {
				return fmt.Errorf("give what to append with --text")
			}
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				changed, err := e.Edit(cmd.Context(), id, func(tx *crdt.Tx) error {
					tx.AppendBlocks(markdown.Parse(text))
					return nil
				})
				if err != nil {
					return err
				}
				return a.reportChange(id, changed)
			})
		},
	}
	cmd.Flags().StringVar(&text, "text", "", "Markdown to append")
	return cmd
}
