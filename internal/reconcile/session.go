package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Tuning. A range whose fingerprints differ is answered with the list of
// its items when small, else split by count into sub-ranges with their
// fingerprints. How depends on how dense the differences look in the
// message being answered (how many of its fingerprints differed):
//   - sparse: split wide, straight to ranges small enough to list, so one
//     difference among 100,000 items is found in three round trips;
//   - dense: split 8 ways down to short lists, which costs more round
//     trips but fewer bytes per difference when there are many.
//
// Hashes on the wire are salted per session, so a collision of these short
// hashes only hides a difference until the next session (a new salt).
const (
	sparseBranch = 64
	sparseList   = 32
	denseBranch  = 8
	denseList    = 8
	bigFPLen     = 8    // fingerprint bytes for ranges of more than bigRange items
	fpLen        = 3    // fingerprint bytes for smaller ranges
	bigRange     = 4096 //
	itemLen      = 4    // bytes of a salted item hash in a list
	SaltSize     = 16
	MaxMsg       = 8 << 20 // bytes; a larger message is refused
	version      = 1
	modeSkip     = 0
	modeList     = 1
	modeReply    = 2
	modeFP       = 0x10 // | fingerprint length
)

// ErrMessage is wrapped by every error about a malformed message.
var ErrMessage = errors.New("malformed reconciliation message")

// bound is an exclusive upper bound: ids whose first len(prefix) bytes
// compare below prefix. inf is past every id.
type bound struct {
	prefix []byte
	inf    bool
}

// Session is one side of a reconciliation.
type Session struct {
	set  *Set
	salt []byte
	diff map[ID]struct{}
	// Statistics: bytes and messages each way.
	BytesSent, BytesReceived int
	MsgsSent, MsgsReceived   int
}

// Initiate starts a session with a fresh salt; send the returned message.
func Initiate(set *Set, salt [SaltSize]byte) (*Session, []byte) {
	s := &Session{set: set, salt: salt[:], diff: map[ID]struct{}{}}
	var w writer
	w.b = append(w.b, version)
	w.b = append(w.b, salt[:]...)
	s.fingerprint(&w, 0, set.Len(), bound{inf: true})
	return s, s.sent(w.b)
}

// Respond answers a session another peer initiated.
func Respond(set *Set) *Session {
	return &Session{set: set, diff: map[ID]struct{}{}}
}

func (s *Session) sent(b []byte) []byte {
	s.BytesSent += len(b)
	s.MsgsSent++
	return b
}

// Differences lists the ids this side has learned differ (it holds an item
// the other lacks or holds with another value, or the other holds one it
// lacks), sorted. Each side learns the ids of the items it holds that
// differ, and more; together they learn every difference.
func (s *Session) Differences() []ID {
	out := make([]ID, 0, len(s.diff))
	for id := range s.diff {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// Next handles a message and returns the reply to send, or nil when the
// reconciliation is complete on this side.
func (s *Session) Next(msg []byte) ([]byte, error) {
	s.BytesReceived += len(msg)
	s.MsgsReceived++
	if len(msg) > MaxMsg {
		return nil, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrMessage, len(msg), MaxMsg)
	}
	r := reader{b: msg}
	if v := r.byte(); v != version {
		return nil, fmt.Errorf("%w: version %d, this side speaks %d", ErrMessage, v, version)
	}
	if s.salt == nil {
		s.salt = r.bytes(SaltSize)
	}
	var w writer
	w.b = append(w.b, version)
	lo := 0 // index of the first item of the current range
	var prev bound
	first := true
	pendingSkip := false
	flushSkip := func(upTo bound) {
		if pendingSkip {
			w.bound(upTo)
			w.b = append(w.b, modeSkip)
			pendingSkip = false
		}
	}
	emitted := false
	// First pass: how many fingerprints differ, to judge density.
	dense := s.density(r.b)
	for !r.done() && r.err == nil {
		b := r.bound()
		if r.err != nil {
			break
		}
		if !first && !less(prev, b) {
			return nil, fmt.Errorf("%w: ranges out of order", ErrMessage)
		}
		if prev.inf && !first {
			return nil, fmt.Errorf("%w: range after the end", ErrMessage)
		}
		first = false
		hi := s.set.lowerBound(b)
		if hi < lo {
			hi = lo
		}
		mode := r.byte()
		switch {
		case mode == modeSkip:
			pendingSkip = true
		case mode&0xf0 == modeFP:
			n := int(mode & 0x0f)
			theirs := r.bytes(n)
			if n == 0 || r.err != nil {
				return nil, fmt.Errorf("%w: bad fingerprint", ErrMessage)
			}
			if bytes.Equal(s.fp(lo, hi, n), theirs) {
				pendingSkip = true
				break
			}
			flushSkip(prev)
			s.differ(&w, lo, hi, b, dense)
			emitted = true
		case mode == modeList:
			count := r.count()
			theirs := r.bytes(count * itemLen)
			if r.err != nil {
				return nil, fmt.Errorf("%w: bad list", ErrMessage)
			}
			mine := map[string]bool{}
			for i := lo; i < hi; i++ {
				mine[string(s.itemHash(i))] = true
			}
			got := map[string]bool{}
			bitmap := make([]byte, (count+7)/8)
			missing := false
			for i := 0; i < count; i++ {
				h := string(theirs[i*itemLen : (i+1)*itemLen])
				got[h] = true
				if !mine[h] {
					bitmap[i/8] |= 1 << (i % 8)
					missing = true
				}
			}
			for i := lo; i < hi; i++ {
				if !got[string(s.itemHash(i))] {
					s.diff[s.set.items[i].ID] = struct{}{}
				}
			}
			if !missing {
				pendingSkip = true
				break
			}
			flushSkip(prev)
			w.bound(b)
			w.b = append(w.b, modeReply)
			w.count(len(bitmap))
			w.b = append(w.b, bitmap...)
			emitted = true
		case mode == modeReply:
			n := r.count()
			bitmap := r.bytes(n)
			if r.err != nil {
				return nil, fmt.Errorf("%w: bad reply", ErrMessage)
			}
			// Bits name items of the list this side sent for the range.
			for i := lo; i < hi; i++ {
				k := i - lo
				if k/8 < len(bitmap) && bitmap[k/8]&(1<<(k%8)) != 0 {
					s.diff[s.set.items[i].ID] = struct{}{}
				}
			}
			pendingSkip = true
		default:
			return nil, fmt.Errorf("%w: unknown mode %#x", ErrMessage, mode)
		}
		prev, lo = b, hi
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMessage, r.err)
	}
	if !prev.inf {
		return nil, fmt.Errorf("%w: ranges do not reach the end", ErrMessage)
	}
	if !emitted {
		return nil, nil
	}
	flushSkip(prev)
	return s.sent(w.b), nil
}

