package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"mycel/internal/admit"
	"mycel/internal/device"
	"mycel/internal/node"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
	"mycel/internal/vault"
)

// TestInitialSyncKill9 kills a fresh device's `mycel up` (-9) several
// times during its initial sync, each time at a random moment after some
// batch was stored: after every kill the store opens, keeps every batch
// it had stored and checks clean; a restarted device then finishes the
// sync, and every change and every page's text is there. A received
// batch writes its changes, index rows, search text and snapshots in one
// transaction, which a kill must leave whole or not at all.
func TestInitialSyncKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mycel and runs a node and a device process")
	}
	ctx := context.Background()
	dir := t.TempDir()
	exe := filepath.Join(dir, "mycel")
	if out, err := exec.Command("go", "build", "-o", exe, "mycel/cmd/mycel").CombinedOutput(); err != nil {
		t.Fatalf("build mycel: %v: %s", err, out)
	}
	a, phrase, err := vault.Init(ctx, filepath.Join(dir, "a"), "writer")
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := a.MemberRecords(ctx)
	n, err := node.Open(filepath.Join(dir, "node"))
	if err != nil {
		t.Fatal(err)
	}
	nv, err := n.Register(ctx, a.VaultID(), a.DeviceKey(), recs)
	if err != nil {
		t.Fatal(err)
	}
	const objects, per = 600, 20
	all, err := generate(a, phrase, objects, per)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	admit.Verify(all)
	if _, _, err := nv.ReceiveBatch(ctx, all); err != nil {
		t.Fatal(err)
	}
	n.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	np, err := startNode(sctx, exe, filepath.Join(dir, "node"), filepath.Join(dir, "node.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer np.stop()

	data := filepath.Join(dir, "b")
	b, err := vault.Recover(ctx, data, phrase, "reader")
	if err != nil {
		t.Fatal(err)
	}
	if err := device.Register(ctx, b, np.addr); err != nil {
		t.Fatal(err)
	}
	b.Close()
	lastSeq := func() int64 {
		db, err := sqlite.Open(filepath.Join(data, vault.DBFile))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var last int64
		if err := db.View(ctx, func(tx store.Tx) (err error) {
			last, err = tx.LastSeq()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return last
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 14))
	// waitFor polls f until it holds, with a deadline: the sync's progress
	// is only visible in the store.
	waitFor := func(what string, f func() bool) {
		for deadline := time.Now().Add(2 * time.Minute); !f(); time.Sleep(pollEvery) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 2 minutes", what)
			}
		}
	}
	total := int64(len(all))
	var before int64
	for k := 1; k <= 4; k++ {
		dp, err := startDeviceProcess(sctx, exe, data)
		if err != nil {
			t.Fatal(err)
		}
		goal := before + (total-before)/3
		waitFor(fmt.Sprintf("kill %d: %d changes stored", k, goal), func() bool { return lastSeq() >= goal })
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond) // a random moment, not a wait
		dp.cmd.Process.Kill()
		dp.cmd.Wait()
		e, err := vault.Open(data)
		if err != nil {
			t.Fatalf("kill %d: the store does not open: %v", k, err)
		}
		r, err := e.Check(ctx, false)
		if err != nil || len(r.Problems) != 0 {
			t.Fatalf("kill %d: check: %v %v", k, err, r.Problems)
		}
		if int64(r.Changes) < goal {
			t.Fatalf("kill %d: %d changes after %d were stored", k, r.Changes, goal)
		}
		before = int64(r.Changes)
		if err := e.Close(); err != nil {
			t.Fatalf("kill %d: close: %v", k, err)
		}
		t.Logf("kill %d: %d of %d changes, %d objects", k, r.Changes, total, r.Objects)
	}
	dp, err := startDeviceProcess(sctx, exe, data)
	if err != nil {
		t.Fatal(err)
	}
	waitFor("complete sync", func() bool { return lastSeq() >= total })
	if _, err := dp.stop(); err != nil {
		t.Fatal(err)
	}
	e, err := vault.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r, err := e.Check(ctx, false)
	if err != nil || len(r.Problems) != 0 || r.Changes != len(all) || r.Objects != objects {
		t.Fatalf("after the sync: %d changes of %d objects (want %d of %d): %v %v", r.Changes, r.Objects, len(all), objects, err, r.Problems)
	}
	for _, o := range []int{0, objects / 2, objects - 1} {
		page, err := e.Search(ctx, fmt.Sprintf(`"Change %d of object %d"`, per-1, o), vault.SearchOptions{Limit: 5})
		if err != nil || len(page.Hits) != 1 {
			t.Fatalf("search object %d's last text: %v %+v", o, err, page)
		}
	}
}
