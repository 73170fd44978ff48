// Package bench measures mycel on real editing traces: the merge engine
// alone, and the full pipeline (changes signed, sealed and stored in SQLite).
// `mycel bench trace` prints its results; its tests run it under go test.
package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"mycel/internal/crdt"
	"mycel/internal/trace"
	"mycel/internal/vault"
)

// MergeResult is a replay of a trace through the merge engine alone.
type MergeResult struct {
	Edits     int
	Wall      time.Duration
	HeapBytes uint64 // heap the replayed document holds (live heap after minus before)
	Correct   bool   // the final text equals the trace's endContent
	// Concurrent traces: time for a fresh replica to load the merged
	// object from all changes (in a random causal order).
	Load time.Duration
	// The final document's state (MarshalState): its bytes, gzipped
	// bytes, and a fresh document loading it (UnmarshalState and reading
	// every block's text; the median of StateLoads), as peerbench's
	// bytes_encoded and ms_load.
	StateBytes, StateGzipBytes int
	StateLoad                  time.Duration
}

// StateLoads is how many times Merge loads the final state.
const StateLoads = 5

// OpsPerSec is edits per second.
func (r MergeResult) OpsPerSec() float64 { return float64(r.Edits) / r.Wall.Seconds() }

// Merge replays t through the merge engine.
func Merge(t *trace.Trace) (MergeResult, error) {
	r := MergeResult{Edits: t.Edits()}
	before := liveHeap()
	start := time.Now()
	if !t.Concurrent() {
		d, blk := trace.Sequential(t)
		r.Wall = time.Since(start)
		r.Correct = d.Text(blk) == t.EndContent
		r.HeapBytes = liveHeap() - before
		runtime.KeepAlive(d)
		return r, measureState(&r, d)
	}
	h, err := trace.Concurrent(t)
	if err != nil {
		return r, err
	}
	r.Wall = time.Since(start)
	start = time.Now()
	d, err := trace.Deliver(h, rand.New(rand.NewPCG(1, 2)), 0)
	if err != nil {
		return r, err
	}
	r.Load = time.Since(start)
	r.Correct = h.Final == t.EndContent && d.Text(h.Block) == t.EndContent
	runtime.KeepAlive(h)
	h = nil
	r.HeapBytes = liveHeap() - before
	runtime.KeepAlive(d)
	return r, measureState(&r, d)
}

// measureState encodes d and times fresh documents loading it; a loaded
// document must show the same text.
func measureState(r *MergeResult, d *crdt.Doc) error {
	state := d.MarshalState()
	r.StateBytes = len(state)
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	w.Write(state)
	w.Close()
	r.StateGzipBytes = gz.Len()
	want := blockTexts(d)
	loads := make([]time.Duration, StateLoads)
	for i := range loads {
		runtime.GC()
		start := time.Now()
		d2, err := crdt.UnmarshalState(state)
		if err != nil {
			return fmt.Errorf("load the final state: %w", err)
		}
		got := blockTexts(d2)
		loads[i] = time.Since(start)
		if got != want {
			return fmt.Errorf("the loaded final state shows other text")
		}
	}
	slices.Sort(loads)
	r.StateLoad = loads[len(loads)/2]
	return nil
}

// blockTexts reads every block's text.
func blockTexts(d *crdt.Doc) string {
	var b strings.Builder
	for _, id := range d.BlockIDs() {
		b.WriteString(d.Text(id))
		b.WriteByte(0)
	}
	return b.String()
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// PeakRSS is the process's peak resident memory (VmHWM), 0 where unknown.
func PeakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// PipelineResult is a trace written through the whole engine.
type PipelineResult struct {
	Edits   int
	Changes int
	Wall    time.Duration
	DBBytes int64
	Open    time.Duration // opening the final object in a fresh engine
	Correct bool
	ByTime  bool // grouped by trace seconds (else EditsPerChange)
}

// ChangesPerSec is stored changes per second.
func (r PipelineResult) ChangesPerSec() float64 { return float64(r.Changes) / r.Wall.Seconds() }

// EditsPerChange groups edits when a trace's timestamps are synthetic (all
// within a second or so, as in automerge-paper): about a second of typing.
const EditsPerChange = 10

// Groups splits a trace into changes: one per second of trace time, or, when
// the trace has fewer distinct seconds than a hundredth of its edits (its
// times are not real), EditsPerChange transactions each.
func Groups(t *trace.Trace) (groups [][]trace.Txn, byTime bool) {
	secs := map[int64]bool{}
	for _, tx := range t.Txns {
		secs[tx.Time.Unix()] = true
	}
	byTime = len(secs)*100 >= len(t.Txns)
	for i := 0; i < len(t.Txns); {
		j := i + 1
		if byTime {
			for j < len(t.Txns) && t.Txns[j].Time.Unix() == t.Txns[i].Time.Unix() {
				j++
			}
		} else {
			j = min(i+EditsPerChange, len(t.Txns))
		}
		groups = append(groups, t.Txns[i:j])
		i = j
	}
	return groups, byTime
}

// Pipeline writes a sequential trace into a new vault in dir, grouped into
// changes by Groups, each signed, sealed and stored in its own transaction.
// Then it opens the object in a fresh engine.
func Pipeline(ctx context.Context, t *trace.Trace, dir string, progress func(done, total int)) (PipelineResult, error) {
	r := PipelineResult{Edits: t.Edits()}
	if t.Concurrent() {
		return r, fmt.Errorf("the pipeline benchmark takes a sequential trace")
	}
	e, _, err := vault.Init(ctx, dir, "bench")
	if err != nil {
		return r, err
	}
	id, err := e.Create(ctx, vault.NewPage{Details: map[string]string{"title": "trace"}, Blocks: []*crdt.Block{{Type: crdt.TypeCode, Text: t.StartContent}}})
	if err != nil {
		e.Close()
		return r, err
	}
	o, err := e.Get(ctx, id)
	if err != nil {
		e.Close()
		return r, err
	}
	blk := o.Doc.BlockIDs()[0]
	groups, byTime := Groups(t)
	r.ByTime = byTime
	start := time.Now()
	for gi, group := range groups {
		_, err := e.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error {
			for _, txn := range group {
				for _, p := range txn.Patches {
					tx.DeleteText(blk, p.Pos, p.Del)
					tx.InsertText(blk, p.Pos, p.Ins)
				}
			}
			return nil
		})
		if err != nil {
			e.Close()
			return r, err
		}
		r.Changes++
		if progress != nil && r.Changes%1000 == 0 {
			progress(gi+1, len(groups))
		}
	}
	r.Wall = time.Since(start)
	if err := e.Close(); err != nil {
		return r, err
	}
	for _, f := range []string{vault.DBFile, vault.DBFile + "-wal"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			r.DBBytes += fi.Size()
		}
	}
	start = time.Now()
	e2, err := vault.Open(dir)
	if err != nil {
		return r, err
	}
	defer e2.Close()
	o2, err := e2.Get(ctx, id)
	if err != nil {
		return r, err
	}
	r.Open = time.Since(start)
	r.Correct = o2.Doc.Text(blk) == t.EndContent
	return r, nil
}
