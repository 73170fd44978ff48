package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mycel/internal/crdt"
	"mycel/internal/files"
)

// age makes every chunk file look written d ago (no sleeping).
func age(t *testing.T, e *Engine, d time.Duration) {
	t.Helper()
	cs, _ := e.Chunks()
	old := time.Now().Add(-d)
	filepath.Walk(cs.Dir(), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			os.Chtimes(p, old, old)
		}
		return nil
	})
}

// Garbage collection removes only chunks no change names, once older than
// the grace period: a file removed from a page stays (history can restore
// it), one stored and never added goes, one stored again lately stays.
func TestCollectChunks(t *testing.T) {
	e := solo(t)
	id, _ := e.Create(ctx, NewPage{Title: "P"})
	kept := storeBytes(t, e, "kept.jpg", bytes.Repeat([]byte("kept "), 100))
	removed := storeBytes(t, e, "removed.pdf", bytes.Repeat([]byte("removed "), 100))
	if _, err := e.AddFileBlocks(ctx, id, []*files.Manifest{kept, removed}); err != nil {
		t.Fatal(err)
	}
	// The second file's block is deleted: only history names it now.
	if _, err := e.Edit(ctx, id, EditOptions{NewVersion: true}, func(tx *crdt.Tx) error {
		tx.Replace([]*crdt.Block{FileBlock(kept)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fs, _ := e.Files(ctx, id); len(fs) != 1 {
		t.Fatalf("%d files on the page", len(fs))
	}
	abandoned := storeBytes(t, e, "abandoned.bin", []byte("never added to a page"))

	r, err := e.CollectChunks(ctx, DefaultChunkGrace, false)
	if err != nil || r.Collected != 0 || r.Young != 1 || r.Kept != 2 {
		t.Fatalf("within the grace period: %+v %v", r, err)
	}
	age(t, e, 8*24*time.Hour)
	if r, err = e.CollectChunks(ctx, DefaultChunkGrace, true); err != nil || r.Collected != 1 {
		t.Fatalf("dry run: %+v %v", r, err)
	}
	if h, _ := e.Here(abandoned); !h.Complete() {
		t.Fatal("a dry run removed a chunk")
	}
	// Stored again just now (the same bytes): fresh, so kept.
	storeBytes(t, e, "again.bin", []byte("never added to a page"))
	if r, _ = e.CollectChunks(ctx, DefaultChunkGrace, false); r.Collected != 0 || r.Young != 1 {
		t.Fatalf("a chunk stored again lately: %+v", r)
	}
	age(t, e, 8*24*time.Hour)
	if r, err = e.CollectChunks(ctx, DefaultChunkGrace, false); err != nil || r.Collected != 1 || r.Kept != 2 {
		t.Fatalf("collect: %+v %v", r, err)
	}
	if h, _ := e.Here(abandoned); h.Have != 0 {
		t.Fatal("the abandoned chunk is still here")
	}
	for _, m := range []*files.Manifest{kept, removed} {
		var buf bytes.Buffer
		if err := e.ReadFile(ctx, m, &buf); err != nil {
			t.Fatalf("%s after collection: %v", m.Name, err)
		}
	}
}
