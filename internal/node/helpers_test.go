package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"

	"mycel/internal/p2p"

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

func newLoopbackHost(key ed25519.PrivateKey) (host.Host, error) {
	return p2p.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
}
