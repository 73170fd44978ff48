package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/change"
	"mycel/internal/diff"
	"mycel/internal/markdown"
	"mycel/internal/vault"
)

func (a *app) historyCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "history ID [--all]",
		Short: "List the versions of an object (or, with --all, every change)",
		Long: `List the versions of an object, oldest first. Every command that changes it
starts a version (so each can be undone with 'mycel restore'); edits by one
device coming in a row are one version until a 5-minute pause. "merged" marks a
version where edits made at the same time on different devices (or on an older
version) came together. Use the numbers with 'show --at', 'diff' and 'restore'.

--all lists every change instead, with its id: 'show --at', 'diff' and
'restore' take a change id (its first 6 or more characters) as well.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				names := e.DeviceNames(cmd.Context())
				if all {
					return a.printSteps(cmd.Context(), e, id, names)
				}
				vs, err := e.History(cmd.Context(), id)
				if err != nil {
					return err
				}
				type versionJSON struct {
					Version int       `json:"version"`
					Device  string    `json:"device"`
					Start   time.Time `json:"start"`
					End     time.Time `json:"end"`
					Changes int       `json:"changes"`
					Merged  bool      `json:"merged"`
				}
				out := []versionJSON{}
				for _, v := range vs {
					out = append(out, versionJSON{v.N, names[string(v.Author)], v.Start, v.End, v.Changes, v.Merged})
				}
				return a.emit(out, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "VERSION\tDEVICE\tFROM\tTO\tCHANGES\t")
					for _, v := range out {
						merged := ""
						if v.Merged {
							merged = "merged"
						}
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", v.Version, v.Device, v.Start.Local().Format("2006-01-02 15:04:05"),
							v.End.Local().Format("15:04:05"), v.Changes, merged)
					}
					tw.Flush()
				})
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "list every change, not versions")
	return cmd
}

func (a *app) printSteps(ctx context.Context, e *vault.Engine, id change.ID, names map[string]string) error {
	steps, err := e.Steps(ctx, id)
	if err != nil {
		return err
	}
	type stepJSON struct {
		N       int       `json:"n"`
		Change  string    `json:"change"`
		Version int       `json:"version,omitempty"`
		Device  string    `json:"device"`
		Time    time.Time `json:"time"`
		Parents int       `json:"parents"`
		Size    int       `json:"size"`
		Note    string    `json:"note,omitempty"`
	}
	out := []stepJSON{}
	for _, s := range steps {
		m := s.Meta
		note := ""
		switch {
		case m.ID == m.Object:
			note = "created"
		case m.Snapshot:
			note = "snapshot"
		case m.Inert:
			note = "not part of the page (its device key was used by two copies)"
		case m.NewVersion:
			note = "starts a version"
		}
		out = append(out, stepJSON{s.N, m.ID.String(), s.Version, names[string(m.Author)], m.Time, len(m.Parents), m.Size, note})
	}
	return a.emit(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "N\tCHANGE\tVERSION\tDEVICE\tTIME\tBYTES\t")
		for _, s := range out {
			v := ""
			if s.Version > 0 {
				v = strconv.Itoa(s.Version)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", s.N, s.Change[:12], v, s.Device, s.Time.Local().Format("2006-01-02 15:04:05"), s.Size, s.Note)
		}
		tw.Flush()
	})
}

func (a *app) diffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff ID V1 V2",
		Short: "Show what changed between two versions",
		Long:  "Show, as a unified diff of the Markdown, what changed from V1 to V2 (version numbers from 'mycel history', or change ids from 'mycel history --all').",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				var docs [2]string
				var points [2]vault.Point
				for i, s := range args[1:] {
					p, err := e.ParsePoint(cmd.Context(), id, s)
					if err != nil {
						return err
					}
					d, err := e.At(cmd.Context(), id, p)
					if err != nil {
						return err
					}
					points[i] = p
					docs[i] = markdown.RenderDocument(d.Details(), markdown.Meta{}, d.Blocks())
				}
				text := unified(docs[0], docs[1], points[0].String(), points[1].String())
				return a.emit(map[string]any{"id": id.String(), "from": args[1], "to": args[2], "diff": text}, func(w io.Writer) {
					if text == "" {
						fmt.Fprintln(w, "No differences.")
					}
					fmt.Fprint(w, text)
				})
			})
		},
	}
}

// unified renders a line diff with three lines of context around changes.
func unified(a, b, nameA, nameB string) string {
	lines := diff.Text(a, b)
	changed := false
	for _, l := range lines {
		changed = changed || l.Op != ' '
	}
	if !changed {
		return ""
	}
	const ctx = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	for i := 0; i < len(lines); {
		if lines[i].Op == ' ' {
			i++
			continue
		}
		start := max(0, i-ctx)
		end := i
		for end < len(lines) {
			if lines[end].Op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(lines) && lines[run].Op == ' ' {
				run++
			}
			if run-end > 2*ctx || run == len(lines) {
				end = min(end+ctx, len(lines))
				break
			}
			end = run
		}
		out.WriteString("@@\n")
		for _, l := range lines[start:end] {
			t := l.Text
			if !strings.HasSuffix(t, "\n") {
				t += "\n\\ No newline at end\n"
			}
			out.WriteString(string(l.Op) + t)
		}
		i = end
	}
	return out.String()
}

func (a *app) restoreCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "restore ID VERSION",
		Short: "Bring an object back to how it was at a version",
		Long: `Make the object look as it did at VERSION: a number from 'mycel history', or a
change id from 'mycel history --all' (any change, not only a version's last).
This writes new changes on top; no history is lost, and the restore can itself
be undone by restoring the version before it.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				p, err := e.ParsePoint(cmd.Context(), id, args[1])
				if err != nil {
					return err
				}
				r, err := e.Restore(cmd.Context(), id, p)
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"id": id.String(), "version": args[1], "changed": r.Changed}, func(w io.Writer) {
					if r.Changed {
						fmt.Fprintf(w, "Restored %s to %s.\n", id.Short(), p)
					} else {
						fmt.Fprintf(w, "%s already looks as it did at %s.\n", id.Short(), p)
					}
				})
			})
		},
	}
}
