package main

import (
	"os"
	"runtime/debug"
)

// memoryLimit is the soft limit on the Go runtime's memory that a
// long-running command (`mycel up`, `mycel node`) sets, unless GOMEMLIMIT
// does: past it the collector runs more often, rather than letting the
// heap grow to twice what is live. A first sync of 100,000 objects keeps
// 100–130 MB live on each side; without it each side's peak RSS was
// 330–370 MB (the collector's headroom), with it 227 and 253 MB, for some
// 15 % more CPU. It is soft: with more than this live (a much larger
// vault) the collector does not spin, Go caps what it takes at half the
// CPU, and the heap grows past the limit.
const memoryLimit = 160 << 20

// limitMemory sets memoryLimit, unless GOMEMLIMIT names a limit of its own.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}
