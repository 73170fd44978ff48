package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mycel/internal/trace"
	"mycel/internal/vault"
)

func traceFile(tb testing.TB, name string) *trace.Trace {
	dir, _ := os.Getwd()
	path := filepath.Join(dir, "..", "..", "..", "shared", "data", "traces", name)
	if _, err := os.Stat(path); err != nil && os.Getenv("CI") == "" {
		tb.Skipf("trace data not found at %s (it lives in ../shared/data/traces beside the project)", path)
	}
	t, err := trace.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func BenchmarkMergeAutomergePaper(b *testing.B) {
	t := traceFile(b, "automerge-paper.json.gz")
	for b.Loop() {
		r, err := Merge(t)
		if err != nil || !r.Correct {
			b.Fatalf("replay wrong: %v", err)
		}
	}
}

func BenchmarkPipelineAutomergePaper(b *testing.B) {
	t := traceFile(b, "automerge-paper.json.gz")
	for b.Loop() {
		r, err := Pipeline(context.Background(), t, b.TempDir(), nil)
		if err != nil || !r.Correct {
			b.Fatalf("pipeline wrong: %v", err)
		}
		b.ReportMetric(r.ChangesPerSec(), "changes/s")
		b.ReportMetric(float64(r.DBBytes)/(1<<20), "MB")
		b.ReportMetric(float64(r.Open.Microseconds())/1000, "open-ms")
	}
}

// A small synthetic trace through the whole pipeline: it must reproduce the
// text, group by trace seconds, and reopen to the same text.
func TestPipelineSmall(t *testing.T) {
	tr := &trace.Trace{EndContent: "hello, world"}
	t0 := time.Unix(1700000000, 0)
	text := ""
	for i, r := range "hello world" {
		tr.Txns = append(tr.Txns, trace.Txn{Time: t0.Add(time.Duration(i/3) * time.Second), Patches: []trace.Patch{{Pos: len(text), Ins: string(r)}}})
		text += string(r)
	}
	tr.Txns = append(tr.Txns, trace.Txn{Time: t0.Add(10 * time.Second), Patches: []trace.Patch{{Pos: 5, Ins: ","}}})
	r, err := Pipeline(context.Background(), tr, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Correct || !r.ByTime || r.Changes != 5 || r.DBBytes == 0 {
		t.Fatalf("result = %+v", r)
	}
	m, err := Merge(tr)
	if err != nil || !m.Correct || m.Edits != 12 || m.StateBytes == 0 || m.StateGzipBytes == 0 || m.StateLoad <= 0 {
		t.Fatalf("merge = %+v, %v", m, err)
	}
}

func TestInitialSyncSmall(t *testing.T) {
	r, err := InitialSync(context.Background(), "", t.TempDir(), 20, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Changes != 100 || r.Wall <= 0 || r.TCPCopy <= 0 || r.VerifyAll <= 0 {
		t.Fatalf("result = %+v", r)
	}
}

func TestDirectSmall(t *testing.T) {
	first, ds, err := Direct(context.Background(), t.TempDir(), 5)
	if err != nil || len(ds) != 5 || first <= 0 {
		t.Fatalf("direct: %v, %v, %v", first, ds, err)
	}
}

func TestLatencySmall(t *testing.T) {
	ds, err := Latency(context.Background(), t.TempDir(), 5)
	if err != nil || len(ds) != 5 {
		t.Fatalf("latency: %v %v", ds, err)
	}
}

func TestBackupSmall(t *testing.T) {
	r, err := Backup(context.Background(), t.TempDir(), 20, 5, nil)
	if err != nil || r.Objects != 20 || r.Changes != 100 || r.Bytes <= 0 || r.Wall <= 0 {
		t.Fatalf("backup: %+v, %v", r, err)
	}
}

// BenchmarkWriteOneBlock writes back a 10,000-block page with one
// paragraph changed, the whole engine path (mycel bench edit).
func BenchmarkWriteOneBlock(b *testing.B) {
	ctx := context.Background()
	a, _, err := vault.Init(ctx, filepath.Join(b.TempDir(), "a"), "w")
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	const n = 10000
	id, err := a.CreateMarkdown(ctx, page(n, -1), map[string]string{"title": "big"})
	if err != nil {
		b.Fatal(err)
	}
	docs := []string{page(n, n/3), page(n, 2*n/3)}
	i := 0
	for b.Loop() {
		i++
		if _, err := a.WriteMarkdown(ctx, id, docs[i%2], vault.EditOptions{NewVersion: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEditBench runs mycel bench edit small, so that it stays working.
func TestEditBench(t *testing.T) {
	r, err := Edit(context.Background(), t.TempDir(), []int{100}, []int{1}, 50, 3, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if r.OneBlock[100] <= 0 || r.Write[1] <= 0 || r.OpenAuthor <= 0 || r.OpenPeer <= 0 {
		t.Fatalf("%+v", r)
	}
}
