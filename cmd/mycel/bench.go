package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/bench"
	"mycel/internal/reconcile"
	"mycel/internal/trace"
)

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure mycel on this machine",
		Long: `Measure mycel on this machine: see each subcommand.

The benchmarks run their node and device as processes of their own ('mycel
node', 'mycel up'). Each writes its CPU profile, for go tool pprof, when it
stops, to the file the environment variable MYCEL_CPUPROFILE names with
.node.N or .up.N added (N counts the processes a benchmark started;
node-load --profile writes its node's to the file it names), and its heap
at its peak to the file MYCEL_HEAPPROFILE names, with .node or .up added.`,
	}
	var pipeline bool
	traceCmd := &cobra.Command{
		Use:   "trace FILE",
		Short: "Replay an editing trace and print timings",
		Long: `Replay an editing trace (gzipped JSON, as in shared/data/traces) through the merge
engine and print edits, wall time, operations per second, memory and whether the
final text is right. For a concurrent trace it also times a fresh replica loading
the merged object from all changes. For every trace it prints the size of the
final document's state (MarshalState, and gzipped) and the time a fresh document
takes to load it and read every block's text (as peerbench's bytes_encoded and
ms_load).

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
				"peak_rss_bytes": bench.PeakRSS(), "load_ms": ms(r.Load), "correct": r.Correct,
				"state_bytes": r.StateBytes, "state_gzip_bytes": r.StateGzipBytes, "state_load_ms": ms(r.StateLoad)}, func(w io.Writer) {
				fmt.Fprintf(w, "edits        %d\nwall time    %s\nops/s        %.0f\ndocument     %.1f MB heap\npeak RSS     %.1f MB\n",
					r.Edits, r.Wall.Round(time.Microsecond*100), r.OpsPerSec(), float64(r.HeapBytes)/(1<<20), float64(bench.PeakRSS())/(1<<20))
				if t.Concurrent() {
					fmt.Fprintf(w, "fresh load   %s (all changes, random causal order)\n", r.Load.Round(time.Microsecond*100))
				}
				fmt.Fprintf(w, "state        %d B, gzipped %d B (MarshalState of the final document)\n", r.StateBytes, r.StateGzipBytes)
				fmt.Fprintf(w, "load state   %s (UnmarshalState, every block's text read; median of %d)\n", r.StateLoad.Round(time.Microsecond*10), bench.StateLoads)
				fmt.Fprintf(w, "final text   %s\n", okText(r.Correct))
			})
		},
	}
	traceCmd.Flags().BoolVar(&pipeline, "pipeline", false, "write through signing, sealing and the store")
	cmd.AddCommand(traceCmd, a.benchReconcileCmd(), a.benchSyncCmd(), a.benchLANCmd(), a.benchBackupCmd(), a.benchEditCmd(), a.benchRichCmd(), a.benchCRDTCmd(), a.benchWebCmd(), a.benchFilesCmd(), a.benchScaleCmd(), a.benchNodeLoadCmd())
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
			out, err := measureReconcile(n)
			if err != nil {
				return err
			}
			return a.emit(out, func(w io.Writer) { printReconcile(w, out) })
		},
	}
	cmd.Flags().IntVar(&n, "n", 100000, "objects on each side (at least 1,000)")
	return cmd
}

// measureReconcile reconciles sets of n objects differing in 1, 100 and
// 1,000 of them.
func measureReconcile(n int) ([]map[string]any, error) {
	var out []map[string]any
	for _, d := range []int{1, 100, 1000} {
		start := time.Now()
		r, err := reconcile.Measure(n, d, uint64(d))
		wall := time.Since(start)
		if err != nil {
			return nil, err
		}
		if !r.Correct {
			return nil, fmt.Errorf("reconciliation of n=%d, d=%d missed differences", n, d)
		}
		out = append(out, map[string]any{"n": n, "d": d, "differing_ids": r.Differing, "round_trips": r.RoundTrips,
			"bytes_initiator_to_responder": r.BytesAtoB, "bytes_responder_to_initiator": r.BytesBtoA, "wall_ms": ms(wall)})
	}
	return out, nil
}

func printReconcile(w io.Writer, out []map[string]any) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "n\td\tdiffering ids\tround trips\tbytes →\tbytes ←\tbytes per differing id\twall (incl. building both sets)\t")
	for _, r := range out {
		total := r["bytes_initiator_to_responder"].(int) + r["bytes_responder_to_initiator"].(int)
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.0f ms\t\n", r["n"], r["d"], r["differing_ids"], r["round_trips"],
			r["bytes_initiator_to_responder"], r["bytes_responder_to_initiator"], float64(total)/float64(r["differing_ids"].(int)), r["wall_ms"])
	}
	tw.Flush()
}

// atLeastOne checks counting flags: a benchmark of nothing measures
// nothing, and an empty list of timings has no percentile.
func atLeastOne(cmd *cobra.Command, flags ...string) error {
	for _, name := range flags {
		if v, err := cmd.Flags().GetInt(name); err != nil || v < 1 {
			return fmt.Errorf("--%s must be at least 1, not %d", name, v)
		}
	}
	return nil
}

func (a *app) benchSyncCmd() *cobra.Command {
	var objects, perObject, edits int
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Measure sync: reconciliation, initial sync through a node, write-to-visible latency",
		Long: `Measure sync on this machine, over loopback, in temporary folders:

  1. reconciliation of 100,000 objects differing in 1, 100 and 1,000 (bytes, round trips);
  2. initial sync of a vault (--objects × --changes-per-object) from a node to a fresh
     device, with the two limits measured in the same run: the same bytes over a raw
     loopback TCP socket, and verifying every change's signature on all cores;
  3. the delay from a write on device A to the change being on device B through the
     node, over --edits edits (p50, p99).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := atLeastOne(cmd, "objects", "changes-per-object", "edits"); err != nil {
				return err
			}
			rec, err := measureReconcile(100000)
			if err != nil {
				return err
			}
			if !a.asJSON { // now, not with the rest: the initial sync takes a while
				printReconcile(a.stdout, rec)
			}
			dir, err := os.MkdirTemp("", "mycel-bench-sync-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			r, err := bench.InitialSync(cmd.Context(), exe, filepath.Join(dir, "initial"), objects, perObject, func(s string) { fmt.Fprintln(a.stderr, s) })
			if err != nil {
				return err
			}
			limit := max(r.TCPCopy, r.VerifyAll)
			ds, err := bench.Latency(cmd.Context(), filepath.Join(dir, "latency"), edits)
			if err != nil {
				return err
			}
			slices.Sort(ds)
			p50, p99 := ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)]
			return a.emit(map[string]any{"reconcile": rec, "objects": r.Objects, "changes": r.Changes, "bytes": r.Bytes, "wall_ms": ms(r.Wall), "mb_per_s": r.MBps(),
				"tcp_copy_ms": ms(r.TCPCopy), "verify_all_ms": ms(r.VerifyAll),
				"node_peak_rss_bytes": r.NodeRSS, "device_peak_rss_bytes": r.DeviceRSS, "times_larger_limit": float64(r.Wall) / float64(limit),
				"latency_edits": len(ds), "latency_p50_ms": ms(p50), "latency_p99_ms": ms(p99)}, func(w io.Writer) {
				fmt.Fprintf(w, "\ninitial sync   %d objects, %d changes, %.1f MB in %s (%.1f MB/s)\n", r.Objects, r.Changes, float64(r.Bytes)/(1<<20), r.Wall.Round(time.Millisecond), r.MBps())
				fmt.Fprintf(w, "  limits       raw loopback TCP copy %s; verifying every signature on %d cores %s\n", r.TCPCopy.Round(time.Microsecond*100), runtime.NumCPU(), r.VerifyAll.Round(time.Millisecond))
				fmt.Fprintf(w, "  ratio        %.1f× the larger limit\n", float64(r.Wall)/float64(limit))
				fmt.Fprintf(w, "  peak memory  node %.0f MB, device %.0f MB (RSS)\n", float64(r.NodeRSS)/(1<<20), float64(r.DeviceRSS)/(1<<20))
				fmt.Fprintf(w, "latency A→B    over %d edits: p50 %s, p99 %s\n", len(ds), p50.Round(time.Microsecond*100), p99.Round(time.Microsecond*100))
			})
		},
	}
	cmd.Flags().IntVar(&objects, "objects", 10000, "objects in the vault synced")
	cmd.Flags().IntVar(&perObject, "changes-per-object", 20, "changes per object (root included)")
	cmd.Flags().IntVar(&edits, "edits", 200, "edits timed for latency")
	return cmd
}

