package vault

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/files"
)

// A JSON export holds the files; imported into another vault they are
// stored again under its keys and read back byte for byte; imported on
// another device of the same vault, the chunks it lacks come from the
// export. A file the exporting device lacks is listed by both.
func TestJSONExportFiles(t *testing.T) {
	a, b := pair(t)
	// Random and over MaxChunk: the two vaults' keyed chunkers cut it
	// differently, so its id differs between them (a 360 KB file was one
	// chunk in both, mostly, and the import refused it now and then).
	photo := make([]byte, files.MaxChunk+1<<20)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range photo {
		photo[i] = byte(rnd.Uint32())
	}
	id, _ := a.Create(ctx, NewPage{Title: "P"})
	m := storeBytes(t, a, "photo.jpg", photo)
	far := storeBytes(t, b, "far.bin", []byte("only on b"))
	if _, err := a.AddFileBlocks(ctx, id, []*files.Manifest{m, far}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "json")
	r, err := a.ExportJSONReport(ctx, dir, nil)
	if err != nil || r.Objects != 1 || r.Files != 1 || len(r.NotExported) != 1 || !strings.Contains(r.NotExported[0], "far.bin") {
		t.Fatalf("export: %+v %v", r, err)
	}
	read := func(e *Engine, pid interface{ String() string }, name string) []byte {
		t.Helper()
		for _, o := range titles(t, e) {
			fs, _ := e.Files(ctx, o)
			for _, f := range fs {
				if f.Manifest.Name == name {
					var buf bytes.Buffer
					if err := e.ReadFile(ctx, f.Manifest, &buf); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					return buf.Bytes()
				}
			}
		}
		t.Fatalf("no file %s", name)
		return nil
	}
	c := solo(t)
	ir, err := c.ImportJSON(ctx, dir)
	if err != nil || ir.Created != 1 || ir.Files != 1 || len(ir.Skipped) != 1 || !strings.Contains(ir.Skipped[0], "far.bin") {
		t.Fatalf("import into another vault: %+v %v", ir, err)
	}
	if !bytes.Equal(read(c, id, "photo.jpg"), photo) {
		t.Fatal("photo differs in the other vault")
	}
	// Again: nothing changes.
	if ir, err = c.ImportJSON(ctx, dir); err != nil || ir.Created != 0 || ir.Updated != 0 {
		t.Fatalf("second import: %+v %v", ir, err)
	}
	// The same vault's other device, without the chunks.
	if ir, err = b.ImportJSON(ctx, dir); err != nil || ir.Files != 1 {
		t.Fatalf("import on b: %+v %v", ir, err)
	}
	if !bytes.Equal(read(b, id, "photo.jpg"), photo) {
		t.Fatal("photo differs on b")
	}
}
