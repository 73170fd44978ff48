package bench

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestInitialSyncMemoryBounded syncs 10,000 objects of 20 changes from a
// node to a fresh device, both `mycel` processes, and bounds each one's
// peak RSS: 127 and 138 MB when written on a quiet machine, 132 and 165
// with other tests running (BENCHMARKS.md, session 26; 100,000 objects: 198
// and 247). A graph kept for every object, per-peer maps of every object or
// a page cache per connection each added tens of MB here.
func TestInitialSyncMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mycel and runs a node and a device process")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "mycel")
	if out, err := exec.Command("go", "build", "-o", exe, "mycel/cmd/mycel").CombinedOutput(); err != nil {
		t.Fatalf("build mycel: %v: %s", err, out)
	}
	r, err := InitialSync(context.Background(), exe, dir, 10_000, 20, nil)
	if err != nil {
		t.Fatal(err)
	}
	const mb = 1 << 20
	t.Logf("synced %d changes in %v: node %d MB, device %d MB", r.Changes, r.Wall, r.NodeRSS/mb, r.DeviceRSS/mb)
	if r.NodeRSS > 170*mb || r.DeviceRSS > 190*mb {
		t.Errorf("peak RSS node %d MB, device %d MB: over the budget of 170 and 190 MB", r.NodeRSS/mb, r.DeviceRSS/mb)
	}
}
