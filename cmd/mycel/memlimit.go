package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// memoryLimit is the soft limit on the Go runtime's memory that a
// long-running command (`mycel up`, `mycel node`) sets, unless GOMEMLIMIT
// does: past it the collector runs more often, rather than letting the
// heap grow to twice what is live. A first sync of 100,000 objects keeps
// 100–130 MB live on each side; without it each side's peak RSS was
// 330–370 MB (the collector's headroom), with it 198 and 247 MB, for some
// 15 % more CPU.
const memoryLimit = 160 << 20

// limitFor is the limit for a live heap of live bytes: memoryLimit, or a
// quarter more than what is live when that is more. A fixed limit with as
// much live (a node serving ten devices of a vault of 100,000 objects
// keeps some 190 MB of what it knows of each object at each) would have
// the collector run without pause, up to the half of the CPU Go caps it
// at; a quarter more lets it run once every quarter of the heap allocated
// (four times as often as with no limit), and leaves the 100–130 MB a
// device keeps live in a first sync of 100,000 objects under 160 MiB (with
// half again, it peaked at 271 MB rather than 250, as fast).
func limitFor(live uint64) int64 { return max(memoryLimit, int64(live+live/4)) }

// limitMemory keeps the limit at limitFor the live heap, checked every
// second until ctx ends, unless GOMEMLIMIT names a limit of its own.
func limitMemory(ctx context.Context) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(memoryLimit)
	go func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				debug.SetMemoryLimit(limitFor(sample[0].Value.Uint64()))
			}
		}
	}()
}
