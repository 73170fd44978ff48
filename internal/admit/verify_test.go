package admit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/keys"
)

// TestVerifyMarksExactlyTheGood checks that Verify, batching its chunks,
// leaves exactly the bad changes unverified, wherever they fall.
func TestVerifyMarksExactlyTheGood(t *testing.T) {
	var vault keys.VaultID
	var in []Incoming
	for a := range 3 {
		_, priv, _ := ed25519.GenerateKey(nil)
		for i := range 70 {
			c, err := change.NewRoot(vault, priv, time.Unix(int64(a*1000+i), 0))
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, Incoming{ID: c.ID, Raw: c.Raw})
		}
	}
	bad := map[int]bool{0: true, 63: true, 64: true, 150: true, len(in) - 1: true}
	for i := range bad {
		raw := append([]byte{}, in[i].Raw...)
		raw[len(raw)-1-i%8] ^= 0x10 // in the signature
		in[i].Raw = raw
		if i == 150 {
			in[i].ID[0] ^= 1 // and this one claims another id
		} else {
			in[i].ID = sha256.Sum256(raw)
		}
	}
	Verify(in)
	for i, c := range in {
		if got := c.Verified.Change() != nil; got == bad[i] {
			t.Fatalf("change %d (bad: %v): verified %v", i, bad[i], got)
		}
	}
}
