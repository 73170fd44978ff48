package main

import (
	"errors"
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
	var limit int
	var after string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List objects, most recently updated first",
		Long: `List objects, most recently updated first. Archived objects are left out unless
--all; objects in the bin are in 'mycel bin'.

A large vault is listed a page at a time: --limit N shows the first N, and
--after ID the ones after that object (the last id of the page before):

  mycel ls --limit 50
  mycel ls --limit 50 --after 3f2a9c1e`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return errors.New("--limit must be a positive number of objects (0: all)")
			}
			return a.withVault(func(e *vault.Engine) error {
				opt := vault.ListOptions{Archived: all, Limit: limit}
				if after != "" {
					id, err := e.Resolve(cmd.Context(), after)
					if err != nil {
						return fmt.Errorf("--after: %w", err)
					}
					opt.After = id
				}
				objs, err := e.List(cmd.Context(), opt)
				if err != nil {
					return err
				}
				empty := `No objects yet. Create one: mycel new --title "My page" --text "Hello"`
				if after != "" {
					empty = "No more objects after " + after + "."
				}
				return a.printObjects(objs, empty)
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include archived objects")
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most this many objects (0: all)")
	cmd.Flags().StringVar(&after, "after", "", "continue after this object (an id or its prefix, as ls prints)")
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
