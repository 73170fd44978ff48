package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mycel/internal/crdt"
	"mycel/internal/vault"
)

// RichResult is what Rich measured: medians of runs.
type RichResult struct {
	// MarkOps: applying that many random mark and unmark ops (bold,
	// italic, link) as local edits of one 10,000-character block, then
	// rendering its marks once; MarkRender is that render alone.
	MarkOps           int
	Marks, MarkRender time.Duration
	// Opening a page of MarkedBlocks blocks holding PageMarks marks in all,
	// cold (a new engine on the data folder, the page's snapshot read and
	// its blocks and marks rendered).
	PageMarks, MarkedBlocks int
	OpenMarked              time.Duration
	// Importing the CommonMark spec's examples as one page (SpecBytes of
	// Markdown: parsed, every block and mark written, sealed, stored) and
	// exporting it back to Markdown.
	SpecBytes                int
	ImportSpec, RenderSpec   time.Duration
	SpecBlocks, SpecMarkSpan int
}

// Rich measures formatting and rich pages. specDir holds the spec's
// examples (commonmark-spec.json); "" skips the spec import.
func Rich(ctx context.Context, dir, specDir string, markOps, pageMarks, runs int) (RichResult, error) {
	r := RichResult{MarkOps: markOps, PageMarks: pageMarks}
	var ds, rs []time.Duration
	for range runs {
		d, render := markOpsRun(markOps)
		ds, rs = append(ds, d), append(rs, render)
	}
	r.Marks, r.MarkRender = median(ds), median(rs)

	// A page of 1,000 paragraphs with pageMarks marks.
	a, _, err := vault.Init(ctx, filepath.Join(dir, "marks"), "bench")
	if err != nil {
		return r, err
	}
	r.MarkedBlocks = 1000
	per := max(pageMarks/r.MarkedBlocks, 1)
	var md strings.Builder
	for i := range r.MarkedBlocks {
		for k := range per {
			if k%2 == 0 {
				fmt.Fprintf(&md, "**w%d** ", k)
			} else {
				fmt.Fprintf(&md, "*w%d* ", k)
			}
		}
		fmt.Fprintf(&md, "end of paragraph %d.\n\n", i)
	}
	id, err := a.CreateMarkdown(ctx, md.String(), map[string]string{"title": "marked"})
	if err != nil {
		a.Close()
		return r, err
	}
	a.Close()
	ds = ds[:0]
	for range runs {
		e, err := vault.Open(filepath.Join(dir, "marks"))
		if err != nil {
			return r, err
		}
		start := time.Now()
		o, err := e.Get(ctx, id)
		if err != nil {
			e.Close()
			return r, err
		}
		n := 0
		for _, b := range o.Doc.Blocks() {
			n += len(b.Marks)
		}
		ds = append(ds, time.Since(start))
		e.Close()
		if n < pageMarks {
			return r, fmt.Errorf("the page shows %d marks, not %d", n, pageMarks)
		}
	}
	r.OpenMarked = median(ds)

	if specDir == "" {
		return r, nil
	}
	spec, err := specText(filepath.Join(specDir, "commonmark-spec.json"))
	if err != nil {
		return r, err
	}
	r.SpecBytes = len(spec)
	ds, rs = ds[:0], rs[:0]
	for i := range runs {
		e, _, err := vault.Init(ctx, filepath.Join(dir, fmt.Sprintf("spec%d", i)), "bench")
		if err != nil {
			return r, err
		}
		start := time.Now()
		id, err := e.CreateMarkdown(ctx, spec, map[string]string{"title": "CommonMark spec"})
		if err != nil {
			e.Close()
			return r, err
		}
		ds = append(ds, time.Since(start))
		start = time.Now()
		o, err := e.Get(ctx, id)
		if err == nil {
			_ = o.Markdown()
		}
		rs = append(rs, time.Since(start))
		if err == nil && i == 0 {
			var walk func([]*crdt.Block)
			walk = func(bs []*crdt.Block) {
				for _, b := range bs {
					r.SpecBlocks++
					r.SpecMarkSpan += len(b.Marks)
					walk(b.Children)
				}
			}
			walk(o.Doc.Blocks())
		}
		e.Close()
		if err != nil {
			return r, err
		}
	}
	r.ImportSpec, r.RenderSpec = median(ds), median(rs)
	return r, nil
}

// markOpsRun applies n random mark ops to one block and renders it.
func markOpsRun(n int) (apply, render time.Duration) {
	d := crdt.NewDoc()
	tx := d.Begin("bench")
	b := tx.InsertBlock(crdt.ID{}, crdt.ID{}, crdt.TypeParagraph)
	const length = 10000
	tx.InsertText(b, 0, strings.Repeat("lorem ipsum ", length/12+1)[:length])
	tx.Commit()
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{crdt.MarkBold, crdt.MarkItalic, crdt.MarkLink}
	start := time.Now()
	for i := range n {
		lo := rng.IntN(length - 1)
		hi := lo + 1 + rng.IntN(min(40, length-lo-1))
		typ := types[i%len(types)]
		tx := d.Begin("bench")
		if rng.IntN(4) == 0 {
			tx.Unmark(b, lo, hi, typ)
		} else {
			tx.Mark(b, lo, hi, typ, "https://example.org")
		}
		tx.Commit()
	}
	apply = time.Since(start)
	start = time.Now()
	_ = d.Blocks()
	return apply, time.Since(start)
}

// specText joins the spec's examples into one document.
func specText(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var examples []struct {
		Markdown string `json:"markdown"`
	}
	if err := json.Unmarshal(b, &examples); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	var s strings.Builder
	for _, ex := range examples {
		s.WriteString(ex.Markdown)
		s.WriteString("\n\n")
	}
	return s.String(), nil
}
