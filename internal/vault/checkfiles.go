package vault

import (
	"context"
	"fmt"

	"mycel/internal/change"
	"mycel/internal/files"
)

// checkChunks is Check's part for files: every chunk in the chunk folder
// is read and checked against its address (a damaged one is a problem,
// named with the file and page that need it; repair removes it, so that
// sync fetches it again), and every file of every page is looked for
// here: one not all here is listed, not a problem (a device fetches files
// when they are opened, or kept offline), unless a chunk of it is damaged.
func (e *Engine) checkChunks(ctx context.Context, r *CheckReport, repair bool) error {
	cs, err := e.Chunks()
	if err != nil {
		r.Problems = append(r.Problems, Problem{Kind: "chunks", Detail: fmt.Sprintf("the chunk folder cannot be opened: %v", err)})
		return nil
	}
	type use struct {
		object change.ID
		name   string
	}
	users := map[files.Address][]use{}
	objs, err := e.List(ctx, ListOptions{All: true})
	if err != nil {
		return err
	}
	type fileOf struct {
		object change.ID
		m      *files.Manifest
	}
	var all []fileOf
	for _, o := range objs {
		fs, err := e.Files(ctx, o.ID)
		if err != nil {
			continue // an object that does not open: its own problem
		}
		seen := map[string]bool{}
		for _, f := range fs {
			if f.Manifest == nil {
				r.Problems = append(r.Problems, Problem{o.ID, "file", fmt.Sprintf("a file block whose manifest does not read (%v): written by a newer mycel, or damaged; an older version of the page ('mycel history') has it whole", f.Err), false})
				continue
			}
			if seen[f.Manifest.ID()] {
				continue
			}
			seen[f.Manifest.ID()] = true
			all = append(all, fileOf{o.ID, f.Manifest})
			for _, a := range f.Manifest.Addresses() {
				users[a] = append(users[a], use{o.ID, f.Manifest.Name})
			}
		}
	}
	damaged := map[files.Address]bool{}
	err = cs.Check(func(a files.Address, cerr error) {
		damaged[a] = true
		fix := "'mycel check --repair' removes it"
		if repair {
			if err := cs.Remove(a); err == nil {
				r.ChunksRemoved++
				fix = "removed"
			}
		}
		detail := fmt.Sprintf("chunk %s is damaged (%v): %s, and a running 'mycel up' fetches it again from the node or a device nearby", a.Short(), cerr, fix)
		if len(users[a]) == 0 {
			r.Problems = append(r.Problems, Problem{Kind: "chunk", Detail: detail + " (no page of this device needs it)", Repairable: true})
		}
		for _, u := range users[a] {
			r.Problems = append(r.Problems, Problem{u.object, "file", u.name + ": " + detail, true})
		}
	})
	if err != nil {
		return err
	}
	for _, f := range all {
		r.Files++
		h, err := e.Here(f.m)
		if err != nil {
			// The index chunk of a large file is damaged: named above.
			continue
		}
		if !h.Complete() {
			r.FilesIncomplete = append(r.FilesIncomplete, fmt.Sprintf("%s: %s: %d of %d chunks here (%s of %s)", f.object.Short(), f.m.Name, h.Have, h.Chunks, files.Bytes(int64(h.Had)), files.Bytes(int64(f.m.Size))))
		}
	}
	count, _, err := cs.Usage()
	r.Chunks = int(count)
	return err
}