func (a *app) benchLANCmd() *cobra.Command {
	var edits int
	cmd := &cobra.Command{
		Use:   "lan",
		Short: "Measure devices syncing directly: time to the first object, write-to-visible latency",
		Long: `Measure two devices of one vault syncing directly, with no node, over loopback
(peers given by address: loopback has no multicast for mDNS), in temporary folders:

  1. from the moment the second device starts to it holding the first device's object
     (dial, handshake, reconciliation, transfer);
  2. the delay from a write on device A to the change being on device B, over --edits
     edits (p50, p99).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := atLeastOne(cmd, "edits"); err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "mycel-bench-lan-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			first, ds, err := bench.Direct(cmd.Context(), dir, edits)
			if err != nil {
				return err
			}
			slices.Sort(ds)
			p50, p99 := ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)]
			return a.emit(map[string]any{"first_object_ms": ms(first), "latency_edits": len(ds), "latency_p50_ms": ms(p50), "latency_p99_ms": ms(p99)}, func(w io.Writer) {
				fmt.Fprintf(w, "device start → first object synced  %s\n", first.Round(time.Microsecond*100))
				fmt.Fprintf(w, "latency A→B directly, %d edits     p50 %s, p99 %s\n", len(ds), p50.Round(time.Microsecond*100), p99.Round(time.Microsecond*100))
			})
		},
	}
	cmd.Flags().IntVar(&edits, "edits", 200, "edits timed for latency")
	return cmd
}

func (a *app) benchBackupCmd() *cobra.Command {
	var objects, perObject int
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Measure a backup and the exports of a vault of --objects objects",
		Long: `Fill a device's store, in a temporary folder, with --objects objects of
--changes-per-object changes each, then time 'mycel backup' of it (its size next
to the live store's) and 'mycel export' as Markdown and as JSON.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := atLeastOne(cmd, "objects", "changes-per-object"); err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "mycel-bench-backup-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			r, err := bench.Backup(cmd.Context(), dir, objects, perObject, func(s string) { fmt.Fprintln(a.stderr, s) })
			if err != nil {
				return err
			}
			return a.emit(map[string]any{"objects": r.Objects, "changes": r.Changes, "backup_ms": ms(r.Wall), "backup_bytes": r.Bytes, "store_bytes": r.StoreSize,
				"export_markdown_ms": ms(r.Markdown), "export_markdown_bytes": r.MarkdownSize, "export_json_ms": ms(r.JSON), "export_json_bytes": r.JSONSize}, func(w io.Writer) {
				mb := func(n int64) float64 { return float64(n) / (1 << 20) }
				fmt.Fprintf(w, "backup of %d objects, %d changes: %s, %.1f MB (the live store: %.1f MB)\n", r.Objects, r.Changes,
					r.Wall.Round(time.Millisecond), mb(r.Bytes), mb(r.StoreSize))
				fmt.Fprintf(w, "export as Markdown: %s, %.1f MB; as JSON: %s, %.1f MB\n", r.Markdown.Round(time.Millisecond), mb(r.MarkdownSize),
					r.JSON.Round(time.Millisecond), mb(r.JSONSize))
			})
		},
	}
	cmd.Flags().IntVar(&objects, "objects", 10000, "objects in the vault")
	cmd.Flags().IntVar(&perObject, "changes-per-object", 20, "changes per object (root included)")
	return cmd
}

