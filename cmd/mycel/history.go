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
	return &cobra.Command{
		Use:   "history ID",
		Short: "List the versions of an object",
		Long: `List the versions of an object, oldest first. A version is a run of edits by one
device, ending after 5 minutes without edits; a restore starts a new one.
Use the numbers with 'show --at', 'diff' and 'restore'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				vs, err := e.History(cmd.Context(), id)
				if err != nil {
					return err
				}
				names := deviceNames(cmd.Context(), e)
				type versionJSON struct {
					Version int       `json:"version"`
					Device  string    `json:"device"`
					Start   time.Time `json:"start"`
					End     time.Time `json:"end"`
					Changes int       `json:"changes"`
				}
				out := []versionJSON{}
				for _, v := range vs {
					out = append(out, versionJSON{v.N, names[string(v.Author)], v.Start, v.End, v.Changes})
				}
				return a.emit(out, func(w io.Writer) {
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "VERSION\tDEVICE\tFROM\tTO\tCHANGES")
					for _, v := range out {
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\n", v.Version, v.Device, v.Start.Local().Format("2006-01-02 15:04:05"),
							v.End.Local().Format("15:04:05"), v.Changes)
					}
					tw.Flush()
				})
			})
		},
	}
}

func deviceNames(ctx context.Context, e *vault.Engine) map[string]string {
	names := map[string]string{}
	if ds, err := e.Devices(ctx); err == nil {
		for _, d := range ds {
			names[string(d.Key)] = d.Name
		}
	}
	return names
}

func parseVersion(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a version number (see mycel history)", s)
	}
	return n, nil
}

func (a *app) diffCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diff ID V1 V2",
		Short: "Show what changed between two versions",
		Long:  "Show, as a unified diff of the Markdown, what changed from version V1 to version V2.",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			v1, err := parseVersion(args[1])
			if err != nil {
				return err
			}
			v2, err := parseVersion(args[2])
			if err != nil {
				return err
			}
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				var docs [2]string
				for i, v := range []int{v1, v2} {
					d, err := e.At(cmd.Context(), id, v)
					if err != nil {
						return err
					}
					docs[i] = markdown.RenderDocument(d.Details(), d.Blocks())
				}
				text := unified(docs[0], docs[1], fmt.Sprintf("version %d", v1), fmt.Sprintf("version %d", v2))
				return a.emit(map[string]any{"id": id.String(), "from": v1, "to": v2, "diff": text}, func(w io.Writer) {
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
	la, lb := strings.SplitAfter(a, "\n"), strings.SplitAfter(b, "\n")
	es := diff.Diff(la, lb)
	if len(es) == 0 || (len(es) == 1 && es[0].Kind == diff.Equal) {
		return ""
	}
	type line struct {
		op   byte
		text string
	}
	var lines []line
	for _, e := range es {
		for i := 0; i < e.N; i++ {
			switch e.Kind {
			case diff.Equal:
				lines = append(lines, line{' ', la[e.A+i]})
			case diff.Delete:
				lines = append(lines, line{'-', la[e.A+i]})
			case diff.Insert:
				lines = append(lines, line{'+', lb[e.B+i]})
			}
		}
	}
	const ctx = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	for i := 0; i < len(lines); {
		if lines[i].op == ' ' {
			i++
			continue
		}
		start := max(0, i-ctx)
		end := i
		for end < len(lines) {
			if lines[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(lines) && lines[run].op == ' ' {
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
			t := l.text
			if !strings.HasSuffix(t, "\n") {
				t += "\n\\ No newline at end\n"
			}
			out.WriteString(string(l.op) + t)
		}
		i = end
	}
	return out.String()
}

func (a *app) restoreCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "restore ID VERSION",
		Short: "Bring an object back to how it was at a version",
		Long: `Make the object look as it did at VERSION (see mycel history). This writes new
changes on top; no history is lost, and the restore can itself be undone by
restoring the version before it.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseVersion(args[1])
			if err != nil {
				return err
			}
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				changed, err := e.Restore(cmd.Context(), id, v)
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"id": id.String(), "version": v, "changed": changed}, func(w io.Writer) {
					if changed {
						fmt.Fprintf(w, "Restored %s to version %d.\n", id.Short(), v)
					} else {
						fmt.Fprintf(w, "%s already looks as it did at version %d.\n", id.Short(), v)
					}
				})
			})
		},
	}
}
