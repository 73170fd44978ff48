package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/vault"

	"mycel/internal/store"
)

type objectJSON struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Type     string    `json:"type"`
	Archived bool      `json:"archived"`
	Deleted  bool      `json:"in_bin,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Snippet  string    `json:"snippet"`
	Changes  int       `json:"changes"`
	Match    string    `json:"match,omitempty"`
}

func toJSON(o store.Object, match string) objectJSON {
	return objectJSON{ID: o.ID.String(), Title: o.Title, Type: o.Type, Archived: o.Archived, Deleted: o.Deleted, Created: o.Created,
		Updated: o.Updated, Snippet: o.Snippet, Changes: o.Changes, Match: match}
}

func (a *app) lsCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List objects, most recently updated first",
		Long:  "List objects, most recently updated first. Archived objects are left out unless --all; objects in the bin are in 'mycel bin'.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				objs, err := e.List(cmd.Context(), vault.ListOptions{Archived: all})
				if err != nil {
					return err
				}
				return a.printObjects(objs, `No objects yet. Create one: mycel new --title "My page" --text "Hello"`)
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include archived objects")
	return cmd
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func (a *app) searchCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Full-text search over titles and text",
		Long: `Find objects whose title or text contains every word of QUERY (the last word
may be the start of a word). Matching ignores case and accents. Objects in the
bin are left out.

  mycel search garden tom`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				hits, err := e.Search(cmd.Context(), strings.Join(args, " "), limit)
				if err != nil {
					return err
				}
				out := []objectJSON{}
				for _, h := range hits {
					out = append(out, toJSON(h.Object, h.Match))
				}
				return a.emit(out, func(w io.Writer) {
					if len(out) == 0 {
						fmt.Fprintln(w, "Nothing found.")
						return
					}
					for _, o := range out {
						fmt.Fprintf(w, "%s  %s\n    %s\n", o.ID[:12], o.Title, clip(o.Match, 100))
					}
				})
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "most results to show")
	return cmd
}

// printObjects prints index rows as a table (or JSON), with empty said
// when there are none.
func (a *app) printObjects(objs []store.Object, empty string) error {
	out := []objectJSON{}
	for _, o := range objs {
		out = append(out, toJSON(o, ""))
	}
	return a.emit(out, func(w io.Writer) {
		if len(out) == 0 {
			fmt.Fprintln(w, empty)
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTITLE\tTYPE\tUPDATED\tSNIPPET")
		for _, o := range out {
			title := o.Title
			if o.Archived {
				title += " (archived)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.ID[:12], clip(title, 40), o.Type, o.Updated.Local().Format("2006-01-02 15:04"), clip(o.Snippet, 50))
		}
		tw.Flush()
	})
}
