package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"mycel/internal/change"
	"mycel/internal/files"
	"mycel/internal/vault"
)

func (a *app) filesKeepCmd() *cobra.Command {
	var all, off bool
	cmd := &cobra.Command{
		Use:   "keep [ID...] [--all] [--off]",
		Short: "Keep pages' files on this device (offline), whatever their size",
		Long: `Keep the files of pages, or of the whole vault with --all, on this device: a
running 'mycel up' fetches every one of them from the backup node or a device
nearby, whatever its size, and the files added to those pages later too (with
--all, those of pages added later as well). Without keep, a page's files come when
it is opened, and then only those up to 64 MiB; larger ones when asked for
('mycel files get').

The mark is this device's alone: a phone may keep less than a laptop. It takes
effect at once in a running 'mycel up'; with none running, at its start. A file
nobody connected holds yet is tried again later, and whenever a node or a
device nearby connects.

--off stops keeping (ID... or --all); the files already here stay. With --all
kept, stop that first ('--off --all'), then keep pages one by one.
Without ID or --all, it shows what is kept. 'mycel files ls' shows it per file,
'mycel status ID' how far a download is.`,
		Example: `  mycel files keep 3f2a            keep the files of page 3f2a…
  mycel files keep --all           keep every file of the vault
  mycel files keep --off 3f2a      stop keeping page 3f2a… (its files stay here)
  mycel files keep --off --all     keep nothing more
  mycel files keep                 show what is kept`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && len(args) > 0 {
				return errors.New("give page ids or --all, not both")
			}
			if off && !all && len(args) == 0 {
				return errors.New("say what to stop keeping: page ids, or --all")
			}
			return a.withVault(func(e *vault.Engine) error {
				ctx := cmd.Context()
				ids, err := resolveAll(ctx, e, args)
				if err != nil {
					return err
				}
				o, err := e.Offline(ctx)
				if err != nil {
					return err
				}
				if all || len(ids) > 0 {
					if o, err = e.SetOffline(ctx, ids, all, !off); err != nil {
						return err
					}
				}
				return a.printKept(ctx, e, o, ids, off)
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every file of the vault, pages added later included")
	cmd.Flags().BoolVar(&off, "off", false, "stop keeping them (the files already here stay)")
	return cmd
}

// keptSize is what the kept pages' files weigh, and how much of it is
// not here yet.
type keptSize struct {
	Files   int    `json:"files"`
	Bytes   uint64 `json:"bytes"`
	ToFetch uint64 `json:"bytes_to_fetch"`
}

func keptSizeOf(ctx context.Context, e *vault.Engine, o vault.Offline) (keptSize, error) {
	pages := o.Pages
	if o.All {
		objs, err := e.List(ctx, vault.ListOptions{Archived: true})
		if err != nil {
			return keptSize{}, err
		}
		pages = nil
		for _, ob := range objs {
			pages = append(pages, ob.ID)
		}
	}
	var s keptSize
	seen := map[string]bool{}
	for _, id := range pages {
		fs, err := e.Files(ctx, id)
		if err != nil {
			continue // a page kept that is not on this device (yet)
		}
		for _, f := range fs {
			if f.Manifest == nil || seen[f.Manifest.ID()] {
				continue
			}
			seen[f.Manifest.ID()] = true
			h, err := e.Here(f.Manifest)
			if err != nil {
				return s, err
			}
			s.Files++
			s.Bytes += f.Manifest.Size
			s.ToFetch += f.Manifest.Size - min(h.Had, f.Manifest.Size)
		}
	}
	return s, nil
}

func (a *app) printKept(ctx context.Context, e *vault.Engine, o vault.Offline, changed []change.ID, off bool) error {
	size, err := keptSizeOf(ctx, e, o)
	if err != nil {
		return err
	}
	running := deviceRunning(a.data)
	pages := []string{}
	for _, id := range o.Pages {
		pages = append(pages, id.String())
	}
	out := map[string]any{"all": o.All, "pages": pages, "kept": size, "device_running": running}
	return a.emit(out, func(w io.Writer) {
		if off {
			what := "every page"
			if len(changed) > 0 {
				what = ""
				for i, id := range changed {
					if i > 0 {
						what += ", "
					}
					what += id.Short()
				}
			}
			fmt.Fprintf(w, "No longer kept offline: %s. The files already here stay ('mycel files gc' removes only what no page needs).\n", what)
		}
		switch {
		case o.All:
			fmt.Fprintln(w, "Kept offline: every page's files.")
		case len(o.Pages) == 0:
			fmt.Fprintln(w, "Nothing is kept offline. 'mycel files keep ID' keeps a page's files, '--all' every file.")
			return
		default:
			fmt.Fprintln(w, "Kept offline:")
			for _, id := range o.Pages {
				title := "(not on this device yet)"
				if p, err := e.Page(ctx, id); err == nil {
					title = p.Details["title"]
				}
				fmt.Fprintf(w, "  %s  %s\n", id.Short(), title)
			}
		}
		noun := "files"
		if size.Files == 1 {
			noun = "file"
		}
		fmt.Fprintf(w, "%d %s, %s", size.Files, noun, files.Bytes(int64(size.Bytes)))
		switch {
		case size.ToFetch == 0:
			fmt.Fprintln(w, ", all on this device.")
		case running:
			fmt.Fprintf(w, "; %s to fetch: the running 'mycel up' fetches it now ('mycel status' shows how far).\n", files.Bytes(int64(size.ToFetch)))
		default:
			fmt.Fprintf(w, "; %s to fetch, once 'mycel up' runs.\n", files.Bytes(int64(size.ToFetch)))
		}
	})
}
