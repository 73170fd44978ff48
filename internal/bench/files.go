package bench

import (
	"context"
	"errors"
	"fmt"
	peer "github.com/libp2p/go-libp2p/core/peer"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"mycel/internal/device"
	"mycel/internal/durable"
	"mycel/internal/files"
	"mycel/internal/node"
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
	// Disk: writing the bytes as durable 1 MiB files (a sync of each and
	// of its folder), four at once: what a node must do before it says
	// a chunk is pinned (not one of the two limits; shown beside).
	Disk        time.Duration
	Add         time.Duration // StoreFile of every file from disk
	Stored      int64         // bytes in the chunk folder after the add
	StoredAgain int64         // after adding the same files again
	// Upload: device a's running device, from its start until the node
	// pinned every file; Download: a fresh device fetching them all.
	Upload, Download time.Duration
	PeakRSS          uint64 // of this process: node and both devices
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

// durableWrites times writing total bytes as 1 MiB files, each synced
// with its folder, four writers at once; the files are removed after.
func durableWrites(dir string, total int64) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	buf := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	n := int((total + int64(len(buf)) - 1) / int64(len(buf)))
	var g errgroup.Group
	start := time.Now()
	for w := range 4 {
		g.Go(func() error {
			for i := w; i < n; i += 4 { // as a node stores a chunk
				if err := durable.WriteNew(filepath.Join(dir, fmt.Sprint(i)), buf); err != nil {
					return err
				}
				if err := durable.SyncDir(dir); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	return time.Since(start), err
}

// Files is `mycel bench files`: total bytes of mixed files written in
// dir, added to a vault there, uploaded by its running device to a node
// over loopback (in this process) until every file is pinned, then
// fetched by a fresh device of the vault and checked.
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
	progress("durable writes")
	if r.Disk, err = durableWrites(filepath.Join(dir, "disk"), total); err != nil {
		return r, err
	}
	a, phrase, err := vault.Init(ctx, filepath.Join(dir, "a"), "laptop")
	if err != nil {
		return r, err
	}
	defer a.Close()
	b, err := vault.Recover(ctx, filepath.Join(dir, "b"), phrase, "phone")
	if err != nil {
		return r, err
	}
	defer b.Close()
	n, err := node.Open(filepath.Join(dir, "node"))
	if err != nil {
		return r, err
	}
	defer n.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	addr, closeHost, err := serveLoopback(sctx, n)
	if err != nil {
		return r, err
	}
	defer closeHost()
	for _, e := range []*vault.Engine{a, b} {
		if err := device.Register(ctx, e, addr); err != nil {
			return r, err
		}
	}
	page, err := a.Create(ctx, vault.NewPage{Details: map[string]string{"title": "Files"}})
	if err != nil {
		return r, err
	}
	var ms []*files.Manifest
	add := func() error {
		ms = ms[:0]
		for i, p := range paths {
			progress(fmt.Sprintf("adding %d of %d", i+1, len(paths)))
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			m, err := a.StoreFile(ctx, f, vault.StoreFileOptions{Name: filepath.Base(p)})
			f.Close()
			if err != nil {
				return err
			}
			ms = append(ms, m)
		}
		return nil
	}
	start := time.Now()
	if err := add(); err != nil {
		return r, err
	}
	r.Add = time.Since(start)
	cs, err := a.Chunks()
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
	if _, err := a.AddFileBlocks(ctx, page, ms); err != nil {
		return r, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	progress("uploading to the node")
	start = time.Now()
	da, err := device.Start(sctx, a, nodeOnly(log))
	if err != nil {
		return r, err
	}
	defer da.Close()
	nodePeer, err := peerOf(addr)
	if err != nil {
		return r, err
	}
	// Polled cheaply (one indexed query: the full status of 1,000 chunks
	// each 100 ms took an eighth of the cores from what is measured); the
	// full status confirms at the end.
	if err := until(ctx, func() (bool, error) {
		left, err := a.ChunksNotHeld(ctx, nodePeer, files.Address{}, 1)
		if err != nil || len(left) > 0 {
			return false, err
		}
		fs, err := da.Files(ctx, page)
		if err != nil {
			return false, err
		}
		pinned := 0
		for _, f := range fs {
			if f.Pinned {
				pinned++
			}
		}
		progress(fmt.Sprintf("uploading: %d of %d files pinned", pinned, len(fs)))
		return len(fs) == len(ms) && pinned == len(fs), nil
	}); err != nil {
		return r, err
	}
	r.Upload = time.Since(start)
	db, err := device.Start(sctx, b, nodeOnly(log))
	if err != nil {
		return r, err
	}
	defer db.Close()
	if err := until(ctx, func() (bool, error) {
		fs, _ := b.Files(ctx, page) // an error until the page is here
		return len(fs) == len(ms), nil
	}); err != nil {
		return r, err
	}
	progress("downloading to a fresh device")
	start = time.Now()
	if err := db.FetchFiles(ctx, ms); err != nil {
		return r, err
	}
	r.Download = time.Since(start)
	for _, m := range ms {
		if err := b.ReadFile(ctx, m, io.Discard); err != nil {
			return r, fmt.Errorf("the fresh device's copy: %w", err)
		}
	}
	r.PeakRSS = PeakRSS()
	return r, nil
}

// peerOf is the peer id in a /p2p/ address, as devices record peers.
func peerOf(addr string) (string, error) {
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return "", err
	}
	return info.ID.String(), nil
}

// until polls cond every 100 ms until it holds, fails, or 10 minutes pass.
func until(ctx context.Context, cond func() (bool, error)) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // a file status costs a stat per chunk
		}
	}
}
