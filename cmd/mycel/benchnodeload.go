package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/bench"
)

func (a *app) benchNodeLoadCmd() *cobra.Command {
	var devices, vaults int
	var duration time.Duration
	var rate float64
	var kill, closed bool
	var keep, profile string
	cmd := &cobra.Command{
		Use:   "node-load",
		Short: "Measure a backup node under many devices: acknowledged changes/s, latency, memory, kill -9",
		Long: `Run a backup node (this executable's 'mycel node', a process of its own, in a
temporary folder) and --devices devices in --vaults vaults against it, on the
real protocol: each device has its own libp2p connection over loopback and its
own sync service, and writes signed, sealed changes to its own page (a line
appended per change). The devices run in this process, over stores in memory,
and keep the other devices' changes the node relays to them unread: they cost
the machine what the protocol costs, not a device's disk.

A change counts as acknowledged when the node's heads for its page name it
(or a later change): the node says so only after it stored the change
durably. Latency runs from handing the change to the device's sync service
to that acknowledgement.

It runs twice, each time with the node started afresh on the same folder:
  closed loop   each device writes its next change once the last is
                acknowledged, for --duration;
  --rate R      each device writes R changes a second, for --duration
                (0: skip this run).
For each it prints acknowledged changes/s (all devices), p50/p99/max
latency, and the node process's peak RSS and CPU time.

Then, with --kill (the default), a closed-loop run in which the node is
killed -9 halfway, started again on its folder, and every change any device
saw acknowledged (in any run) looked for in the node's stores: it prints "0
of N acknowledged changes lost", or fails.

The devices and the node share this machine's cores: what the devices spend
(signing, and verifying what is relayed to them: each change goes to the
other devices of its vault) is not the node's. The node's own CPU time is
printed beside each run for that reason.

  mycel bench node-load --devices 100 --vaults 10 --duration 20s --rate 10

--profile FILE writes the node's CPU profile of the first run (go tool pprof
FILE). With --keep DIR, the node's log is kept in DIR/node.log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := atLeastOne(cmd, "devices", "vaults"); err != nil {
				return err
			}
			if vaults > devices {
				return fmt.Errorf("--vaults %d is more than --devices %d: every vault needs a device", vaults, devices)
			}
			if vaults > 20 {
				// The node registers 20 vaults at once, then one per 30 s.
				return errors.New("--vaults: at most 20 (a node registers 20 new vaults at once, then one per 30 seconds)")
			}
			if duration <= 0 || rate < 0 {
				return errors.New("--duration must be positive and --rate at least 0")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			dir := keep
			if dir == "" {
				if dir, err = os.MkdirTemp("", "mycel-bench-node-load-"); err != nil {
					return err
				}
				defer os.RemoveAll(dir)
			} else if err := emptyFolder(dir); err != nil {
				return fmt.Errorf("--keep: %w", err)
			}
			say := func(s string) { fmt.Fprintln(a.stderr, s) }
			l, err := bench.NewNodeLoad(bench.NodeLoadConfig{Exe: exe, Dir: dir, Devices: devices, Vaults: vaults, Progress: say})
			if err != nil {
				return err
			}
			defer l.Close()
			ctx := cmd.Context()
			var runs []bench.NodeLoadResult
			run := func(rate float64, kill bool, env []string) error {
				l.SetNodeEnv(env)
				r, err := l.Run(ctx, rate, duration, kill)
				if err != nil {
					return err
				}
				runs = append(runs, r)
				if kill && r.Lost > 0 {
					return fmt.Errorf("%d of %d acknowledged changes lost when the node was killed -9", r.Lost, r.AckedInStore)
				}
				return nil
			}
			var env []string
			if profile != "" {
				abs, err := filepath.Abs(profile) // the node runs elsewhere
				if err != nil {
					return err
				}
				env = []string{cpuProfileEnv + "=" + abs}
			}
			if closed {
				if err := run(0, false, env); err != nil {
					return err
				}
				env = nil
			}
			if rate > 0 {
				if err := run(rate, false, env); err != nil {
					return err
				}
			}
			if kill {
				if err := run(0, true, nil); err != nil {
					return err
				}
			}
			var out []map[string]any
			for _, r := range runs {
				out = append(out, map[string]any{"rate_per_device": r.Rate, "window_ms": ms(r.Window), "written": r.Written,
					"acked": r.Acked, "unacked": r.Unacked, "acked_per_s": r.AckedPerSec(), "p50_ms": ms(r.P50), "p99_ms": ms(r.P99), "max_ms": ms(r.Max),
					"node_peak_rss_bytes": r.NodeRSS, "node_cpu_ms": ms(r.NodeCPU), "node_life_ms": ms(r.NodeLife), "devices_cpu_ms": ms(r.DevicesCPU), "node_cpu_us_per_acked": r.NodeCPUPerAck().Seconds() * 1e6,
					"killed": r.Killed, "acked_checked": r.AckedInStore, "lost": r.Lost})
			}
			return a.emit(map[string]any{"devices": devices, "vaults": vaults, "runs": out}, func(w io.Writer) {
				fmt.Fprintf(w, "%d devices in %d vaults, one node process:\n", devices, vaults)
				for _, r := range runs {
					what := "closed loop"
					if r.Rate > 0 {
						what = fmt.Sprintf("%g edits/s each", r.Rate)
					}
					if r.Killed {
						what += ", killed -9 halfway"
					}
					fmt.Fprintf(w, "  %-32s %7.0f acked changes/s  p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms  node RSS %5.1f MB  CPU node %.1f s, devices %.1f s, in %.1f s\n",
						what, r.AckedPerSec(), ms(r.P50), ms(r.P99), ms(r.Max), float64(r.NodeRSS)/(1<<20), r.NodeCPU.Seconds(), r.DevicesCPU.Seconds(), r.NodeLife.Seconds())
					fmt.Fprintf(w, "  %-32s node CPU per acknowledged change %.0f µs\n", "", r.NodeCPUPerAck().Seconds()*1e6)
					if r.Unacked > 0 && !r.Killed {
						fmt.Fprintf(w, "  %-32s %d changes written in the window not acknowledged 10 s after it\n", "", r.Unacked)
					}
					if r.Killed {
						fmt.Fprintf(w, "  %-32s %d of %d acknowledged changes lost (checked after a restart)\n", "", r.Lost, r.AckedInStore)
					}
				}
			})
		},
	}
	cmd.Flags().IntVar(&devices, "devices", 100, "devices, each with its own connection and page")
	cmd.Flags().IntVar(&vaults, "vaults", 10, "vaults the devices belong to (devices/vaults each)")
	cmd.Flags().DurationVar(&duration, "duration", 20*time.Second, "how long the devices write in each run")
	cmd.Flags().Float64Var(&rate, "rate", 10, "changes a second each device writes in the second run (0: only the closed loop)")
	cmd.Flags().BoolVar(&closed, "closed-loop", true, "start with the closed-loop run")
	cmd.Flags().BoolVar(&kill, "kill", true, "end with a run in which the node is killed -9 halfway, and check that no acknowledged change was lost")
	cmd.Flags().StringVar(&keep, "keep", "", "run in this empty folder and keep it (the node's data is DIR/node)")
	cmd.Flags().StringVar(&profile, "profile", "", "write the node's CPU profile of the first run to this file")
	return cmd
}
