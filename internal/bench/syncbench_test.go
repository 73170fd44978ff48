package bench

import (
	"context"
	"os"
	"strconv"
	"testing"
)

// TestInitialSyncExe times the initial sync alone, with the node and the
// device as processes of the mycel executable MYCEL_BENCH_EXE names (none:
// skipped), of MYCEL_BENCH_OBJECTS objects (default 10,000) of 20
// changes: `mycel bench scale` without its commands, for profiling the
// sync (MYCEL_CPUPROFILE=FILE gives FILE.node.N and FILE.up.N).
func TestInitialSyncExe(t *testing.T) {
	exe := os.Getenv("MYCEL_BENCH_EXE")
	if exe == "" {
		t.Skip("MYCEL_BENCH_EXE names no mycel executable")
	}
	objects := 10000
	if n, err := strconv.Atoi(os.Getenv("MYCEL_BENCH_OBJECTS")); err == nil {
		objects = n
	}
	r, err := InitialSync(context.Background(), exe, t.TempDir(), objects, 20, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sync %v (device CPU %v, node CPU %v); verify-all %v, copy %v; RSS node %d MB, device %d MB; %.2f× the verify-all limit",
		r.Wall, r.DeviceCPU, r.NodeCPU, r.VerifyAll, r.TCPCopy, r.NodeRSS>>20, r.DeviceRSS>>20, r.Wall.Seconds()/r.VerifyAll.Seconds())
}
