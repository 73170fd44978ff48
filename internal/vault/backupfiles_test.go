package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/files"
)

// chunkFiles reads every chunk file under a chunk folder, by path.
func chunkFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

// A backup holds the chunk folder (sealed chunks only: no file's bytes or
// name in the clear), and a restore brings it back byte for byte: the
// restored device reads the files. A damaged chunk in a backup makes the
// restore refuse, saying so.
func TestBackupChunks(t *testing.T) {
	e, phrase, err := Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	secret := bytes.Repeat([]byte("very secret photo bytes "), 50000) // several chunks
	id, _ := e.Create(ctx, NewPage{Title: "P"})
	m := storeBytes(t, e, "holiday-secret.jpg", secret)
	if _, err := e.AddFileBlocks(ctx, id, []*files.Manifest{m}); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "backup")
	bm, err := e.Backup(ctx, dest, false)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := e.Chunks()
	want := chunkFiles(t, cs.Dir())
	if bm.Chunks != len(m.Addresses()) || bm.Chunks == 0 || len(want) != bm.Chunks {
		t.Fatalf("backup manifest counts %d chunks; the file has %d, the folder %d", bm.Chunks, len(m.Addresses()), len(want))
	}
	got := chunkFiles(t, filepath.Join(dest, ChunkFolder))
	if len(got) != len(want) {
		t.Fatalf("backup holds %d chunk files, want %d", len(got), len(want))
	}
	for p, b := range want {
		if got[p] != b {
			t.Fatalf("chunk %s differs in the backup", p)
		}
		if strings.Contains(b, "very secret") {
			t.Fatal("a chunk holds the file's bytes in the clear")
		}
	}
	r, err := RestoreBackup(ctx, dest, filepath.Join(t.TempDir(), "restored"), phrase, "")
	if err != nil {
		t.Fatal(err)
	}
	rcs, _ := r.Chunks()
	if restored := chunkFiles(t, rcs.Dir()); len(restored) != len(want) {
		t.Fatalf("restored %d chunks, want %d", len(restored), len(want))
	}
	fs, err := r.Files(ctx, id)
	if err != nil || len(fs) != 1 {
		t.Fatalf("restored files %v %v", fs, err)
	}
	var buf bytes.Buffer
	if err := r.ReadFile(ctx, fs[0].Manifest, &buf); err != nil || !bytes.Equal(buf.Bytes(), secret) {
		t.Fatalf("restored file: %v", err)
	}
	r.Close()

	// Damage a chunk of the backup: refused, named.
	for p := range got {
		os.WriteFile(filepath.Join(dest, ChunkFolder, p), []byte("flipped"), 0o600)
		break
	}
	if _, err := RestoreBackup(ctx, dest, filepath.Join(t.TempDir(), "r2"), phrase, ""); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("restore of a damaged backup: %v", err)
	}
}
