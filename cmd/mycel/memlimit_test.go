package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestLimitMemory: long-running commands hold the Go runtime to
// memoryLimit, unless GOMEMLIMIT names a limit (the runtime read it).
func TestLimitMemory(t *testing.T) {
	was := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(was)
	t.Setenv("GOMEMLIMIT", "")
	debug.SetMemoryLimit(math.MaxInt64)
	limitMemory()
	if got := debug.SetMemoryLimit(-1); got != memoryLimit {
		t.Fatalf("limit %d, want %d", got, memoryLimit)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetMemoryLimit(1 << 30) // what the runtime took from it at start
	limitMemory()
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Fatalf("with GOMEMLIMIT set the limit became %d", got)
	}
}
