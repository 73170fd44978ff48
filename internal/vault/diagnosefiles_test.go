package vault

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"mycel/internal/files"
)

// Diagnostics list a page's files by size and state, largest first, and
// nothing names them: no name, type or id, not in the text either.
func TestDiagnoseFiles(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "P"})
	small := storeBytes(t, a, "secretname.png", []byte("small"))
	big := storeBytes(t, a, "otherfile.pdf", bytes.Repeat([]byte("big "), 100))
	far := storeBytes(t, b, "faraway.bin", []byte("not on a"))
	if _, err := a.AddFileBlocks(ctx, id, []*files.Manifest{small, big, far}); err != nil {
		t.Fatal(err)
	}
	d, err := a.Diagnose(ctx, id, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Files) != 3 || d.Files[0].Bytes != big.Size || d.Files[0].State != "here" || d.Files[2].Bytes != small.Size || !d.Files[2].Image {
		t.Fatalf("files: %+v", d.Files)
	}
	if d.Files[1].State != "not here" || d.Files[1].Here != 0 || d.Files[1].Chunks != 1 {
		t.Fatalf("a file not here: %+v", d.Files[1])
	}
	j, _ := json.Marshal(d)
	for _, s := range []string{"secretname", "otherfile", "faraway", small.ID(), big.ID()[:16], "image/png", "application/pdf"} {
		if strings.Contains(string(j), s) {
			t.Fatalf("diagnostics name a file (%s):\n%s", s, j)
		}
	}
}
