package vault

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
)

// Trusting a node again clears its marks only (given by address or peer
// id), keeps the words it signed, and --all clears every node's.
func TestTrustNodeAgain(t *testing.T) {
	ctx := context.Background()
	e, _, err := Init(ctx, filepath.Join(t.TempDir(), "v"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	mark := func(node string, obj byte) {
		e.Store().Update(ctx, func(tx store.Tx) error {
			return tx.PutNodeAck(store.NodeAck{Node: node, Object: change.ID{obj}, Heads: []change.ID{{9}}, Time: 5, Sig: []byte("s"), Lied: 7})
		})
	}
	mark("12D3KooWA", 1)
	mark("12D3KooWA", 2)
	mark("12D3KooWB", 1)
	if _, err := e.TrustNodeAgain(ctx, "/ip4/127.0.0.1/tcp/1"); err == nil || !strings.Contains(err.Error(), "/p2p/") {
		t.Fatalf("an address without its node: %v", err)
	}
	if n, err := e.TrustNodeAgain(ctx, "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWA"); err != nil || n != 2 {
		t.Fatalf("by address: %d, %v", n, err)
	}
	lies, err := e.NodeLies(ctx)
	if err != nil || len(lies) != 1 || lies[0].Node != "12D3KooWB" {
		t.Fatalf("left: %+v, %v", lies, err)
	}
	e.Store().View(ctx, func(tx store.Tx) error {
		if a, err := tx.NodeAck("12D3KooWA", change.ID{1}); err != nil || len(a.Heads) != 1 || a.Lied != 0 {
			t.Fatalf("the word kept: %+v, %v", a, err)
		}
		return nil
	})
	if n, err := e.TrustNodeAgain(ctx, ""); err != nil || n != 1 {
		t.Fatalf("every node: %d, %v", n, err)
	}
}
