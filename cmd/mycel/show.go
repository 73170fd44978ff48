package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/vault"
)

type blockJSON struct {
	ID       string            `json:"id"`
	Type     string            `json:"type"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	Text     string            `json:"text"`
	Children []blockJSON       `json:"children,omitempty"`
}

func blocksJSON(bs []*crdt.Block) []blockJSON {
	out := []blockJSON{}
	for _, b := range bs {
		out = append(out, blockJSON{ID: fmt.Sprintf("%d@%x", b.ID.Counter, b.ID.Actor[:min(4, len(b.ID.Actor))]),
			Type: b.Type, Attrs: b.Attrs, Text: b.Text, Children: blocksJSON(b.Children)})
	}
	return out
}

func (a *app) showCmd() *cobra.Command {
	var at int
	var format string
	cmd := &cobra.Command{
		Use:   "show ID [--at VERSION] [--format markdown|json]",
		Short: "Print an object",
		Long: `Print an object as Markdown (details as front matter, then the blocks) or as
JSON. --at shows it as it was at a version listed by 'mycel history'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.asJSON {
				format = "json"
			}
			if format != "markdown" && format != "json" {
				return fmt.Errorf("--format is markdown or json, not %q", format)
			}
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				var doc *crdt.Doc
				var incomplete int
				if at > 0 {
					var err error
					if doc, err = e.At(cmd.Context(), id, at); err != nil {
						return err
					}
				} else {
					o, err := e.Get(cmd.Context(), id)
					if err != nil {
						return err
					}
					doc, incomplete = o.Doc, o.Parked
				}
				downloading := ""
				if at == 0 {
					downloading = a.downloading(cmd.Context(), id)
				}
				if format == "json" {
					a.asJSON = true
					return a.emit(map[string]any{"id": id.String(), "details": doc.Details(), "blocks": blocksJSON(doc.Blocks()),
						"version": at, "incomplete": incomplete > 0 || downloading != "", "waiting_changes": incomplete,
						"downloading": downloading}, nil)
				}
				if downloading != "" {
					fmt.Fprintf(a.stderr, "mycel: %s is incomplete (%s); this is what has arrived so far\n", id.Short(), downloading)
				} else if incomplete > 0 {
					fmt.Fprintf(a.stderr, "mycel: %s is incomplete: %d changes are waiting for earlier ones to arrive\n", id.Short(), incomplete)
				}
				fmt.Fprint(a.stdout, markdown.RenderDocument(doc.Details(), doc.Blocks()))
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&at, "at", 0, "version to show (see mycel history)")
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
