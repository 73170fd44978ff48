package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/bench"
	"mycel/internal/reconcile"
	"mycel/internal/trace"
)

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure mycel on this machine",
	}
	var pipeline bool
	traceCmd := &cobra.Command{
		Use:   "trace FILE",
		Short: "Replay an editing trace and print timings",
		Long: `Replay an editing trace (gzipped JSON, as in shared/data/traces) through the merge
engine and print edits, wall time, operations per second, memory and whether the
final text is right. For a concurrent trace it also times a fresh replica loading
the merged object.

With --pipeline, write a sequential trace through the whole engine into a
temporary vault instead: one change per second of trace time (or per 10 edits
when the trace's times are synthetic), each signed, sealed and stored in its own
transaction; then time opening the final object.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := trace.Load(args[0])
			if err != nil {
				return err
			}
			if pipeline {
				dir, err := os.MkdirTemp("", "mycel-bench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				r, err := bench.Pipeline(cmd.Context(), t, dir, func(done, total int) {
					fmt.Fprintf(a.stderr, "\r%d/%d changes", done, total)
				})
				fmt.Fprint(a.stderr, "\r")
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"edits": r.Edits, "changes": r.Changes, "grouped_by_time": r.ByTime, "wall_ms": ms(r.Wall),
					"changes_per_s": r.ChangesPerSec(), "db_bytes": r.DBBytes, "open_ms": ms(r.Open), "correct": r.Correct}, func(w io.Writer) {
					grouping := "one per second of trace time"
					if !r.ByTime {
						grouping = fmt.Sprintf("one per %d edits (the trace's times are synthetic)", bench.EditsPerChange)
					}
					fmt.Fprintf(w, "edits        %d\nchanges      %d (%s)\nwall time    %s\nchanges/s    %.0f\ndatabase     %.1f MB\nopen object  %s\nfinal text   %s\n",
						r.Edits, r.Changes, grouping, r.Wall.Round(time.Millisecond), r.ChangesPerSec(), float64(r.DBBytes)/(1<<20),
						r.Open.Round(time.Microsecond*100), okText(r.Correct))
				})
			}
			r, err := bench.Merge(t)
			if err != nil {
				return err
			}
			return a.emit(map[string]any{"edits": r.Edits, "wall_ms": ms(r.Wall), "ops_per_s": r.OpsPerSec(), "heap_bytes": r.HeapBytes,
				"peak_rss_bytes": bench.PeakRSS(), "load_ms": ms(r.Load), "correct": r.Correct}, func(w io.Writer) {
				fmt.Fprintf(w, "edits        %d\nwall time    %s\nops/s        %.0f\ndocument     %.1f MB heap\npeak RSS     %.1f MB\n",
					r.Edits, r.Wall.Round(time.Microsecond*100), r.OpsPerSec(), float64(r.HeapBytes)/(1<<20), float64(bench.PeakRSS())/(1<<20))
				if t.Concurrent() {
					fmt.Fprintf(w, "fresh load   %s (all changes, random causal order)\n", r.Load.Round(time.Microsecond*100))
				}
				fmt.Fprintf(w, "final text   %s\n", okText(r.Correct))
			})
		},
	}
	traceCmd.Flags().BoolVar(&pipeline, "pipeline", false, "write through signing, sealing and the store")
	cmd.AddCommand(traceCmd, a.benchReconcileCmd())
	return cmd
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func okText(ok bool) string {
	if ok {
		return "matches endContent"
	}
	return "WRONG: differs from endContent"
}

func (a *app) benchReconcileCmd() *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Measure set reconciliation between two peers",
		Long: `Reconcile two sets of N objects (object id → hash of heads) that differ in
d = 1, 100 and 1,000 objects, in memory, and print the round trips and bytes
each way. The peers' sync protocol runs this on connect and periodically.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1000 {
				return fmt.Errorf("--n must be at least 1000 (the largest d measured)")
			}
			var out []map[string]any
			for _, d := range []int{1, 100, 1000} {
				start := time.Now()
				r, err := reconcile.Measure(n, d, uint64(d))
				wall := time.Since(start)
				if err != nil {
					return err
				}
				if !r.Correct {
					return fmt.Errorf("reconciliation of n=%d, d=%d missed differences", n, d)
				}
				out = append(out, map[string]any{"n": n, "d": d, "differing_ids": r.Differing, "round_trips": r.RoundTrips,
					"bytes_initiator_to_responder": r.BytesAtoB, "bytes_responder_to_initiator": r.BytesBtoA, "wall_ms": ms(wall)})
			}
			return a.emit(out, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "n\td\tdiffering ids\tround trips\tbytes →\tbytes ←\tbytes per differing id\twall (incl. building both sets)\t")
				for _, r := range out {
					total := r["bytes_initiator_to_responder"].(int) + r["bytes_responder_to_initiator"].(int)
					fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.0f ms\t\n", r["n"], r["d"], r["differing_ids"], r["round_trips"],
						r["bytes_initiator_to_responder"], r["bytes_responder_to_initiator"], float64(total)/float64(r["differing_ids"].(int)), r["wall_ms"])
				}
				tw.Flush()
			})
		},
	}
	cmd.Flags().IntVar(&n, "n", 100000, "objects on each side (at least 1,000)")
	return cmd
}
