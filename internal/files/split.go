package files

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"

	chunkers "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/jc" // registers jc-v1.1.0
)

// scanBuffer is the chunker's read buffer, its default size: the least
// it takes is MaxChunk, but then it moves the bytes left over to the
// front after most chunks, which cost a quarter more CPU an add here.
const scanBuffer = 2 * MaxChunk

// algorithm is the chunker, by its versioned name: a version names one
// exact cutting rule, so files cut today dedupe with the same file later.
const algorithm = "jc-v1.1.0"

// ErrTooLarge is wrapped when a file is over the limit it is added under.
var ErrTooLarge = errors.New("file too large")

// Split reads r to its end, cuts it, and seals and puts the chunks on
// every core: put is called from several goroutines at once, in no order
// (sealed is only valid during the call), so that storing one chunk (a
// write and a sync, milliseconds) overlaps sealing the next. The refs
// come back in file order. At most a few chunks are in memory at once,
// whatever the file's size. A file over limit bytes (0: DefaultMaxFile)
// stops with ErrTooLarge; a put that fails stops it with its error.
func (k Keys) Split(r io.Reader, limit int64, put func(ref Ref, sealed []byte) error) (refs []Ref, size uint64, whole [32]byte, err error) {
	if limit <= 0 {
		limit = DefaultMaxFile
	}
	c, err := chunkers.NewChunkerBuffer(algorithm, &limitedReader{r: r, left: limit + 1}, &chunkers.ChunkerOpts{
		MinSize: MinChunk, NormalSize: AvgChunk, MaxSize: MaxChunk, Key: k.cut,
	}, make([]byte, scanBuffer))
	if err != nil {
		return nil, 0, whole, fmt.Errorf("files: chunker: %w", err)
	}
	workers := min(runtime.GOMAXPROCS(0), 4)
	type job struct {
		buf  []byte // the plaintext, then the same bytes sealed in place
		ref  Ref
		err  error // put's
		done chan struct{}
	}
	// In memory at once: the scan buffer, and a buffer for each chunk in
	// order (workers), the one being put and the one being read:
	// workers+2 of at most MaxChunk+Overhead. Twice that in the heap: the
	// collector lets it grow to twice what is live before it runs.
	jobs := make(chan *job)
	order := make(chan *job, workers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				// Sealed over its own plaintext (which nothing needs once
				// sealed): one buffer a chunk, not two.
				j.ref, j.buf = k.Seal(j.buf[:0], j.buf)
				j.err = put(j.ref, j.buf)
				close(j.done)
			}
		}()
	}
	// Jobs are reused through a free list, not a sync.Pool: a Pool keeps
	// what one goroutine put in that P's own slot, which the reader on
	// another P cannot take, so it made a fresh buffer (one chunk more in
	// memory than the bound above: TestSplitMemoryBounded, 1 run in ~20).
	free := make(chan *job, workers+2)
	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(jobs)
		for {
			select {
			case <-stop:
				readErr <- nil
				return
			default:
			}
			data, err := c.Next()
			if err != nil && err != io.EOF {
				readErr <- err
				return
			}
			if len(data) > 0 {
				var j *job
				select {
				case j = <-free:
				default:
					j = &job{}
				}
				if cap(j.buf) < len(data)+Overhead {
					// Room for the seal's tag too, so that sealing in
					// place allocates nothing.
					j.buf = make([]byte, 0, len(data)+Overhead)
				}
				j.buf = append(j.buf[:0], data...) // data is the chunker's buffer
				j.done = make(chan struct{})
				order <- j
				jobs <- j
			}
			if err == io.EOF {
				readErr <- nil
				return
			}
		}
	}()
	var putErr error
	for j := range order {
		<-j.done
		if putErr == nil {
			size += uint64(j.ref.Size)
			refs = append(refs, j.ref)
			if putErr = j.err; putErr == nil && size > uint64(limit) {
				putErr = fmt.Errorf("%w: over the limit of %s", ErrTooLarge, Bytes(limit))
			}
			if putErr != nil {
				close(stop)
			}
		}
		select {
		case free <- j:
		default:
		}
	}
	wg.Wait()
	if err := <-readErr; err != nil && putErr == nil {
		if errors.Is(err, errOverLimit) {
			return nil, 0, whole, fmt.Errorf("%w: over the limit of %s", ErrTooLarge, Bytes(limit))
		}
		return nil, 0, whole, err
	}
	if putErr != nil {
		return nil, 0, whole, putErr
	}
	return refs, size, WholeHash(size, refs), nil
}

// WholeHash is a file's hash: SHA-256 over its size and its chunks'
// plaintext hashes, in order. It names the file's bytes as surely as a
// hash of them (each chunk hash does its chunk) and costs no second pass
// over them; the cut points are the vault's, so it names a file within
// its vault only.
func WholeHash(size uint64, refs []Ref) [32]byte {
	h := sha256.New()
	h.Write([]byte("mycel/file/v1\n"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], size)
	h.Write(n[:])
	for _, r := range refs {
		h.Write(r.Hash[:])
	}
	return [32]byte(h.Sum(nil))
}

var errOverLimit = errors.New("over the limit")

// limitedReader reads r, failing once more than left bytes came.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errOverLimit
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// Bytes says a byte count the way people read it: 512 B, 9.9 MB, 4 GiB
// limits as set.
func Bytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	if n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	if n%(1<<20) == 0 && n < 1<<30 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// ParseBytes reads a size as people write it: 500MB, 10GiB, 1.5 GB, 4096
// (bytes). Units: B, kB/KB, MB, GB, TB (powers of 1000); KiB, MiB, GiB,
// TiB (of 1024).
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 500MB, 10GiB)", s)
	}
	mult := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, unit)
	}
	if v*mult > 1<<62 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v * mult), nil
}
