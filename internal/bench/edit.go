package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mycel/internal/vault"
)

// EditResult is what Edit measured: medians of runs.
type EditResult struct {
	// OneBlock: writing back a page of n blocks with one paragraph
	// changed (Markdown parsed, diffed, sealed, stored, indexed), by n.
	OneBlock map[int]time.Duration
	// Write: writing n megabytes of Markdown into a new page, by n.
	Write map[int]time.Duration
	// Opening an object with OpenChanges changes, cold (a new engine):
	// on the device that made them and on one that only received them.
	OpenChanges          int
	OpenAuthor, OpenPeer time.Duration
}

// page is a Markdown document of n paragraphs of about 100 characters.
func page(n int, changed int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i == changed {
			fmt.Fprintf(&b, "Paragraph %d, edited: %s\n\n", i, strings.Repeat("dolor sit ", 8))
			continue
		}
		fmt.Fprintf(&b, "Paragraph %d: %s\n\n", i, strings.Repeat("lorem ipsum ", 7))
	}
	return b.String()
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// Edit measures editing large pages and opening a long history, in dir.
func Edit(ctx context.Context, dir string, blocks, megabytes []int, openChanges, runs int, progress func(string)) (EditResult, error) {
	r := EditResult{OneBlock: map[int]time.Duration{}, Write: map[int]time.Duration{}, OpenChanges: openChanges}
	a, phrase, err := vault.Init(ctx, filepath.Join(dir, "a"), "writer")
	if err != nil {
		return r, err
	}
	defer a.Close()
	for _, n := range blocks {
		progress(fmt.Sprintf("one-block edits of a %d-block page", n))
		id, err := a.CreateMarkdown(ctx, page(n, -1), map[string]string{"title": fmt.Sprintf("%d blocks", n)})
		if err != nil {
			return r, err
		}
		var ds []time.Duration
		docs := []string{page(n, n/3), page(n, 2*n/3)}
		for i := 0; i < runs; i++ {
			md := docs[i%2]
			start := time.Now()
			res, err := a.WriteMarkdown(ctx, id, md, vault.EditOptions{NewVersion: true})
			if err != nil {
				return r, err
			}
			ds = append(ds, time.Since(start))
			if !res.Changed {
				return r, fmt.Errorf("edit %d of the %d-block page changed nothing", i, n)
			}
		}
		r.OneBlock[n] = median(ds)
	}
	for _, mb := range megabytes {
		progress(fmt.Sprintf("writing %d MB of Markdown", mb))
		md := page(mb<<20/110, -1)
		var ds []time.Duration
		for i := 0; i < max(1, runs/4); i++ {
			id, err := a.CreateMarkdown(ctx, "", map[string]string{"title": "paste"})
			if err != nil {
				return r, err
			}
			start := time.Now()
			if _, err := a.WriteMarkdown(ctx, id, md, vault.EditOptions{NewVersion: true}); err != nil {
				return r, err
			}
			ds = append(ds, time.Since(start))
		}
		r.Write[mb] = median(ds)
	}
	if openChanges > 0 {
		progress(fmt.Sprintf("%d changes to one object, received by another device", openChanges))
		id, err := a.CreateMarkdown(ctx, "start\n", map[string]string{"title": "long history"})
		if err != nil {
			return r, err
		}
		for i := 0; i < openChanges; i++ {
			if _, err := a.AppendMarkdown(ctx, id, fmt.Sprintf("line %d of a long history\n", i)); err != nil {
				return r, err
			}
		}
		b, err := vault.Recover(ctx, filepath.Join(dir, "b"), phrase, "reader")
		if err != nil {
			return r, err
		}
		recs, _ := a.MemberRecords(ctx)
		b.AddMemberRecords(ctx, recs)
		ids, raws, err := a.Changes(ctx, id)
		if err != nil {
			return r, err
		}
		for lo := 0; lo < len(ids); lo += 500 {
			var in []vault.Incoming
			for i := lo; i < min(lo+500, len(ids)); i++ {
				in = append(in, vault.Incoming{ID: ids[i], Raw: raws[i]})
			}
			if _, _, err := b.ReceiveBatch(ctx, in); err != nil {
				return r, err
			}
		}
		bdir := b.Dir()
		b.Close()
		open := func(dir string) (time.Duration, error) {
			var ds []time.Duration
			for i := 0; i < runs; i++ {
				start := time.Now()
				e, err := vault.Open(dir)
				if err != nil {
					return 0, err
				}
				_, err = e.Get(ctx, id)
				ds = append(ds, time.Since(start))
				e.Close()
				if err != nil {
					return 0, err
				}
			}
			return median(ds), nil
		}
		if r.OpenAuthor, err = open(a.Dir()); err != nil {
			return r, err
		}
		if r.OpenPeer, err = open(bdir); err != nil {
			return r, err
		}
	}
	return r, nil
}
