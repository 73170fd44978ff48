package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"mycel/internal/files"
	"mycel/internal/keys"
	"mycel/internal/store/memstore"
	"mycel/internal/vault"
)

// FilesResult is `mycel bench files`: a set of mixed files added to a
// vault, beside the two limits measured in the same run.
type FilesResult struct {
	Files int
	Bytes int64
	// Limits: a raw copy of the bytes over loopback TCP, and hashing
	// plus sealing them on every core.
	Loopback, Seal time.Duration
	Add            time.Duration // StoreFile of every file from disk
	Stored         int64         // bytes in the chunk folder after the add
	StoredAgain    int64         // after adding the same files again
	PeakRSS        uint64
}

// MBps is bytes over d in MB/s (10^6).
func MBps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

// fileSizes is the mix of a set of total bytes: a few files of 200 MB
// (three in 1 GiB), the rest photos of about 4 MB.
func fileSizes(total int64, r *rand.Rand) []int64 {
	var out []int64
	big := int64(200e6)
	for n := 0; n < 3 && total >= 2*big; n++ {
		out = append(out, big)
		total -= big
	}
	for total > 0 {
		s := min(total, int64(3e6+r.IntN(2e6)))
		out = append(out, s)
		total -= s
	}
	return out
}

// writeFiles writes the set into dir, streamed (never whole in memory).
func writeFiles(dir string, sizes []int64) ([]string, error) {
	var paths []string
	buf := make([]byte, 1<<20)
	for i, s := range sizes {
		p := filepath.Join(dir, fmt.Sprintf("file-%03d.bin", i))
		f, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		r := rand.New(rand.NewPCG(uint64(i), 42))
		for left := s; left > 0; {
			n := min(int64(len(buf)), left)
			for j := 0; j < int(n); j += 8 {
				v := r.Uint64()
				for k := 0; k < 8 && j+k < int(n); k++ {
					buf[j+k] = byte(v >> (8 * k))
				}
			}
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return nil, err
			}
			left -= n
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// sealAll times hashing and sealing the files' bytes in 1 MiB pieces on
// every core: what a device must do to store them, without chunking or
// writing.
func sealAll(paths []string) (time.Duration, error) {
	k := files.NewKeys([32]byte{1})
	work := make(chan []byte, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out []byte
			for b := range work {
				_, out = k.Seal(out[:0], b)
			}
		}()
	}
	start := time.Now()
	var err error
	pieces := make([][]byte, 2*runtime.GOMAXPROCS(0)+1)
	i := 0
	for _, p := range paths {
		var f *os.File
		if f, err = os.Open(p); err != nil {
			break
		}
		for {
			b := pieces[i%len(pieces)]
			if b == nil {
				b = make([]byte, 1<<20)
				pieces[i%len(pieces)] = b
			}
			n, rerr := io.ReadFull(f, b)
			if n > 0 {
				work <- b[:n]
				i++
			}
			if rerr != nil {
				break
			}
		}
		f.Close()
	}
	close(work)
	wg.Wait()
	return time.Since(start), err
}

// Files measures the local half of `mycel bench files`: total bytes of
// mixed files written in dir, then added to a fresh vault there.
func Files(ctx context.Context, dir string, total int64, progress func(string)) (FilesResult, error) {
	var r FilesResult
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o700); err != nil {
		return r, err
	}
	sizes := fileSizes(total, rand.New(rand.NewPCG(1, 2)))
	progress(fmt.Sprintf("writing %d files (%s)", len(sizes), files.Bytes(total)))
	paths, err := writeFiles(src, sizes)
	if err != nil {
		return r, err
	}
	r.Files, r.Bytes = len(paths), total
	progress("loopback copy")
	if r.Loopback, err = median3(func() (time.Duration, error) { return tcpCopy(total) }); err != nil {
		return r, err
	}
	progress("sealing on every core")
	if r.Seal, err = sealAll(paths); err != nil {
		return r, err
	}
	phrase, err := keys.NewPhrase()
	if err != nil {
		return r, err
	}
	e, err := vault.Create(ctx, filepath.Join(dir, "a"), memstore.New(), phrase, "bench")
	if err != nil {
		return r, err
	}
	defer e.Close()
	add := func() error {
		for i, p := range paths {
			progress(fmt.Sprintf("adding %d of %d", i+1, len(paths)))
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = e.StoreFile(ctx, f, vault.StoreFileOptions{Name: filepath.Base(p)})
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}
	start := time.Now()
	if err := add(); err != nil {
		return r, err
	}
	r.Add = time.Since(start)
	cs, err := e.Chunks()
	if err != nil {
		return r, err
	}
	if _, r.Stored, err = cs.Usage(); err != nil {
		return r, err
	}
	if err := add(); err != nil {
		return r, err
	}
	if _, r.StoredAgain, err = cs.Usage(); err != nil {
		return r, err
	}
	r.PeakRSS = PeakRSS()
	return r, nil
}
