package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mycel/internal/api"
	"mycel/internal/change"
	"mycel/internal/files"
	"mycel/internal/status"
	"mycel/internal/vault"
)

func (a *app) filesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "files",
		Short: "Add files and images to pages, list them, get them back",
		Long: `Files and images live in pages as file blocks. A file is cut into chunks of about
1 MiB, each sealed with a key only this vault's devices hold, and kept in the data
folder (chunks/). A running 'mycel up' sends them to the backup node and to the
vault's devices nearby; the same bytes are stored once however often they are
added, and an edited large file sends only the chunks that changed.

Another device's files come to this one when their page is opened (up to
64 MiB each), when asked for ('mycel files get'), or all of them for the pages
kept offline ('mycel files keep').`,
	}
	cmd.AddCommand(a.filesAddCmd(), a.filesLsCmd(), a.filesGetCmd(), a.filesKeepCmd(), a.filesGCCmd())
	return cmd
}

func (a *app) filesAddCmd() *cobra.Command {
	var limit string
	cmd := &cobra.Command{
		Use:   "add ID PATH...",
		Short: "Add files to the end of a page, one file block each",
		Example: `  mycel files add 3f2a photo.jpg notes.pdf
  mycel files add 3f2a --limit 16GiB film.mkv`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			max, err := files.ParseBytes(limit)
			if err != nil {
				return fmt.Errorf("--limit: %w", err)
			}
			for _, p := range args[1:] {
				fi, err := os.Stat(p)
				if err != nil {
					return err
				}
				if fi.IsDir() {
					return fmt.Errorf("%s is a folder: give the files in it ('mycel import' brings in a folder of notes with their attachments)", p)
				}
				if max > 0 && fi.Size() > max {
					return fmt.Errorf("%s is %s, over the limit of %s (--limit sets it, up to %s)", p, files.Bytes(fi.Size()), files.Bytes(max), files.Bytes(files.MaxFileLimit))
				}
			}
			return a.withObject(cmd, args[0], func(e *vault.Engine, id change.ID) error {
				var ms []*files.Manifest
				for _, p := range args[1:] {
					m, err := a.storeFile(cmd, e, p, max)
					if err != nil {
						return err
					}
					ms = append(ms, m)
				}
				r, err := e.AddFileBlocks(cmd.Context(), id, ms)
				if err != nil {
					return err
				}
				out := []map[string]any{}
				for _, m := range ms {
					out = append(out, map[string]any{"file_id": m.ID(), "name": m.Name, "type": m.Type, "size": m.Size})
				}
				return a.emit(map[string]any{"id": r.ID.String(), "files": out}, func(w io.Writer) {
					for _, m := range ms {
						fmt.Fprintf(w, "Added %s (%s) to %s: file %s\n", m.Name, files.Bytes(int64(m.Size)), r.ID.Short(), m.ID()[:12])
					}
				})
			})
		},
	}
	cmd.Flags().StringVar(&limit, "limit", "4GiB", "largest file added (e.g. 500MB, 16GiB)")
	return cmd
}

// storeFile stores one file's chunks, showing progress for large ones on
// a terminal.
func (a *app) storeFile(cmd *cobra.Command, e *vault.Engine, path string, limit int64) (*files.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, _ := f.Stat()
	var progress func(int64)
	if fi != nil && fi.Size() > 32<<20 && isTerminal(a.stderr) && !a.asJSON {
		progress = func(done int64) {
			fmt.Fprintf(a.stderr, "\rStoring %s: %s of %s", filepath.Base(path), files.Bytes(done), files.Bytes(fi.Size()))
		}
		defer fmt.Fprintln(a.stderr)
	}
	return e.StoreFile(cmd.Context(), f, vault.StoreFileOptions{Name: filepath.Base(path), Limit: limit, Progress: progress})
}

