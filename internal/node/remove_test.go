package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mycel/internal/markdown"
	"mycel/internal/member"
	"mycel/internal/store"
	"mycel/internal/vault"
)

// nodeWithVault opens a node on dir with the vault of a new device e
// registered on it (recs: its membership records). The caller closes n.
func nodeWithVault(t *testing.T, dir string) (n *Node, e *vault.Engine, recs [][]byte, v *Vault) {
	t.Helper()
	ctx := context.Background()
	n, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err = vault.Init(ctx, filepath.Join(t.TempDir(), "d"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	recs, _ = e.MemberRecords(ctx)
	if v, err = n.Register(ctx, e.VaultID(), e.DeviceKey(), recs); err != nil {
		t.Fatal(err)
	}
	return n, e, recs, v
}

// A member's signed request removes an object from the node's store and
// keeps it out (every device's changes of it refused, with the reason)
// until a later restore; a request not signed by a member, or older than
// the last one, does nothing; the removal outlives a restart.
func TestRemoveObjectOnRequest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n, e, recs, v := nodeWithVault(t, dir)
	var err error
	obj, _ := e.Create(ctx, vault.NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("x\n")})
	kept, _ := e.Create(ctx, vault.NewPage{Details: map[string]string{"title": "U"}, Blocks: markdown.Parse("y\n")})
	receiveAll := func(id [32]byte) error {
		ids, raws, _ := e.Changes(ctx, id)
		for i := range ids {
			if _, err := v.Receive(ctx, ids[i], raws[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for _, id := range [][32]byte{obj, kept} {
		if err := receiveAll(id); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now()
	_, stranger, _ := ed25519.GenerateKey(nil)
	if err := v.RemoveObject(ctx, stranger.Public().(ed25519.PublicKey), member.SignRemoval(stranger, e.VaultID(), obj, false, at)); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("a stranger's request: %v", err)
	}
	forged := member.SignRemoval(stranger, e.VaultID(), obj, false, at)
	if err := v.RemoveObject(ctx, e.DeviceKey(), forged); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("a request signed by another key: %v", err)
	}
	if err := v.RemoveObject(ctx, e.DeviceKey(), e.SignNodeRemoval(vault.NodeRemoval{Object: obj, Restore: false, TimeMs: at.UnixMilli()})); err != nil {
		t.Fatal(err)
	}
	count := func(id [32]byte) int {
		var ms []store.ChangeMeta
		v.db.View(ctx, func(tx store.Tx) (err error) { ms, err = tx.Changes(id, 0); return err })
		return len(ms)
	}
	if count(obj) != 0 || count(kept) == 0 {
		t.Fatalf("after the removal: %d changes of the object, %d of the other", count(obj), count(kept))
	}
	if err := receiveAll(obj); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "removed page") {
		t.Fatalf("a change of the removed object: %v", err)
	}
	// An older restore does nothing; a later one lets the changes in.
	if err := v.RemoveObject(ctx, e.DeviceKey(), e.SignNodeRemoval(vault.NodeRemoval{Object: obj, Restore: true, TimeMs: (at.Add(-time.Second)).UnixMilli()})); err != nil {
		t.Fatal(err)
	}
	if err := receiveAll(obj); !errors.Is(err, ErrRejected) {
		t.Fatalf("after an older restore: %v", err)
	}
	n.Close()
	n, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if v, err = n.Register(ctx, e.VaultID(), e.DeviceKey(), recs); err != nil {
		t.Fatal(err)
	}
	if err := receiveAll(obj); !errors.Is(err, ErrRejected) {
		t.Fatalf("after a restart: %v", err)
	}
	if err := v.RemoveObject(ctx, e.DeviceKey(), e.SignNodeRemoval(vault.NodeRemoval{Object: obj, Restore: true, TimeMs: (at.Add(time.Second)).UnixMilli()})); err != nil {
		t.Fatal(err)
	}
	if err := receiveAll(obj); err != nil || count(obj) == 0 {
		t.Fatalf("after a restore: %v, %d changes", err, count(obj))
	}
	// Its Heads still carry the removal request (why the node once
	// dropped what it had confirmed), not the restore.
	// (The count of requests carried out since the restart: the restore.)
	if proof, removed, gen := v.RemovalProof(obj); removed || proof == nil || proof.Restore || proof.TimeMs != at.UnixMilli() || len(proof.Device) == 0 || gen != 1 {
		t.Fatalf("after a restore: proof %v, removed %v, gen %d", proof, removed, gen)
	}
	if proof, removed, gen := v.RemovalProof(kept); removed || proof != nil || gen != 0 {
		t.Fatalf("an object never removed: proof %v, removed %v, gen %d", proof, removed, gen)
	}
}

// Changes of the object arriving while it is removed: none of them is
// left once the removal returns (receives hold the lock the purge takes).
func TestRemoveObjectWhileChangesArrive(t *testing.T) {
	ctx := context.Background()
	n, e, _, v := nodeWithVault(t, t.TempDir())
	defer n.Close()
	obj, _ := e.Create(ctx, vault.NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("x\n")})
	for i := range 50 {
		if _, err := e.AppendMarkdown(ctx, obj, fmt.Sprintf("line %d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	ids, raws, _ := e.Changes(ctx, obj)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range ids {
			v.Receive(ctx, ids[i], raws[i]) // refused once the removal is marked
		}
	}()
	if err := v.RemoveObject(ctx, e.DeviceKey(), e.SignNodeRemoval(vault.NodeRemoval{Object: obj, TimeMs: time.Now().UnixMilli()})); err != nil {
		t.Fatal(err)
	}
	<-done
	var left int
	v.db.View(ctx, func(tx store.Tx) error {
		ms, err := tx.Changes(obj, 0)
		ps, _, _ := tx.Parked(obj)
		left = len(ms) + len(ps)
		return err
	})
	if left != 0 {
		t.Fatalf("%d changes of the removed object stored or parked after its removal", left)
	}
}

// The objects a vault's devices may ask about are bounded: past the bound
// a request for another is refused, saying so, while one for an object
// asked about before still counts. Each is kept on its own, and those kept
// all in one setting (before) are still read.
func TestRemovalsAreBounded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n, e, recs, v := nodeWithVault(t, dir)
	var err error
	defer func(m int) { maxRemovals = m }(maxRemovals)
	maxRemovals = 3
	at := time.Now()
	ask := func(obj byte, restore bool, ms int64) error {
		return v.RemoveObject(ctx, e.DeviceKey(), e.SignNodeRemoval(vault.NodeRemoval{Object: [32]byte{obj}, Restore: restore, TimeMs: at.UnixMilli() + ms}))
	}
	for i := range byte(3) {
		if err := ask(i, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := ask(9, false, 0); err == nil || !strings.Contains(err.Error(), "at most 3 pages") {
		t.Fatalf("a fourth object: %v", err)
	}
	if err := ask(8, true, 0); err != nil || len(v.removed) != 3 {
		t.Fatalf("a restore of one never removed: %v, %d kept", err, len(v.removed))
	}
	if err := ask(1, true, 1); err != nil || v.isRemoved([32]byte{1}) {
		t.Fatalf("a restore of one asked about: %v", err)
	}
	// What the format before kept, all in one setting, is read too; an
	// entry of its own wins.
	legacy := fmt.Sprintf(`{"%x": {"time_ms": 5, "removed": true}, "%x": {"time_ms": 5, "removed": true}}`, [32]byte{7}, [32]byte{1})
	if err := v.db.Update(ctx, func(tx store.Tx) error { return tx.SetSetting(removedSetting, []byte(legacy)) }); err != nil {
		t.Fatal(err)
	}
	n.Close()
	if n, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if v, err = n.Register(ctx, e.VaultID(), e.DeviceKey(), recs); err != nil {
		t.Fatal(err)
	}
	if !v.isRemoved([32]byte{0}) || v.isRemoved([32]byte{1}) || !v.isRemoved([32]byte{7}) {
		t.Fatalf("after a restart: %v %v %v", v.isRemoved([32]byte{0}), v.isRemoved([32]byte{1}), v.isRemoved([32]byte{7}))
	}
}
