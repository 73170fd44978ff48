package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"mycel/internal/change"
	"mycel/internal/markdown"
	"mycel/internal/vault"
)

func (a *app) exportCmd() *cobra.Command {
	var format string
	var ids []string
	cmd := &cobra.Command{
		Use:   "export DIR [--format markdown|obsidian|json] [--ids ID,…]",
		Short: "Export objects to a new folder, as Markdown files or losslessly as JSON",
		Long: `Export every object (or those given with --ids) into DIR, a new or empty folder.

  markdown  one .md file per object (CommonMark with GFM tables, task lists and
            strikethrough), with front matter (id, title, type, tags, created,
            updated, archived) and links between objects as relative links. An
            imported note goes back where it was in its folder; another is named
            after its title (safe, unique, the same from one export to the next);
  obsidian  the same files for Obsidian: links as [[wikilinks]], callouts as
            > [!note], embeds as ![[…]], ==highlights==;
  json      one ID.json per object with all its details and blocks (ids included)
            and a manifest: 'mycel import DIR' reads it back, here or in another
            vault, without duplicating what it imported before.

The pages' files and images go to DIR/files, each once, linked from the pages
(JSON: files/FILE-ID). A file not on this device yet is listed, and its page
keeps its mycel:file/ link.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "json" && format != "markdown" && format != "obsidian" {
				return fmt.Errorf("--format is markdown, obsidian or json, not %q", format)
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
				var r vault.ExportReport
				var err error
				if format == "json" {
					r, err = e.ExportJSONReport(cmd.Context(), args[0], want)
				} else {
					flavor := markdown.Markdown
					if format == "obsidian" {
						flavor = markdown.Obsidian
					}
					r, err = e.ExportMarkdownReport(cmd.Context(), args[0], want, flavor)
				}
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"objects": r.Objects, "files": r.Files, "files_not_exported": r.NotExported, "dir": args[0], "format": format}, func(w io.Writer) {
					fmt.Fprintf(w, "Exported %d objects and %d files to %s.\n", r.Objects, r.Files, args[0])
					if len(r.NotExported) > 0 {
						fmt.Fprintf(w, "Files not exported (%d; the pages link them by their mycel:file/ link):\n", len(r.NotExported))
						for _, s := range r.NotExported {
							fmt.Fprintf(w, "  %s\n", s)
						}
					}
				})
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "markdown", "markdown, obsidian, or json (lossless, re-importable)")
	cmd.Flags().StringSliceVar(&ids, "ids", nil, "objects to export (ids or unique prefixes; default: all)")
	return cmd
}

func (a *app) importCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import DIR",
		Short: "Import a folder of Markdown files, or a mycel JSON export",
		Long: `Import DIR:

  - a folder written by 'mycel export --format json': objects of this vault are
    brought to the exported state, objects imported before are updated rather
    than duplicated, the rest become new objects, links between them kept;
  - any folder of Markdown files (nested folders too, an Obsidian vault say):
    each file becomes an object, titled by its front matter or its name, its
    front matter as details; a line that is only a link to another file of
    the folder ([[Name]], [text](other.md)) becomes a link to that object, and
    its images and attachments (![[img.png|200]], ![](img.png),
    [doc](files/doc.pdf)) become file blocks.

It reports what it could not convert.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				if vault.IsJSONExport(args[0]) {
					r, err := e.ImportJSON(cmd.Context(), args[0])
					if err != nil {
						return err
					}
					if r.Created+r.Updated+r.Unchanged+len(r.Skipped) == 0 {
						return errors.New("the export holds no objects")
					}
					return a.emit(r, func(w io.Writer) {
						fmt.Fprintf(w, "Imported from %s: %d new objects, %d updated, %d already as exported.\n", args[0], r.Created, r.Updated, r.Unchanged)
						if r.Files > 0 {
							fmt.Fprintf(w, "Stored %d of its files.\n", r.Files)
						}
						if len(r.Skipped) > 0 {
							fmt.Fprintf(w, "Left as they are (%d):\n", len(r.Skipped))
							for _, s := range r.Skipped {
								fmt.Fprintf(w, "  %s\n", s)
							}
						}
					})
				}
				if fi, err := os.Stat(args[0]); err != nil || !fi.IsDir() {
					return fmt.Errorf("%s is not a folder to import", args[0])
				}
				r, err := e.ImportMarkdown(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"created": r.Created, "updated": r.Updated, "unchanged": r.Unchanged, "files": r.Files, "not_converted": r.NotConverted}, func(w io.Writer) {
					fmt.Fprintf(w, "Imported Markdown from %s: %d new objects, %d updated, %d unchanged since the last import; %d files.\n", args[0], r.Created, r.Updated, r.Unchanged, r.Files)
					if len(r.NotConverted) > 0 {
						fmt.Fprintf(w, "Not converted (%d):\n", len(r.NotConverted))
						for _, s := range r.NotConverted {
							fmt.Fprintf(w, "  %s\n", s)
						}
					}
				})
			})
		},
	}
	return cmd
}