func (a *app) benchEditCmd() *cobra.Command {
	var blocks, megabytes []int
	var changes, runs int
	cmd := &cobra.Command{
		Use:   "edit",
		Short: "Measure edits of large pages and opening a long history",
		Long: `In a temporary folder, time (medians of --runs):

  - writing back a page of N blocks with one paragraph changed (--blocks), the
    whole of 'mycel write': Markdown parsed, diffed, sealed, stored, indexed;
  - writing M megabytes of Markdown into a new page (--megabytes);
  - opening an object of --changes changes, cold, on the device that made them
    and on one that only received them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := atLeastOne(cmd, "runs"); err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "mycel-bench-edit-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			r, err := bench.Edit(cmd.Context(), dir, blocks, megabytes, changes, runs, func(s string) { fmt.Fprintln(a.stderr, s) })
			if err != nil {
				return err
			}
			one, write := map[string]float64{}, map[string]float64{}
			for n, d := range r.OneBlock {
				one[strconv.Itoa(n)] = ms(d)
			}
			for n, d := range r.Write {
				write[strconv.Itoa(n)] = ms(d)
			}
			return a.emit(map[string]any{"one_block_edit_ms": one, "write_ms": write, "open_changes": r.OpenChanges,
				"open_author_ms": ms(r.OpenAuthor), "open_receiver_ms": ms(r.OpenPeer)}, func(w io.Writer) {
				for _, n := range blocks {
					fmt.Fprintf(w, "one-block edit of a %d-block page: %.1f ms\n", n, ms(r.OneBlock[n]))
				}
				for _, n := range megabytes {
					fmt.Fprintf(w, "write %d MB of Markdown: %.0f ms\n", n, ms(r.Write[n]))
				}
				if r.OpenChanges > 0 {
					fmt.Fprintf(w, "open an object of %d changes: author %.1f ms, a device that received them %.1f ms (%.2f×)\n", r.OpenChanges,
						ms(r.OpenAuthor), ms(r.OpenPeer), float64(r.OpenPeer)/float64(r.OpenAuthor))
				}
			})
		},
	}
	cmd.Flags().IntSliceVar(&blocks, "blocks", []int{1000, 4000, 10000}, "page sizes in blocks for one-block edits")
	cmd.Flags().IntSliceVar(&megabytes, "megabytes", []int{1, 4}, "sizes of Markdown to write, in MB")
	cmd.Flags().IntVar(&changes, "changes", 10000, "changes of the object opened (0: skip)")
	cmd.Flags().IntVar(&runs, "runs", 9, "runs of each measurement (the median is shown)")
	return cmd
}

func (a *app) benchCRDTCmd() *cobra.Command {
	var reps, n int
	var only []string
	cmd := &cobra.Command{
		Use:   "crdt",
		Short: "Run the crdt-benchmarks scenarios B1–B3 on the merge engine",
		Long: `Run the scenarios B1.1–B3.5 of dmonad/crdt-benchmarks (js-lib/b1.js, b2.js,
b3.js) on the merge engine, in memory, and print for each the median of --reps
runs of its quantities: time (the edits, their delivery to the other replicas,
the check that all agree), encodeTime and docSize (the state, MarshalState),
parseTime (a fresh document loading it, its content read back). Each run checks
the final content as the JS suite does. internal/bench/peers/crdt.mjs runs the
same scenarios on Yjs, Automerge, Loro and diamond-types.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := atLeastOne(cmd, "reps", "n"); err != nil {
				return err
			}
			var rows []map[string]any
			for _, s := range bench.CRDTScenarios() {
				if len(only) > 0 && !slices.Contains(only, s.ID) {
					continue
				}
				var times, encodes, parses []time.Duration
				var size int
				for range reps {
					r, err := s.Run(n)
					if err != nil {
						return err
					}
					times, encodes, parses = append(times, r.Time), append(encodes, r.Encode), append(parses, r.Parse)
					size = r.DocSize
				}
				rows = append(rows, map[string]any{"lib": "mycel", "scenario": s.ID, "title": s.Title, "n": n, "reps": reps,
					"ms_time": ms(median(times)), "ms_encode": ms(median(encodes)), "bytes_doc": size, "ms_parse": ms(median(parses)), "ok": true})
			}
			return a.emit(rows, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "scenario\t\ttime\tencode\tdoc size\tparse\t\n")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%.1f ms\t%.2f ms\t%d B\t%.2f ms\t\n", r["scenario"], r["title"], r["ms_time"], r["ms_encode"], r["bytes_doc"], r["ms_parse"])
				}
				tw.Flush()
				fmt.Fprintf(w, "N = %d (B3: %d clients), median of %d runs\n", n, bench.B3Clients(n), reps)
			})
		},
	}
	cmd.Flags().IntVar(&reps, "reps", 5, "runs of each scenario (the median is shown)")
	cmd.Flags().IntVar(&n, "n", bench.DefaultCRDTN, "the suite's N (B3: 20·⌊√N⌋ clients)")
	cmd.Flags().StringSliceVar(&only, "only", nil, "scenarios to run (B1.1,B2.4,…; default all)")
	return cmd
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func (a *app) benchRichCmd() *cobra.Command {
	var markOps, pageMarks, runs int
	var spec string
	cmd := &cobra.Command{
		Use:   "rich",
		Short: "Measure formatting and rich pages",
		Long: `In a temporary folder, time (medians of --runs):

  - --mark-ops random bold, italic and link marks and unmarks on one block of
    10,000 characters, each a change of its own, then rendering the marks;
  - opening a page of 1,000 paragraphs holding --page-marks marks, cold (a new
    engine: snapshot read, blocks and marks rendered);
  - importing the CommonMark spec's examples as one page and rendering it
    back to Markdown (--spec: the folder of commonmark-spec.json; found in
    ../shared/data/markdown when not given).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := atLeastOne(cmd, "runs"); err != nil {
				return err
			}
			if spec == "" {
				if _, err := os.Stat(filepath.Join("..", "shared", "data", "markdown", "commonmark-spec.json")); err == nil {
					spec = filepath.Join("..", "shared", "data", "markdown")
				}
			}
			dir, err := os.MkdirTemp("", "mycel-bench-rich-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			r, err := bench.Rich(cmd.Context(), dir, spec, markOps, pageMarks, runs)
			if err != nil {
				return err
			}
			return a.emit(map[string]any{"mark_ops": r.MarkOps, "mark_ops_ms": ms(r.Marks), "mark_render_ms": ms(r.MarkRender),
				"page_marks": r.PageMarks, "page_blocks": r.MarkedBlocks, "open_marked_page_ms": ms(r.OpenMarked),
				"spec_bytes": r.SpecBytes, "spec_blocks": r.SpecBlocks, "spec_marks": r.SpecMarkSpan,
				"import_spec_ms": ms(r.ImportSpec), "render_spec_ms": ms(r.RenderSpec)}, func(w io.Writer) {
				fmt.Fprintf(w, "%d mark ops on one block: %.1f ms (render %.2f ms)\n", r.MarkOps, ms(r.Marks), ms(r.MarkRender))
				fmt.Fprintf(w, "open a page of %d blocks with %d marks: %.1f ms\n", r.MarkedBlocks, r.PageMarks, ms(r.OpenMarked))
				if r.SpecBytes > 0 {
					fmt.Fprintf(w, "import the CommonMark spec as one page (%d KB, %d blocks, %d marks): %.1f ms; render it back: %.1f ms\n",
						r.SpecBytes>>10, r.SpecBlocks, r.SpecMarkSpan, ms(r.ImportSpec), ms(r.RenderSpec))
				}
			})
		},
	}
	cmd.Flags().IntVar(&markOps, "mark-ops", 100000, "mark operations to apply")
	cmd.Flags().IntVar(&pageMarks, "page-marks", 10000, "marks on the page opened")
	cmd.Flags().IntVar(&runs, "runs", 5, "runs (medians are reported)")
	cmd.Flags().StringVar(&spec, "spec", "", "folder of commonmark-spec.json")
	return cmd
}