// density reports whether differences look dense in a message's ranges
// (its body after the header): at least four of its fingerprints differ
// from ours, and at least an eighth of them. Errors are left to Next.
func (s *Session) density(body []byte) bool {
	r := reader{b: body}
	lo, fps, differ := 0, 0, 0
	for !r.done() && r.err == nil {
		b := r.bound()
		hi := s.set.lowerBound(b)
		if hi < lo {
			hi = lo
		}
		switch mode := r.byte(); {
		case mode&0xf0 == modeFP:
			theirs := r.bytes(int(mode & 0x0f))
			fps++
			if r.err == nil && !bytes.Equal(s.fp(lo, hi, len(theirs)), theirs) {
				differ++
			}
		case mode == modeList:
			r.bytes(r.count() * itemLen)
		case mode == modeReply:
			r.bytes(r.count())
		}
		lo = hi
	}
	return differ >= 4 && differ*8 >= fps
}

// differ answers a range whose fingerprints differ: with the list of this
// side's items when few, else with fingerprints of sub-ranges.
func (s *Session) differ(w *writer, lo, hi int, b bound, dense bool) {
	n := hi - lo
	listMax, branch := sparseList, sparseBranch
	if dense {
		listMax, branch = denseList, denseBranch
	} else if n <= sparseBranch*sparseList {
		branch = (n + sparseList - 1) / sparseList // straight to listable ranges
	}
	branch = min(branch, n) // every sub-range holds an item
	if n <= listMax {
		w.bound(b)
		w.b = append(w.b, modeList)
		w.count(n)
		for i := lo; i < hi; i++ {
			w.b = append(w.b, s.itemHash(i)...)
		}
		return
	}
	for k := 1; k <= branch; k++ {
		end := lo + n*k/branch
		start := lo + n*(k-1)/branch
		sb := b
		if k < branch {
			sb = separator(s.set.items[end-1].ID, s.set.items[end].ID)
		}
		s.fingerprint(w, start, end, sb)
	}
}

func (s *Session) fingerprint(w *writer, lo, hi int, b bound) {
	n := fpLen
	if hi-lo > bigRange {
		n = bigFPLen
	}
	w.bound(b)
	w.b = append(w.b, byte(modeFP|n))
	w.b = append(w.b, s.fp(lo, hi, n)...)
}

// fp is the salted fingerprint of items[lo:hi], n bytes long.
func (s *Session) fp(lo, hi, n int) []byte {
	total := s.set.prefix[hi].sub(s.set.prefix[lo])
	var buf [SaltSize + 32 + binary.MaxVarintLen64]byte
	k := copy(buf[:], s.salt)
	for i := 0; i < 4; i++ {
		binary.LittleEndian.PutUint64(buf[k+i*8:], total[i])
	}
	k += 32
	k += binary.PutUvarint(buf[k:], uint64(hi-lo))
	h := sha256.Sum256(buf[:k])
	return h[:n]
}

func (s *Session) itemHash(i int) []byte {
	var buf [SaltSize + 32]byte
	copy(buf[:], s.salt)
	copy(buf[SaltSize:], s.set.hashes[i][:])
	h := sha256.Sum256(buf[:])
	return h[:itemLen]
}

// separator is the shortest bound above a and not above b (a < b).
func separator(a, b ID) bound {
	n := 0
	for n < len(a) && a[n] == b[n] {
		n++
	}
	return bound{prefix: slices.Clone(b[:n+1])}
}

func less(a, b bound) bool {
	if a.inf {
		return false
	}
	if b.inf {
		return true
	}
	return bytes.Compare(a.prefix, b.prefix) < 0
}

type writer struct{ b []byte }

func (w *writer) count(n int) { w.b = binary.AppendUvarint(w.b, uint64(n)) }

// bound: 0 for infinity, else 1+len and the prefix.
func (w *writer) bound(b bound) {
	if b.inf {
		w.b = append(w.b, 0)
		return
	}
	w.count(len(b.prefix) + 1)
	w.b = append(w.b, b.prefix...)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) done() bool { return len(r.b) == 0 }

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail("truncated")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) count() int {
	v, k := binary.Uvarint(r.b)
	if k <= 0 || v > uint64(len(r.b))*8+8 {
		r.fail("bad count")
		return 0
	}
	r.b = r.b[k:]
	return int(v)
}

func (r *reader) bound() bound {
	n := r.count()
	if r.err != nil {
		return bound{}
	}
	if n == 0 {
		return bound{inf: true}
	}
	if n-1 > 32 {
		r.fail("bound longer than an id")
		return bound{}
	}
	return bound{prefix: r.bytes(n - 1)}
}
