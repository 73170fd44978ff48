package vault

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"mycel/internal/change"
	"mycel/internal/files"
	"mycel/internal/store"
)

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// addFile stores data as a file of a new page on e.
func addFile(t *testing.T, e *Engine, name string, data []byte) (change.ID, *files.Manifest) {
	t.Helper()
	id, err := e.Create(ctx, NewPage{Title: "Files"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.StoreFile(ctx, bytes.NewReader(data), StoreFileOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddFileBlocks(ctx, id, []*files.Manifest{m}); err != nil {
		t.Fatal(err)
	}
	return id, m
}

func referenced(t *testing.T, e *Engine) map[change.ID][]files.Address {
	t.Helper()
	out := map[change.ID][]files.Address{}
	err := e.ReferencedChunks(ctx, func(o change.ID, a files.Address) error {
		out[o] = append(out[o], a)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The chunks a file block's change names are in the index on the device
// that wrote it and on one that received the change, which lacks the
// chunks themselves until they are fetched.
func TestChunkReferencesAreIndexed(t *testing.T) {
	a, b := pair(t)
	data := randomBytes(3<<20, 1)
	id, m := addFile(t, a, "photo.jpg", data)
	want := slices.Clone(m.Addresses())
	slices.SortFunc(want, func(x, y files.Address) int { return bytes.Compare(x[:], y[:]) })
	if got := referenced(t, a)[id]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("referenced on a: %v, want %v", got, want)
	}
	syncAll(t, a, b)
	if got := referenced(t, b)[id]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("referenced on b: %v, want %v", got, want)
	}
	if err := b.ReadFile(ctx, m, &bytes.Buffer{}); !errors.Is(err, ErrMissingChunks) {
		t.Fatalf("read on b without chunks: %v", err)
	}
	// What a node holds is recorded per chunk.
	notHeld, err := b.ChunksNotHeld(ctx, "node", files.Address{}, 100)
	if err != nil || len(notHeld) != len(want) {
		t.Fatalf("not held: %d, %v", len(notHeld), err)
	}
	if err := b.SetChunkHeld(ctx, "node", want[:1], true); err != nil {
		t.Fatal(err)
	}
	if notHeld, _ = b.ChunksNotHeld(ctx, "node", files.Address{}, 100); len(notHeld) != len(want)-1 {
		t.Fatalf("not held after one: %d of %d", len(notHeld), len(want))
	}
	if held, err := b.ChunkHeld(ctx, "node", want); err != nil || !held[0] || slices.Contains(held[1:], true) {
		t.Fatalf("held: %v, %v", held, err)
	}
}

// A store from before the chunk index (format 4) has its changes' chunks
// indexed once, from their bytes.
func TestOldChangesChunksIndexed(t *testing.T) {
	a, _ := pair(t)
	id, m := addFile(t, a, "old.pdf", randomBytes(2<<20, 3))
	db, err := sql.Open("sqlite", filepath.Join(a.Dir(), DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM chunk_refs`); err != nil { // as format 4 left it
		t.Fatal(err)
	}
	db.Close()
	if got := referenced(t, a)[id]; len(got) == len(m.Addresses()) {
		t.Fatal("the test removed nothing from the index")
	}
	if err := store.IndexOldChunkRefs(ctx, a.db); err != nil {
		t.Fatal(err)
	}
	if got := referenced(t, a)[id]; len(got) != len(m.Addresses()) {
		t.Fatalf("%d of %d chunks indexed", len(got), len(m.Addresses()))
	}
}
