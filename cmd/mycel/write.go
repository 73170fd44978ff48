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
	"mycel/internal/vault"
)

// reportEdit prints what an edit did.
func (a *app) reportEdit(r vault.Result) error {
	heads := []string{}
	for _, h := range r.Heads {
		heads = append(heads, h.String())
	}
	return a.emit(map[string]any{"id": r.ID.String(), "changed": r.Changed, "merged": r.Merged, "heads": heads}, func(w io.Writer) {
		switch {
		case !r.Changed:
			fmt.Fprintln(w, "No changes.")
		case r.Merged:
			fmt.Fprintf(w, "Saved %s, merged with the changes made to it since the version you edited.\n", r.ID.Short())
		default:
			fmt.Fprintf(w, "Saved %s.\n", r.ID.Short())
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
edits made elsewhere. A file from 'mycel show' or 'mycel export' names the
version it shows (heads: in its front matter): the write is based on that
version, so whatever was changed since, here or on another device, stays. A
file without heads replaces the current version.

Front matter sets the details it names (an empty value removes one); details it
does not name stay. Every write is a version of its own: 'mycel history' lists
it, 'mycel restore' undoes it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return fmt.Errorf("give the new content with --file FILE.md (or --file - for standard input)")
			}
			md, err := a.readInput(file)
			if err != nil {
				return err
			}
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				r, err := e.WriteMarkdown(cmd.Context(), id, md, vault.EditOptions{NewVersion: true})
				if err != nil {
					return err
				}
				return a.reportEdit(r)
			})
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
editor exits, save what changed, as 'mycel write' does. What arrives from other
devices while the editor is open is kept: the edit is based on the version you
opened, and merged with the rest. If the editor fails, nothing is saved.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				o, err := e.Get(cmd.Context(), id)
				if err != nil {
					return err
				}
				before := o.Markdown()
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
					return a.reportEdit(vault.Result{ID: id, Heads: o.Heads})
				}
				r, err := e.WriteMarkdown(cmd.Context(), id, after, vault.EditOptions{Base: o.Heads, NewVersion: true})
				if err != nil {
					return err
				}
				return a.reportEdit(r)
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
				r, err := e.AppendMarkdown(cmd.Context(), id, text)
				if err != nil {
					return err
				}
				return a.reportEdit(r)
			})
		},
	}
	cmd.Flags().StringVar(&text, "text", "", "Markdown to append")
	return cmd
}
