package node

import (
	"context"
	"crypto/sha256"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
)

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

func p2pHeads(t *testing.T, v *Vault, obj change.ID) []change.ID {
	var hs []change.ID
	v.Store().View(context.Background(), func(tx store.Tx) (err error) {
		hs, err = tx.Heads(obj)
		return err
	})
	return hs
}
