package change

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"sync"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// VerifyBatch verifies many changes, vs[i] and errs[i] being what
// Verify(ids[i], raws[i]) returns, only faster: signature checks are most
// of the cost of an initial sync.
//
// Why not batch verification proper (one random linear combination of all
// the signatures' equations, as curve25519-voi's BatchVerifier does): it
// checks the cofactored equation [8]([S]B - R - [k]A) = 0, while
// crypto/ed25519 (which every other path and every older device uses)
// checks the cofactorless one, R = [S]B - [k]A, byte for byte. They differ
// on any signature whose R (or key A) has a small-order component, which
// the key's holder can make at will: such a change would pass in a batch of
// good ones and fail alone or beside a bad one, so devices would disagree
// on what history holds. A cofactorless batch cannot be sound (random
// coefficients act on the small-order part only mod 8), and telling that R
// has no small-order part costs a scalar multiplication by L per signature,
// more than the batch saves (measured on one core: the batch of 64 17-25 µs
// a signature, that check 28 µs, crypto/ed25519 alone 41-51 µs).
//
// What is done instead is crypto/ed25519's own computation, faster: the
// batch's authors are few (a vault's devices), so for each author with
// several changes a table of multiples of -A is built once (a fixed-base
// comb, like the one for B), and [S]B + [k](-A) then costs about 130 point
// additions instead of some 250 doublings (24 µs a signature, measured as
// above). The point is the same whatever the multiplication method, its
// encoding is unique, and it is compared with R's bytes as crypto/ed25519
// compares it; S must be below the group order as there; k hashes the
// same bytes. The only step that could differ between the two libraries
// is decoding the key, so a table is built only for a key that is the
// canonical encoding of a point of the prime-order subgroup other than the
// identity (every real key), which both decode alike; any other key
// (non-canonical, small-order, of mixed order, off the curve) is checked
// by crypto/ed25519 itself. So the accepted set is crypto/ed25519's
// exactly, for every signature (tested against it, edge cases included).
func VerifyBatch(ids []ID, raws [][]byte) (vs []Verified, errs []error) {
	vs, errs = make([]Verified, len(ids)), make([]error, len(ids))
	envs := make([]*envelope, len(ids))
	count := map[[32]byte]int{}
	for i, id := range ids {
		if got := ID(sha256.Sum256(raws[i])); got != id {
			errs[i] = invalid("bytes hash to %s, not to the claimed id %s", got.Short(), id.Short())
			continue
		}
		e, err := decodeEnvelope(raws[i])
		if err != nil {
			errs[i] = err
			continue
		}
		envs[i] = e
		count[[32]byte(e.body.Author)]++
	}
	tables := map[[32]byte]*curve.EdwardsBasepointTable{}
	for a, n := range count {
		if t := authorTable(a, n); t != nil {
			tables[a] = t
		}
	}
	for i, e := range envs {
		if e == nil {
			continue
		}
		verifications.Add(1)
		var ok bool
		if t := tables[[32]byte(e.body.Author)]; t != nil {
			ok = verifyWithTable(t, e.body.Author, e.sc.Body, e.sc.Signature)
		} else {
			ok = ed25519.Verify(e.body.Author, append([]byte(signContext), e.sc.Body...), e.sc.Signature)
		}
		if !ok {
			errs[i] = e.badSignature()
			continue
		}
		c, err := e.check(ids[i])
		if err != nil {
			errs[i] = err
			continue
		}
		vs[i] = Verified{c}
	}
	return vs, errs
}

// Tables of authors' keys, kept across batches: building one costs about
// as much as three plain verifications, and a sync brings many batches by
// the same few devices. A table is some 30 KiB; keys without one (nil)
// are remembered too, so that a hostile key is not examined again.
//
// An author's signatures are counted across batches, not only within
// one: a node relaying a busy vault, or a device receiving its peers'
// edits, checks one or two changes at a time, each time by the same few
// authors, and they then get tables too.
const (
	maxTables = 256 // about 8 MB: every device of a node's busiest vaults
	// tableAfter is how many signatures of one author (in this batch and
	// counted before) make a table worth building (break-even near three).
	tableAfter = 4
	// maxCounted bounds the authors whose signatures are counted: when it
	// is reached, those counted once are forgotten (all, if that leaves
	// half).
	maxCounted = 4096
)

var tableCache struct {
	sync.Mutex
	m    map[[32]byte]*curve.EdwardsBasepointTable
	seen map[[32]byte]int // signatures of authors without a table yet
}

// authorTable is the table for key a, found or built when the batch has
// n of its signatures; nil when there is none.
func authorTable(a [32]byte, n int) *curve.EdwardsBasepointTable {
	tableCache.Lock()
	t, ok := tableCache.m[a]
	if !ok {
		if tableCache.seen == nil {
			tableCache.seen = map[[32]byte]int{}
		}
		if len(tableCache.seen) >= maxCounted {
			// Authors seen once go first: keys made up by the thousand
			// must not keep a vault's few devices from their tables.
			for k, c := range tableCache.seen {
				if c <= 1 {
					delete(tableCache.seen, k)
				}
			}
			if len(tableCache.seen) >= maxCounted/2 {
				clear(tableCache.seen)
			}
		}
		tableCache.seen[a] += n
		n = tableCache.seen[a]
	}
	tableCache.Unlock()
	if ok || n < tableAfter {
		return t
	}
	t = newAuthorTable(a[:]) // outside the lock; two workers may both build one
	tableCache.Lock()
	defer tableCache.Unlock()
	if tableCache.m == nil {
		tableCache.m = map[[32]byte]*curve.EdwardsBasepointTable{}
	}
	for k := range tableCache.m {
		if len(tableCache.m) < maxTables {
			break
		}
		delete(tableCache.m, k)
	}
	tableCache.m[a] = t
	delete(tableCache.seen, a)
	return t
}

// newAuthorTable builds the table of multiples of -A for key pub, or
// returns nil when pub is not the canonical encoding of a point of the
// prime-order subgroup other than the identity (see VerifyBatch: then
// crypto/ed25519 judges alone).
func newAuthorTable(pub []byte) *curve.EdwardsBasepointTable {
	var enc, again curve.CompressedEdwardsY
	var a curve.EdwardsPoint
	if _, err := enc.SetBytes(pub); err != nil {
		return nil
	}
	if _, err := a.SetCompressedY(&enc); err != nil {
		return nil
	}
	if again.SetEdwardsPoint(&a); !bytes.Equal(again[:], pub) || a.IsSmallOrder() || !a.IsTorsionFree() {
		return nil
	}
	return curve.NewEdwardsBasepointTable(a.Neg(&a))
}

// verifyWithTable is crypto/ed25519's verification of sig over
// signContext and body by pub, whose table of -A is negA: S canonical,
// k = SHA-512(R || A || message) mod L, and R the encoding of [S]B + [k](-A).
func verifyWithTable(negA *curve.EdwardsBasepointTable, pub, body, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	var s, k scalar.Scalar
	if _, err := s.SetCanonicalBytes(sig[32:]); err != nil {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	h.Write([]byte(signContext))
	h.Write(body)
	var digest [sha512.Size]byte
	if _, err := k.SetBytesModOrderWide(h.Sum(digest[:0])); err != nil {
		return false
	}
	var sB, kA curve.EdwardsPoint
	sB.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &s)
	kA.MulBasepoint(negA, &k)
	var r curve.CompressedEdwardsY
	r.SetEdwardsPoint(sB.Add(&sB, &kA))
	return bytes.Equal(r[:], sig[:32])
}
