package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/activity"
)

func (a *app) logCmd() *cobra.Command {
	var errorsOnly, follow bool
	var object string
	var limit int
	cmd := &cobra.Command{
		Use:   "log [--errors] [--object ID] [--follow]",
		Short: "Show what sync did: changes sent and received, with whom, refusals, merges, files pinned",
		Long: `Show this device's activity log: what sync did, most recent last. Each line
names the peer (a device by its name, a backup node by its address) and the
object:

  sent / received N changes of PAGE to / from PEER
  refused N changes of PAGE from PEER: the reason
  merged concurrent edits of PAGE by DEVICES
  file FILE of PAGE pinned on NODE (every chunk of it is durable there)
  connected to / disconnected from PEER

The running 'mycel up' writes it (a second's worth at a time, summed per peer
and page); it is kept in the data folder, private to you, and bounded (about
4 MB: the oldest lines go first). It holds ids, device names and counts, never
the content of a page: titles are looked up when it is shown.`,
		Example: `  mycel log                    the last 50 lines
  mycel log --errors           only what failed
  mycel log --object 3f2a -n 0 everything about one page
  mycel log --follow           keep showing new lines, until Ctrl-C`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return errors.New("-n takes a count of lines (0: all of them)")
			}
			e, err := a.open()
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			f := activity.Filter{Errors: errorsOnly}
			if object != "" {
				id, err := e.Resolve(ctx, object)
				if err != nil {
					return err
				}
				f.Object = id.String()
			}
			entries, end, err := activity.Read(a.data, f, limit)
			if err != nil {
				return err
			}
			title := e.TitleLookup(ctx)
			line := func(w io.Writer, en activity.Entry) { fmt.Fprintln(w, activity.Describe(en, title(en.Object))) }
			if !follow {
				if entries == nil {
					entries = []activity.Entry{}
				}
				return a.emit(map[string]any{"entries": entries}, func(w io.Writer) {
					switch {
					case len(entries) == 0 && (f.Errors || f.Object != ""):
						fmt.Fprintln(w, "No line of the log matches.")
					case len(entries) == 0:
						fmt.Fprintln(w, "Nothing logged yet: 'mycel up' logs what sync does while it runs.")
					}
					for _, en := range entries {
						line(w, en)
					}
				})
			}
			show := func(en activity.Entry) {
				if a.asJSON {
					a.emitLine(en)
				} else {
					line(a.stdout, en)
				}
			}
			for _, en := range entries {
				show(en)
			}
			return activity.Follow(ctx, a.data, f, end, 250*time.Millisecond, show)
		},
	}
	cmd.Flags().BoolVar(&errorsOnly, "errors", false, "only what failed (refused changes)")
	cmd.Flags().StringVar(&object, "object", "", "only what concerns this object (id or its first characters)")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep showing new lines as they are written, until Ctrl-C (with --json: one object a line)")
	cmd.Flags().IntVarP(&limit, "lines", "n", 50, "how many of the last lines to show (0: all)")
	return cmd
}
