package bench

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestNodeLoadKill runs the node-load benchmark small: 6 devices in 2
// vaults against a `mycel node` process (built here), a closed-loop run
// and one in which the node is killed -9 halfway; no change any device
// saw acknowledged may be missing from the node after its restart.
func TestNodeLoadKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mycel and runs a node process")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "mycel")
	if out, err := exec.Command("go", "build", "-o", exe, "mycel/cmd/mycel").CombinedOutput(); err != nil {
		t.Fatalf("build mycel: %v: %s", err, out)
	}
	l, err := NewNodeLoad(NodeLoadConfig{Exe: exe, Dir: dir, Devices: 6, Vaults: 2, Progress: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := l.Run(ctx, 0, 2*time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("closed loop: %d acknowledged (%.0f/s), p50 %v, p99 %v, node RSS %.1f MB", r.Acked, r.AckedPerSec(), r.P50, r.P99, float64(r.NodeRSS)/(1<<20))
	if r.Acked == 0 || r.Unacked != 0 {
		t.Fatalf("%d acknowledged, %d written and not acknowledged", r.Acked, r.Unacked)
	}
	if r.NodeRSS == 0 {
		t.Error("the node's peak RSS was not read")
	}
	k, err := l.Run(ctx, 0, 2*time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed -9 halfway: %d of %d acknowledged changes lost", k.Lost, k.AckedInStore)
	if !k.Killed || k.AckedInStore < r.Acked || k.Lost != 0 {
		t.Fatalf("kill -9: killed %v, %d of %d acknowledged changes lost (the first run acknowledged %d)", k.Killed, k.Lost, k.AckedInStore, r.Acked)
	}
}
