package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/files"
)

// Check reads every chunk: a damaged one is a problem naming the file and
// page that need it, which repair removes (sync fetches it again); a file
// not all here is listed, and is no problem.
func TestCheckChunks(t *testing.T) {
	e := solo(t)
	id, _ := e.Create(ctx, NewPage{Title: "P"})
	m := storeBytes(t, e, "photo.jpg", bytes.Repeat([]byte("jpeg "), 1000))
	if _, err := e.AddFileBlocks(ctx, id, []*files.Manifest{m}); err != nil {
		t.Fatal(err)
	}
	r, err := e.Check(ctx, false)
	if err != nil || len(r.Problems) != 0 || r.Files != 1 || r.Chunks != 1 || len(r.FilesIncomplete) != 0 {
		t.Fatalf("check: %+v %v", r, err)
	}
	cs, _ := e.Chunks()
	a := m.Addresses()[0]
	os.WriteFile(filepath.Join(cs.Dir(), a.String()[:2], a.String()[2:]), []byte("bit rot"), 0o600)
	r, err = e.Check(ctx, false)
	if err != nil || len(r.Problems) != 1 || r.Problems[0].Object != id || !strings.Contains(r.Problems[0].Detail, "photo.jpg: chunk") || !strings.Contains(r.Problems[0].Detail, "damaged") || !r.Problems[0].Repairable {
		t.Fatalf("check of a damaged chunk: %+v %v", r.Problems, err)
	}
	if r, err = e.Check(ctx, true); err != nil || r.ChunksRemoved != 1 {
		t.Fatalf("repair: %+v %v", r, err)
	}
	r, err = e.Check(ctx, false)
	if err != nil || len(r.Problems) != 0 || len(r.FilesIncomplete) != 1 || !strings.Contains(r.FilesIncomplete[0], "photo.jpg: 0 of 1 chunks here") {
		t.Fatalf("after repair: %+v %v", r, err)
	}
	// A stray damaged chunk no page needs is a problem too.
	stray := files.Address{1, 2, 3}
	os.MkdirAll(filepath.Join(cs.Dir(), stray.String()[:2]), 0o700)
	os.WriteFile(filepath.Join(cs.Dir(), stray.String()[:2], stray.String()[2:]), []byte("x"), 0o600)
	if r, _ = e.Check(ctx, false); len(r.Problems) != 1 || r.Problems[0].Kind != "chunk" {
		t.Fatalf("stray chunk: %+v", r.Problems)
	}
}