func (a *app) filesLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls [ID]",
		Short: "List the files of a page, or of every page",
		Long: `List the files of a page, or of every page: each file's id (for 'mycel files
get'), its page, its size, how much of it is on this device (HERE: all, "12 of
40 MB", or "not downloaded: 40 MB") and whether its page is kept offline
(KEPT, see 'mycel files keep').`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				var ids []change.ID
				if len(args) == 1 {
					id, err := e.Resolve(cmd.Context(), args[0])
					if err != nil {
						return err
					}
					ids = append(ids, id)
				} else {
					objs, err := e.List(cmd.Context(), vault.ListOptions{Archived: true})
					if err != nil {
						return err
					}
					for _, o := range objs {
						ids = append(ids, o.ID)
					}
				}
				type fileJSON struct {
					ID     string `json:"file_id"`
					Object string `json:"id"`
					Block  string `json:"block"`
					Name   string `json:"name"`
					Type   string `json:"type"`
					Size   uint64 `json:"size"`
					Here   uint64 `json:"bytes_here"`
					Kept   bool   `json:"kept_offline"`
					Error  string `json:"error,omitempty"`
				}
				kept, err := e.Offline(cmd.Context())
				if err != nil {
					return err
				}
				out := []fileJSON{}
				for _, id := range ids {
					fs, err := e.Files(cmd.Context(), id)
					if err != nil {
						return err
					}
					for _, f := range fs {
						j := fileJSON{Object: id.String(), Block: f.Block.String(), Kept: kept.Keeps(id)}
						if f.Err != nil {
							j.Error = f.Err.Error()
						} else {
							h, err := e.Here(f.Manifest)
							if err != nil {
								return err
							}
							j.ID, j.Name, j.Type, j.Size, j.Here = f.Manifest.ID(), f.Manifest.Name, f.Manifest.Type, f.Manifest.Size, h.Had
						}
						out = append(out, j)
					}
				}
				return a.emit(map[string]any{"files": out}, func(w io.Writer) {
					if len(out) == 0 {
						fmt.Fprintln(w, "No files. 'mycel files add ID PATH' adds one to a page.")
						return
					}
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "FILE\tPAGE\tSIZE\tHERE\tKEPT\tNAME")
					for _, f := range out {
						keptMark := "-"
						if f.Kept {
							keptMark = "kept"
						}
						if f.Error != "" {
							fmt.Fprintf(tw, "-\t%s\t-\t-\t%s\tdamaged file block: %s\n", f.Object[:12], keptMark, f.Error)
							continue
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.ID[:12], f.Object[:12], files.Bytes(int64(f.Size)), hereText(f.Here, f.Size), keptMark, f.Name)
					}
					tw.Flush()
				})
			})
		},
	}
}

// hereText says how much of a file is on this device: "all", "not
// downloaded: 40 MB", or "12 of 40 MB".
func hereText(here, size uint64) string {
	switch {
	case here >= size:
		return "all"
	case here == 0:
		return "not downloaded: " + files.Bytes(int64(size))
	}
	return status.OfBytes(int64(here), int64(size))
}

func (a *app) filesGetCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "get FILE-ID -o PATH",
		Short: "Write a file's bytes to PATH (- for standard output)",
		Long: `Write a file's bytes to PATH, checked against the file's hash. FILE-ID is the
first characters (8 or more) of an id 'mycel files ls' shows. Nothing is written
unless the whole file is on this device.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("say where to write the file with -o PATH (- for standard output)")
			}
			return a.withVault(func(e *vault.Engine) error {
				f, err := e.FindFile(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if err := fetchThroughDevice(cmd.Context(), a.data, e, f.Manifest); err != nil {
					return err
				}
				if out == "-" {
					if h, err := e.Here(f.Manifest); err != nil || !h.Complete() {
						return e.ReadFile(cmd.Context(), f.Manifest, io.Discard) // its error says what is missing
					}
					return e.ReadFile(cmd.Context(), f.Manifest, a.stdout)
				}
				if err := writeAtomic(out, func(w io.Writer) error { return e.ReadFile(cmd.Context(), f.Manifest, w) }); err != nil {
					return err
				}
				m := f.Manifest
				return a.emit(map[string]any{"file_id": m.ID(), "name": m.Name, "size": m.Size, "path": out}, func(w io.Writer) {
					fmt.Fprintf(w, "Wrote %s (%s) to %s\n", m.Name, files.Bytes(int64(m.Size)), out)
				})
			})
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write the file (- for standard output)")
	return cmd
}

// writeAtomic writes path through a temporary file beside it, renamed
// into place only once write succeeded: a failed or interrupted get leaves
// no half file, and never replaces a good one.
func writeAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// fetchThroughDevice asks a running `mycel up` to bring the chunks of a
// file this device lacks (from a node or a device nearby), and waits. No
// running device, or the whole file here already, is nothing to do: the
// read that follows says what is missing.
func fetchThroughDevice(ctx context.Context, dir string, e *vault.Engine, m *files.Manifest) error {
	if h, err := e.Here(m); err != nil || h.Complete() || !deviceRunning(dir) {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://mycel/v1/files/"+m.ID()+"/fetch", nil)
	if err != nil {
		return err
	}
	resp, err := api.Client(dir, 0).Do(req)
	if err != nil {
		return fmt.Errorf("ask the running 'mycel up' for %s: %w", m.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var body struct {
			Error string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		return fmt.Errorf("%s is not on this device, and the running 'mycel up' could not fetch it: %s", m.Name, body.Error)
	}
	return nil
}
