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
	"mycel/internal/store/fts"
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
	Cursor   string    `json:"cursor,omitempty"` // search: --after this for the results after
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
	var after string
	cmd := &cobra.Command{
		Use:   "search QUERY",
		Short: "Full-text search over titles, text and tags",
		Long: `Find objects by the words of their title and text, or by their tags. Matching
ignores case and accents; objects in the bin are left out. The best matches
come first (bm25: a rarer word counts more, and so does a word that stands
often in a short text).

  garden tom       every word, in the title or the text; the last one, of two
                   letters or more, may be the start of a word (tomato)
  "south wall"     a phrase: these words in a row
  tag:home         objects tagged home: in the tags detail (mycel set ID tags
                   "home, food") or as #home in the text; tag:home also finds
                   home/garden
  -basil           leaves out the objects that have the word; -"a phrase"
                   and -tag:NAME too (put the query after --, see below)
  東京  🌱         Chinese, Japanese and Korean words are found inside a
                   sentence without spaces, and emoji are words

Anything else is text: AND, OR, NOT, NEAR, *, : and parentheses are words or
punctuation, and a quote left open is a phrase to the end.

Results come a page at a time: --limit N shows the best N (0: all), and when
more follow, the last line is the command for the next page, with --after
and the cursor the page ended with (with --json, each result has its cursor).

  mycel search garden tom
  mycel search '"south wall" tag:home'
  mycel search -- garden -basil
  mycel search --limit 10 tomato
  mycel search --limit 10 --after AQC_… tomato`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return errors.New("--limit must be a positive number of results (0: all)")
			}
			query := strings.Join(args, " ")
			if _, err := fts.Parse(query); err != nil { // before opening the vault
				return fmt.Errorf("search: %w", err)
			}
			return a.withVault(func(e *vault.Engine) error {
				page, err := e.Search(cmd.Context(), query, vault.SearchOptions{Limit: limit, After: after})
				var bad *vault.SearchError
				if after != "" && errors.As(err, &bad) {
					return fmt.Errorf("--after: %w", err)
				}
				if err != nil {
					return err
				}
				out := []objectJSON{}
				for _, h := range page.Hits {
					o := toJSON(h.Object, h.Match)
					o.Cursor = h.Cursor
					out = append(out, o)
				}
				return a.emit(out, func(w io.Writer) {
					switch {
					case len(out) == 0 && after != "":
						fmt.Fprintln(w, "No more results.")
					case len(out) == 0:
						fmt.Fprintln(w, "Nothing found.")
					}
					for _, o := range out {
						fmt.Fprintf(w, "%s  %s\n    %s\n", o.ID[:12], o.Title, clip(o.Match, 100))
					}
					if page.More {
						fmt.Fprintf(w, "More: mycel search --limit %d --after %s %s\n", limit, out[len(out)-1].Cursor, shellQuery(query))
					}
				})
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "show at most this many results (0: all)")
	cmd.Flags().StringVar(&after, "after", "", "continue after this cursor (the one a page of results ends with)")
	return cmd
}

// shellQuery writes a query for a shell to give back as one argument, after
// -- when it starts with a dash (which would be read as a flag).
func shellQuery(q string) string {
	s := "'" + strings.ReplaceAll(q, "'", `'\''`) + "'"
	if strings.HasPrefix(q, "-") {
		s = "-- " + s
	}
	return s
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
