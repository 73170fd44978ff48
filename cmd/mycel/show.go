package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"mycel/internal/api"
	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/vault"
)

// linksJSON is what an object links to and what links to it.
func (a *app) linksJSON(ctx context.Context, e *vault.Engine, id change.ID, blocks []*crdt.Block) (links, backlinks []map[string]any, err error) {
	states, err := e.LinkStates(ctx, blocks)
	if err != nil {
		return nil, nil, err
	}
	links = []map[string]any{}
	for _, l := range states {
		links = append(links, map[string]any{"id": l.ID.String(), "title": l.Title, "missing": l.Missing, "in_bin": l.InBin})
	}
	rows, err := e.Backlinks(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	backlinks = []map[string]any{}
	for _, r := range rows {
		backlinks = append(backlinks, map[string]any{"id": r.ID.String(), "title": r.Title})
	}
	return links, backlinks, nil
}

// showLinks tells, on stderr, what links to an object and which of its
// links lead nowhere on this device.
func (a *app) showLinks(ctx context.Context, e *vault.Engine, id change.ID, blocks []*crdt.Block) error {
	states, err := e.LinkStates(ctx, blocks)
	if err != nil {
		return err
	}
	for _, l := range states {
		switch {
		case l.Missing:
			fmt.Fprintf(a.stderr, "mycel: a link leads to %s, which is not on this device (not synced here yet, or never was)\n", l.ID.Short())
		case l.InBin:
			fmt.Fprintf(a.stderr, "mycel: a link leads to %q (%s), which is in the bin\n", l.Title, l.ID.Short())
		}
	}
	rows, err := e.Backlinks(ctx, id)
	if err != nil || len(rows) == 0 {
		return err
	}
	var names []string
	for _, r := range rows {
		names = append(names, fmt.Sprintf("%q (%s)", r.Title, r.ID.Short()[:8]))
	}
	fmt.Fprintf(a.stderr, "mycel: linked from %s\n", strings.Join(names, ", "))
	return nil
}

// kept lists the blocks kept although a device deleted them (an edit made
// at the same time on another device kept them).
func kept(bs []*crdt.Block) []string {
	var out []string
	for _, b := range bs {
		if b.Kept {
			out = append(out, clip(b.Text, 40))
		}
		out = append(out, kept(b.Children)...)
	}
	return out
}

func (a *app) showCmd() *cobra.Command {
	var at string
	var format string
	cmd := &cobra.Command{
		Use:   "show ID [--at VERSION] [--format markdown|json]",
		Short: "Print an object",
		Long: `Print an object as Markdown (details, id and heads as front matter, then the
blocks) or as JSON. The heads name the version shown: 'mycel write' of the file,
edited, is based on that version and keeps whatever changed since.

--at shows it as it was at a version listed by 'mycel history' (or a change
listed by 'mycel history --all').`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.asJSON {
				format = "json"
			}
			if format != "markdown" && format != "json" {
				return fmt.Errorf("--format is markdown or json, not %q", format)
			}
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				if at != "" {
					p, err := e.ParsePoint(cmd.Context(), id, at)
					if err != nil {
						return err
					}
					doc, err := e.At(cmd.Context(), id, p)
					if err != nil {
						return err
					}
					if format == "json" {
						a.asJSON = true
						return a.emit(map[string]any{"id": id.String(), "details": doc.Details(), "blocks": api.Blocks(doc.Blocks()), "at": at}, nil)
					}
					fmt.Fprint(a.stdout, markdown.RenderDocument(doc.Details(), markdown.Meta{}, doc.Blocks()))
					return nil
				}
				o, err := e.Get(cmd.Context(), id)
				if err != nil {
					return err
				}
				downloading := a.downloading(cmd.Context(), id)
				blocks := o.Doc.Blocks()
				keptBlocks := kept(blocks)
				if format == "json" {
					a.asJSON = true
					heads := []string{}
					for _, h := range o.Heads {
						heads = append(heads, h.String())
					}
					links, backlinks, err := a.linksJSON(cmd.Context(), e, id, blocks)
					if err != nil {
						return err
					}
					return a.emit(map[string]any{"id": id.String(), "heads": heads, "details": o.Details, "blocks": api.Blocks(blocks),
						"links": links, "backlinks": backlinks,
						"incomplete": o.Parked+o.Damaged > 0 || downloading != "", "waiting_changes": o.Parked, "damaged_changes": o.Damaged,
						"downloading": downloading, "in_bin": o.Details["deleted"] == "true", "kept_blocks": len(keptBlocks)}, nil)
				}
				switch {
				case downloading != "":
					fmt.Fprintf(a.stderr, "mycel: %s is incomplete (%s); this is what has arrived so far\n", id.Short(), downloading)
				case o.Damaged > 0:
					fmt.Fprintf(a.stderr, "mycel: %s is incomplete: %d changes were found damaged on this device and are being fetched again from your other devices or the backup node\n", id.Short(), o.Damaged)
				case o.Parked > 0:
					fmt.Fprintf(a.stderr, "mycel: %s is incomplete: %d changes are waiting for earlier ones to arrive\n", id.Short(), o.Parked)
				}
				if o.Details["deleted"] == "true" {
					fmt.Fprintf(a.stderr, "mycel: %s is in the bin ('mycel rm --undo %s' takes it out)\n", id.Short(), id.Short()[:8])
				}
				if len(keptBlocks) > 0 {
					fmt.Fprintf(a.stderr, "mycel: %d blocks deleted on one device were kept, because they were edited at the same time on another (%q…); delete them again to remove them\n", len(keptBlocks), keptBlocks[0])
				}
				fmt.Fprint(a.stdout, o.Markdown())
				return a.showLinks(cmd.Context(), e, id, blocks)
			})
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "version to show (a number from mycel history, or a change id)")
	cmd.Flags().StringVar(&format, "format", "markdown", "markdown or json")
	return cmd
}

// downloading asks the running device, if any, whether changes of object id
// are still being downloaded, and says how far along ("" when not).
func (a *app) downloading(ctx context.Context, id change.ID) string {
	r, err := a.fetchStatus(ctx, "?object="+id.String())
	if err != nil {
		return ""
	}
	for _, o := range r.Objects {
		if o.ID != id.String() {
			continue
		}
		for _, p := range o.Peers {
			switch {
			case !p.Incoming:
			case strings.HasPrefix(o.Reason, "downloading"):
				return o.Reason // with how far along, when known
			case p.IncomingCount > 0:
				return fmt.Sprintf("%d changes still to download", p.IncomingCount)
			default:
				return "changes still to download"
			}
		}
	}
	return ""
}

func (a *app) backlinksCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backlinks ID",
		Short: "List the pages that link to a page",
		Long: `List the pages that link to page ID (by a mention, a link or an embed), most
recently updated first. Links are by id: renaming either page breaks none. Pages
in the bin are left out.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				rows, err := e.Backlinks(cmd.Context(), id)
				if err != nil {
					return err
				}
				list := []map[string]any{}
				for _, r := range rows {
					list = append(list, map[string]any{"id": r.ID.String(), "title": r.Title, "updated": r.Updated})
				}
				return a.emit(map[string]any{"id": id.String(), "backlinks": list}, func(w io.Writer) {
					if len(rows) == 0 {
						fmt.Fprintln(w, "Nothing links here.")
					}
					for _, r := range rows {
						fmt.Fprintf(w, "%s  %s\n", r.ID.Short(), r.Title)
					}
				})
			})
		},
	}
}
