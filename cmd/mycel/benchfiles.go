package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/bench"
	"mycel/internal/files"
)

func (a *app) benchFilesCmd() *cobra.Command {
	var size string
	cmd := &cobra.Command{
		Use:   "files",
		Short: "Measure files: adding, uploading to a node, downloading to a new device",
		Long: `In a temporary folder, write a set of mixed files (--size in all: three of 200 MB
once there is room, the rest photos of about 4 MB), then measure in one run:

  - the two limits: a raw copy of the bytes over loopback TCP (median of 3), and
    hashing plus sealing them in 1 MiB pieces on every core;
  - adding every file to a fresh vault (read from disk, cut, sealed, each chunk
    written durably to the chunk folder): MB/s;
  - the chunk folder's size after the add, and after adding the same files again
    (the same bytes are stored once);
  - uploading them all to a backup node over loopback (node and devices run in
    this process), from the device's start until the node pinned every file;
  - downloading them all to a fresh device of the vault, each file checked;
  - the peak resident memory of this process (node and both devices).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			total, err := files.ParseBytes(size)
			if err != nil {
				return fmt.Errorf("--size: %w", err)
			}
			dir, err := os.MkdirTemp("", "mycel-bench-files-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			tty := isTerminal(a.stderr) && !a.asJSON
			r, err := bench.Files(cmd.Context(), dir, total, func(s string) {
				if tty {
					fmt.Fprintf(a.stderr, "\r%-40s", s)
				}
			})
			if tty {
				fmt.Fprintf(a.stderr, "\r%-40s\r", "")
			}
			if err != nil {
				return err
			}
			growth := 100 * float64(r.StoredAgain-r.Stored) / float64(r.Stored)
			return a.emit(map[string]any{"files": r.Files, "bytes": r.Bytes,
				"loopback_mb_s": bench.MBps(r.Bytes, r.Loopback), "seal_mb_s": bench.MBps(r.Bytes, r.Seal), "durable_write_mb_s": bench.MBps(r.Bytes, r.Disk), "add_mb_s": bench.MBps(r.Bytes, r.Add),
				"upload_mb_s": bench.MBps(r.Bytes, r.Upload), "download_mb_s": bench.MBps(r.Bytes, r.Download), "stored_bytes": r.Stored, "stored_again_bytes": r.StoredAgain, "again_growth_percent": growth, "peak_rss_bytes": r.PeakRSS}, func(w io.Writer) {
				fmt.Fprintf(w, "%d files, %s\n", r.Files, files.Bytes(r.Bytes))
				fmt.Fprintf(w, "limits: loopback copy %.0f MB/s, hash+seal on %d cores %.0f MB/s\n", bench.MBps(r.Bytes, r.Loopback), runtime.GOMAXPROCS(0), bench.MBps(r.Bytes, r.Seal))
				fmt.Fprintf(w, "beside: durable 1 MiB writes, 4 at once %.0f MB/s\n", bench.MBps(r.Bytes, r.Disk))
				fmt.Fprintf(w, "add:    %.0f MB/s (%s)\n", bench.MBps(r.Bytes, r.Add), r.Add.Round(time.Millisecond))
				fmt.Fprintf(w, "stored: %s; after adding the same again %s (+%.2f%%)\n", files.Bytes(r.Stored), files.Bytes(r.StoredAgain), growth)
				fmt.Fprintf(w, "upload to the node:   %.0f MB/s (%s, until every file was pinned)\n", bench.MBps(r.Bytes, r.Upload), r.Upload.Round(time.Millisecond))
				fmt.Fprintf(w, "download (new device): %.0f MB/s (%s)\n", bench.MBps(r.Bytes, r.Download), r.Download.Round(time.Millisecond))
				fmt.Fprintf(w, "peak RSS %.0f MB\n", float64(r.PeakRSS)/(1<<20))
			})
		},
	}
	cmd.Flags().StringVar(&size, "size", "1GiB", "bytes of files in all")
	return cmd
}
