package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// cpuProfileEnv names a file to which a long-running command (`mycel
// node`, `mycel up`) writes its CPU profile when it stops: `mycel bench
// node-load --profile` sets it for the node it runs, which is another
// process, and a benchmark's device (`mycel up`) is profiled the same way.
// Not a flag: no one runs a node or a device for this but a benchmark.
const cpuProfileEnv = "MYCEL_CPUPROFILE"

// startCPUProfile starts the CPU profile cpuProfileEnv asks for, if any;
// the function returned stops it and writes the file.
func startCPUProfile() (func(), error) {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// heapProfileEnv names a file to which a long-running command (`mycel
// node`, `mycel up`) writes a heap profile each time its heap in use has
// grown by a twentieth over the largest seen: at its end the file shows
// the heap at its peak (what `mycel bench` reports as peak RSS). The
// command's name is added to the file's (FILE.node, FILE.up), so that a
// benchmark's node and device, both given the variable, write apart. For
// benchmarks, as cpuProfileEnv.
const heapProfileEnv = "MYCEL_HEAPPROFILE"

// startHeapProfile starts the sampling heapProfileEnv asks for, if any, on
// behalf of command; the function returned stops it. Beside the profile,
// FILE.COMMAND.mem gets a line of the runtime's memory figures each second
// (in MiB): what the heap holds and what the process asked of the system
// for it, to tell from the peak RSS what is not the Go heap (SQLite's).
func startHeapProfile(command string) func() {
	path := os.Getenv(heapProfileEnv)
	if path == "" {
		return func() {}
	}
	path += "." + command
	mem, _ := os.Create(path + ".mem")
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		if mem != nil {
			defer mem.Close()
			fmt.Fprintln(mem, "seconds heap-alloc heap-inuse heap-idle-kept stacks runtime-total gcs")
		}
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		var peak uint64
		start := time.Now()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if mem != nil && i%4 == 0 {
				const mib = 1 << 20
				fmt.Fprintf(mem, "%.0f %d %d %d %d %d %d\n", time.Since(start).Seconds(), ms.HeapAlloc/mib, ms.HeapInuse/mib,
					(ms.HeapIdle-ms.HeapReleased)/mib, ms.StackInuse/mib, (ms.Sys-ms.HeapReleased)/mib, ms.NumGC)
			}
			if ms.HeapInuse <= peak+peak/20 {
				continue
			}
			peak = ms.HeapInuse
			if f, err := os.Create(path); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}
