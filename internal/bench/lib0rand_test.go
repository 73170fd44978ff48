package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
)

// The values lib0 0.2.120 gives for the same calls (node, prng.create(42)).
func TestLib0Rand(t *testing.T) {
	g := newLib0Rand(42)
	if w, i, u, b, w2 := g.word(10, 10), g.int(0, 1000), g.int(0, 0x7fffffff), g.bool(), g.word(2, 10); w != "tljbcfpjav" || i != 285 || u != 1921326902 || !b || w2 != "scctve" {
		t.Fatalf("got %q %d %d %v %q", w, i, u, b, w2)
	}
	var s []byte
	for i := range 2000 {
		s = append(s, g.word(0, 20)...)
		s = strconv.AppendInt(s, int64(g.int(0, i)), 10)
	}
	if h := sha256.Sum256(s); hex.EncodeToString(h[:]) != "51255d94b436022c68d7213c45e640a0788c16f9a691ac74ee52c14068a58a4c" {
		t.Fatalf("stream differs from lib0's")
	}
}
