package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"mycel/internal/trace"
)

func traceFile(tb testing.TB, name string) *trace.Trace {
	dir, _ := os.Getwd()
	t, err := trace.Load(filepath.Join(dir, "..", "..", "..", "shared", "data", "traces", name))
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
