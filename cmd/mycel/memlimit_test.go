package main

import (
	"context"
	"math"
	"runtime/debug"
	"testing"
)

// TestLimitMemory: long-running commands hold the Go runtime to
// memoryLimit, unless GOMEMLIMIT names a limit (the runtime read it);
// with more live than four fifths of it, to a quarter more than what is
// live.
func TestLimitMemory(t *testing.T) {
	was := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(was)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t.Setenv("GOMEMLIMIT", "")
	debug.SetMemoryLimit(math.MaxInt64)
	limitMemory(ctx)
	if got := debug.SetMemoryLimit(-1); got != memoryLimit {
		t.Fatalf("limit %d, want %d", got, memoryLimit)
	}
	cancel()
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetMemoryLimit(1 << 30) // what the runtime took from it at start
	limitMemory(context.Background())
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Fatalf("with GOMEMLIMIT set the limit became %d", got)
	}
	for _, c := range []struct {
		live uint64
		want int64
	}{{0, memoryLimit}, {120 << 20, memoryLimit}, {200 << 20, 250 << 20}} {
		if got := limitFor(c.live); got != c.want {
			t.Errorf("limit for %d MiB live: %d MiB, want %d", c.live>>20, got>>20, c.want>>20)
		}
	}
}
