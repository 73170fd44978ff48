package trace

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"mycel/internal/crdt"
)

// dataDir finds ../shared/data/traces from the module root.
func dataDir(t testing.TB) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		p := filepath.Join(filepath.Dir(d), "shared", "data", "traces")
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			if _, err := os.Stat(p); err != nil {
				msg := fmt.Sprintf("trace data not found at %s (it lives in ../shared/data/traces beside the project)", p)
				if os.Getenv("CI") != "" {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			return p
		}
	}
	t.Fatal("module root not found")
	return ""
}

func load(t testing.TB, name string) *Trace {
	tr, err := Load(filepath.Join(dataDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestSequentialTraces(t *testing.T) {
	for _, name := range []string{"automerge-paper.json.gz", "seph-blog1.json.gz"} {
		t.Run(name, func(t *testing.T) {
			tr := load(t, name)
			d, blk := Sequential(tr)
			if got := d.Text(blk); got != tr.EndContent {
				t.Fatalf("replay gives %d chars, want %d (endContent)", len([]rune(got)), len([]rune(tr.EndContent)))
			}
		})
	}
}

func TestConcurrentTrace(t *testing.T) {
	tr := load(t, "node_nodecc-concurrent.json.gz")
	h, err := Concurrent(tr)
	if err != nil {
		t.Fatal(err)
	}
	if h.Final != tr.EndContent {
		t.Fatalf("replica of the last txn has %d chars, want endContent (%d)", len(h.Final), len(tr.EndContent))
	}
	for seed := uint64(1); seed <= 20; seed++ {
		d, err := Deliver(h, rand.New(rand.NewPCG(seed, 0)), int(seed%3))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if got := d.Text(h.Block); got != tr.EndContent {
			t.Fatalf("seed %d: delivered replica differs from endContent", seed)
		}
	}
}

func BenchmarkSequentialAutomergePaper(b *testing.B) {
	tr := load(b, "automerge-paper.json.gz")
	b.ResetTimer()
	for b.Loop() {
		Sequential(tr)
	}
}

func BenchmarkConcurrentLoad(b *testing.B) {
	tr := load(b, "node_nodecc-concurrent.json.gz")
	h, err := Concurrent(tr)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Deliver(h, rng, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRemoteReplay applies automerge-paper's changes (one per edit) to a
// fresh replica, as received changes: the path a device without snapshots
// takes, where every operation is located by ID, not by position.
func BenchmarkRemoteReplay(b *testing.B) {
	tr := load(b, "automerge-paper.json.gz")
	var changes []*crdt.Change
	d := crdt.NewDoc()
	tx := d.Begin("author")
	blk := tx.InsertBlock(crdt.ID{}, crdt.ID{}, crdt.TypeParagraph)
	changes = append(changes, tx.Commit())
	for i := range tr.Txns {
		tx := d.Begin("author")
		applyPatches(tx, blk, tr.Txns[i].Patches)
		if ch := tx.Commit(); ch != nil {
			changes = append(changes, ch)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		r := crdt.NewDoc()
		for _, ch := range changes {
			if err := r.Apply(ch); err != nil {
				b.Fatal(err)
			}
		}
		if r.Text(blk) != tr.EndContent {
			b.Fatal("remote replay differs from endContent")
		}
	}
}

// BenchmarkConcurrentStateLoad decodes node_nodecc's merged state (a
// device opening the object from its local snapshot) and reads its text.
func BenchmarkConcurrentStateLoad(b *testing.B) {
	tr := load(b, "node_nodecc-concurrent.json.gz")
	h, err := Concurrent(tr)
	if err != nil {
		b.Fatal(err)
	}
	d, err := Deliver(h, rand.New(rand.NewPCG(1, 1)), 0)
	if err != nil {
		b.Fatal(err)
	}
	st := d.MarshalState()
	b.ResetTimer()
	for b.Loop() {
		x, err := crdt.UnmarshalState(st)
		if err != nil {
			b.Fatal(err)
		}
		_ = x.Text(h.Block)
	}
}
