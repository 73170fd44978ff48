package files

import (
	"io"
	"runtime"
	"sync"
	"testing"
)

// zeros reads n zero bytes without holding them.
type zeros struct{ left int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), z.left))
	clear(p[:n])
	z.left -= int64(n)
	return n, nil
}

// Split holds a bounded number of chunk buffers whatever the file's size:
// the chunker's scan buffer and one buffer a chunk in flight (workers+2),
// each chunk sealed over its own plaintext. Go's collector lets the heap
// grow to twice what is live, so every buffer more than that costs a
// process twice its size (a 1.5 GB add peaked at 154 MB of RSS when a
// chunk's plaintext and sealed bytes had a buffer each). Zeros cut at the
// largest chunk size, the worst case; live memory is measured after a
// collection forced while chunks are in flight.
func TestSplitMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("seals 200 MiB")
	}
	k := vaultKeys(1)
	var mu sync.Mutex
	var peak uint64
	var biggest uint32
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	_, size, _, err := k.Split(&zeros{left: 25 * MaxChunk}, 0, func(r Ref, _ []byte) error {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		peak = max(peak, m.HeapAlloc-min(m.HeapAlloc, base.HeapAlloc))
		biggest = max(biggest, r.Size)
		mu.Unlock()
		return nil
	})
	if err != nil || size != 25*MaxChunk {
		t.Fatalf("split: %d bytes, %v", size, err)
	}
	if biggest != MaxChunk {
		t.Fatalf("the largest chunk is %d bytes, not %d: zeros no longer test the worst case", biggest, MaxChunk)
	}
	workers := min(runtime.GOMAXPROCS(0), 4)
	bound := uint64(scanBuffer + (workers+2)*(MaxChunk+Overhead) + 2<<20) // 2 MiB: everything else
	t.Logf("live during the split: %.1f MiB, bound %.1f MiB (%d workers)", float64(peak)/(1<<20), float64(bound)/(1<<20), workers)
	if peak > bound {
		t.Fatalf("%.1f MiB live while splitting, over the %.1f MiB of the scan buffer and one buffer a chunk in flight", float64(peak)/(1<<20), float64(bound)/(1<<20))
	}
}
