package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/bench"
	"mycel/internal/webdrive"
)

func (a *app) benchWebCmd() *cobra.Command {
	var keystrokes, blocks, runs int
	var gap, typing time.Duration
	var chromium string
	cmd := &cobra.Command{
		Use:   "web",
		Short: "Measure the web app in two headless browsers: keystroke to the other screen, first paint, CPU",
		Long: `Start, in temporary folders and on loopback, a node and two devices of one vault,
each running 'mycel up' with the web app (this executable), and a headless
Chromium logged into each (A and B); then measure:

  1. keystroke in A → painted in B, over --keystrokes keys typed one every --gap
     at the end of a paragraph (p50, p99). A's page stamps each keydown, B's page
     stamps the animation frame after a MutationObserver saw the text grow, with
     the same clock (performance.timeOrigin + performance.now(): both browsers
     run on this machine);
  2. first paint of a page of --blocks paragraphs in A: from the click on its
     row (the app freshly loaded, no page open) to the frame after the last
     block is in the editor, timed in the page; of that, the request of the
     page's blocks (Resource Timing). Median of --runs;
  3. CPU while typing one key every --gap for --typing into that page (open in
     both browsers): each up, the node, and each browser's whole process tree
     (/proc/PID/stat utime+stime), as percent of one core;
  4. the size of the app's script as up serves it, and gzipped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := atLeastOne(cmd, "keystrokes", "blocks", "runs"); err != nil {
				return err
			}
			if chromium == "" {
				var err error
				if chromium, err = webdrive.Find(); err != nil {
					return err
				}
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "mycel-bench-web-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			progress := func(s string) { fmt.Fprintln(a.stderr, s) }
			progress("starting a node, two devices and two browsers")
			rig, err := bench.StartWebRig(cmd.Context(), exe, chromium, dir)
			if err != nil {
				return err
			}
			defer rig.Close()

			if _, err := rig.NewPage("Keystrokes", "Typed here: "); err != nil {
				return err
			}
			progress(fmt.Sprintf("typing %d keys in A, one every %v", keystrokes, gap))
			ds, parts, err := rig.Keystrokes("Keystrokes", keystrokes, gap)
			if err != nil {
				return err
			}
			sorted := slices.Clone(ds)
			slices.Sort(sorted)
			p50, p99 := sorted[len(sorted)/2], sorted[min(len(sorted)-1, len(sorted)*99/100)]
			raw, gz, err := rig.Bundle()
			if err != nil {
				return err
			}

			progress(fmt.Sprintf("making a page of %d blocks", blocks))
			md, last := bench.LongPage(blocks)
			if _, err := rig.NewPage("Long page", md); err != nil {
				return err
			}
			var paints []bench.FirstPaint
			for i := range runs {
				progress(fmt.Sprintf("opening it in A (%d/%d)", i+1, runs))
				p, err := rig.OpenTimed("Long page", last, blocks)
				if err != nil {
					return err
				}
				paints = append(paints, p)
			}
			paint := medianPaint(paints)
			if err := rig.B.OpenPage("Long page"); err != nil {
				return err
			}
			progress(fmt.Sprintf("typing into it for %v, one key every %v", typing, gap))
			cpu, err := rig.TypingCPU(typing, gap)
			if err != nil {
				return err
			}
			return a.emit(map[string]any{"keystrokes": len(ds), "gap_ms": ms(gap), "keystroke_p50_ms": ms(p50), "keystroke_p99_ms": ms(p99),
				"keystroke_max_ms": ms(sorted[len(sorted)-1]), "keystroke_parts_keys": parts.Keys, "keystroke_batch_ms": ms(parts.Batch),
				"keystroke_edit_ms": ms(parts.Edit), "keystroke_sync_ms": ms(parts.Sync), "keystroke_load_ms": ms(parts.Load), "keystroke_show_ms": ms(parts.Show),
				"blocks": blocks, "runs": runs, "first_screen_ms": ms(paint.Screen), "first_paint_ms": ms(paint.Total), "first_paint_wait_ms": ms(paint.Wait), "first_paint_fetch_ms": ms(paint.Fetch), "first_paint_dom_ms": ms(paint.DOM),
				"typing_s": typing.Seconds(), "cpu_up_a_pct": cpu.UpA, "cpu_up_b_pct": cpu.UpB, "cpu_node_pct": cpu.Node,
				"cpu_browser_a_pct": cpu.BrowserA, "cpu_browser_b_pct": cpu.BrowserB,
				"bundle_bytes": raw, "bundle_gzip_bytes": gz}, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "keystroke in A → painted in B\tp50 %.1f ms, p99 %.1f ms, max %.1f ms (%d keys, one every %v)\n", ms(p50), ms(p99), ms(sorted[len(sorted)-1]), len(ds), gap)
				fmt.Fprintf(tw, "  where it goes (medians)\tbatching %.1f ms, A's edit request %.1f ms, sync to B's app %.1f ms, B loads the page %.1f ms, B shows it %.1f ms (%d keys)\n",
					ms(parts.Batch), ms(parts.Edit), ms(parts.Sync), ms(parts.Load), ms(parts.Show), parts.Keys)
				fmt.Fprintf(tw, "first screen of %d blocks\t%.0f ms, click → its first blocks painted (median of %d)\n", blocks, ms(paint.Screen), runs)
				fmt.Fprintf(tw, "first paint of %d blocks\t%.0f ms, click → all of it painted (median of %d)\n", blocks, ms(paint.Total), runs)
				fmt.Fprintf(tw, "  where it goes\tto the request %.0f ms, the request %.0f ms, to the last block in the DOM %.0f ms, to painted %.0f ms\n",
					ms(paint.Wait), ms(paint.Fetch), ms(paint.DOM-paint.Wait-paint.Fetch), ms(paint.Total-paint.DOM))
				fmt.Fprintf(tw, "CPU while typing, %% of one core\tup A %.1f%%, browser A %.1f%%, up B %.1f%%, browser B %.1f%%, node %.1f%% (%v, one key every %v)\n",
					cpu.UpA, cpu.BrowserA, cpu.UpB, cpu.BrowserB, cpu.Node, typing, gap)
				fmt.Fprintf(tw, "app.js as served\t%.1f KB, gzipped %.1f KB\n", float64(raw)/1024, float64(gz)/1024)
				tw.Flush()
			})
		},
	}
	cmd.Flags().IntVar(&keystrokes, "keystrokes", 200, "keys timed from A to B")
	cmd.Flags().DurationVar(&gap, "gap", 100*time.Millisecond, "time between keys (100 ms: 10 keys/s)")
	cmd.Flags().IntVar(&blocks, "blocks", 10000, "paragraphs of the long page")
	cmd.Flags().IntVar(&runs, "runs", 5, "openings of the long page timed (the median is shown)")
	cmd.Flags().DurationVar(&typing, "typing", 20*time.Second, "how long to type into the long page while measuring CPU")
	cmd.Flags().StringVar(&chromium, "chromium", "", "the browser to run (default: chromium on PATH)")
	return cmd
}

// medianPaint is the opening of median total time, with the median of the
// openings' first screens.
func medianPaint(ps []bench.FirstPaint) bench.FirstPaint {
	s := slices.Clone(ps)
	slices.SortFunc(s, func(a, b bench.FirstPaint) int { return int(a.Screen - b.Screen) })
	screen := s[len(s)/2].Screen
	slices.SortFunc(s, func(a, b bench.FirstPaint) int { return int(a.Total - b.Total) })
	m := s[len(s)/2]
	m.Screen = screen
	return m
}
