package change

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"testing"
	"time"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"pgregory.net/rapid"

	"mycel/internal/keys"
	"mycel/internal/pb"
)

// signedRaw encodes body (whose author is set here) signed by sign, which
// gets the signed message: changes no honest device makes.
func signedRaw(t testing.TB, body *pb.ChangeBody, author []byte, sign func(msg []byte) []byte) []byte {
	t.Helper()
	body.Author = author
	b, err := pb.MarshalCanonical(body)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := pb.MarshalCanonical(&pb.SignedChange{Body: b, Signature: sign(append([]byte(signContext), b...))})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func rootBody(nonce byte) *pb.ChangeBody {
	n := make([]byte, keys.NonceSize)
	n[0] = nonce
	return &pb.ChangeBody{VaultId: make([]byte, 32), TimestampMs: 1700000000000, Nonce: n}
}

// torsion returns the eight points of small order, [i]T for a T of order 8.
func torsion(t testing.TB) []curve.EdwardsPoint {
	t.Helper()
	for y := byte(2); y != 0; y++ {
		var enc curve.CompressedEdwardsY
		var p, t8, t4 curve.EdwardsPoint
		enc[0] = y
		if _, err := p.SetCompressedY(&enc); err != nil {
			continue
		}
		t8.Mul(&p, scalar.BASEPOINT_ORDER) // p's small-order part, times L (odd)
		t4.Add(&t8, &t8)
		if t4.Add(&t4, &t4); t4.IsIdentity() {
			continue // not of order 8
		}
		out := make([]curve.EdwardsPoint, 8)
		out[0].Identity()
		for i := 1; i < 8; i++ {
			out[i].Add(&out[i-1], &t8)
		}
		return out
	}
	t.Fatal("no point of order 8 found")
	return nil
}

// oddKeys are encodings of keys no device holds: the small-order points,
// canonical and not (sign bit flipped, which for x = 0 is not canonical,
// and y + p for y < 19).
func oddKeys(t testing.TB) [][]byte {
	var out [][]byte
	for _, p := range torsion(t) {
		var enc curve.CompressedEdwardsY
		enc.SetEdwardsPoint(&p)
		flip := enc
		flip[31] ^= 0x80
		out = append(out, enc[:], flip[:])
		if enc[31]&0x7f == 0 && enc[0] < 19 && isZero(enc[1:31]) {
			// y + p, p = 2^255 - 19 = ed ff .. ff 7f (little-endian)
			nc := [32]byte{0xed + enc[0]}
			for i := 1; i < 31; i++ {
				nc[i] = 0xff
			}
			nc[31] = 0x7f | enc[31]&0x80
			out = append(out, nc[:])
		}
	}
	return out
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// torsionSigner signs as priv's holder could, with R = [r]B + T for a
// small-order T: the cofactored equation holds, the cofactorless one
// (crypto/ed25519's) does not.
func torsionSigner(t testing.TB, priv ed25519.PrivateKey, T *curve.EdwardsPoint) func([]byte) []byte {
	digest := sha512.Sum512(priv.Seed())
	digest[0] &= 248
	digest[31] &= 127
	digest[31] |= 64
	var a scalar.Scalar
	if _, err := a.SetBits(digest[:32]); err != nil {
		t.Fatal(err)
	}
	a.Reduce(&a)
	pub := priv.Public().(ed25519.PublicKey)
	return func(msg []byte) []byte {
		var r, k, s scalar.Scalar
		if _, err := r.SetRandom(nil); err != nil {
			t.Fatal(err)
		}
		var R curve.EdwardsPoint
		R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &r)
		R.Add(&R, T)
		var enc curve.CompressedEdwardsY
		enc.SetEdwardsPoint(&R)
		h := sha512.New()
		h.Write(enc[:])
		h.Write(pub)
		h.Write(msg)
		if _, err := k.SetBytesModOrderWide(h.Sum(nil)); err != nil {
			t.Fatal(err)
		}
		s.Add(&r, k.Mul(&k, &a))
		sig := append([]byte{}, enc[:]...)
		sb := make([]byte, 32)
		if err := s.ToBytes(sb); err != nil {
			t.Fatal(err)
		}
		return append(sig, sb...)
	}
}

// trivialSigner signs for a small-order key: R = [s]B, S = s, which holds
// when [k]A is the identity (one message in ord(A)).
func trivialSigner(t testing.TB) func([]byte) []byte {
	return func([]byte) []byte {
		var s scalar.Scalar
		if _, err := s.SetRandom(nil); err != nil {
			t.Fatal(err)
		}
		var R curve.EdwardsPoint
		var enc curve.CompressedEdwardsY
		enc.SetEdwardsPoint(R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &s))
		sb := make([]byte, 32)
		if err := s.ToBytes(sb); err != nil {
			t.Fatal(err)
		}
		return append(enc[:], sb...)
	}
}

// addOrder returns sig with L added to S (when it fits in 256 bits): the
// same scalar mod L, refused by both as not canonical.
func addOrder(sig []byte) []byte {
	l := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 31: 0x10}
	out := append([]byte{}, sig...)
	carry := 0
	for i := range 32 {
		v := int(out[32+i]) + int(l[i]) + carry
		out[32+i], carry = byte(v), v>>8
	}
	return out
}

// sameAsVerify checks VerifyBatch against Verify for every element.
func sameAsVerify(t testing.TB, ids []ID, raws [][]byte) (accepted int) {
	t.Helper()
	vs, errs := VerifyBatch(ids, raws)
	for i := range ids {
		want, werr := Verify(ids[i], raws[i])
		got := vs[i].Change()
		switch {
		case (got == nil) != (want.Change() == nil):
			t.Fatalf("change %d: batch accepts %v, alone %v (%v / %v)", i, got != nil, want.Change() != nil, errs[i], werr)
		case fmt.Sprint(errs[i]) != fmt.Sprint(werr):
			t.Fatalf("change %d: batch says %v, alone %v", i, errs[i], werr)
		case got != nil && (got.ID != want.Change().ID || fmt.Sprint(*got) != fmt.Sprint(*want.Change())):
			t.Fatalf("change %d: batch made %+v, alone %+v", i, got, want.Change())
		case got != nil:
			accepted++
		}
	}
	return accepted
}

func TestBatchMatchesVerify(t *testing.T) {
	var privs []ed25519.PrivateKey
	for range 3 {
		_, priv, _ := ed25519.GenerateKey(nil)
		privs = append(privs, priv)
	}
	ts := torsion(t)
	odd := oddKeys(t)
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 40).Draw(rt, "n")
		ids, raws := make([]ID, n), make([][]byte, n)
		for i := range n {
			priv := privs[rapid.IntRange(0, len(privs)-1).Draw(rt, "author")]
			pub := []byte(priv.Public().(ed25519.PublicKey))
			sign := func(m []byte) []byte { return ed25519.Sign(priv, m) }
			body := rootBody(byte(i))
			claim := true // the id is the hash of the bytes
			var raw []byte
			switch rapid.IntRange(0, 10).Draw(rt, "kind") {
			case 0, 1, 2: // good
			case 3: // a signature's bit flipped
				bit := rapid.IntRange(0, 511).Draw(rt, "bit")
				sign = func(m []byte) []byte {
					s := ed25519.Sign(priv, m)
					s[bit/8] ^= 1 << (bit % 8)
					return s
				}
			case 4: // S + L
				sign = func(m []byte) []byte { return addOrder(ed25519.Sign(priv, m)) }
			case 5: // signed by another key
				other := privs[(rapid.IntRange(1, len(privs)-1).Draw(rt, "other")+slicesIndex(privs, priv))%len(privs)]
				sign = func(m []byte) []byte { return ed25519.Sign(other, m) }
			case 6: // R with a small-order part
				sign = torsionSigner(t, priv, &ts[rapid.IntRange(1, 7).Draw(rt, "torsion")])
			case 7: // a well-signed change whose fields are wrong
				body.Ciphertext = []byte{1}
			case 8: // a key no device holds
				pub = odd[rapid.IntRange(0, len(odd)-1).Draw(rt, "odd")]
				sign = trivialSigner(t)
			case 10: // a signature a byte short or long
				sign = func(m []byte) []byte {
					s := ed25519.Sign(priv, m)
					if rapid.Bool().Draw(rt, "short") {
						return s[:63]
					}
					return append(s, 0)
				}
			case 9: // a byte of the change flipped, or a wrong id
				claim = rapid.Bool().Draw(rt, "claim")
				raw = signedRaw(t, body, pub, sign)
				if claim {
					at := rapid.IntRange(0, len(raw)-1).Draw(rt, "at")
					raw[at] ^= byte(rapid.IntRange(1, 255).Draw(rt, "xor"))
				}
			}
			if raw == nil {
				raw = signedRaw(t, body, pub, sign)
			}
			raws[i], ids[i] = raw, sha256.Sum256(raw)
			if !claim {
				ids[i][0] ^= 1
			}
		}
		sameAsVerify(t, ids, raws)
	})
}

func slicesIndex(privs []ed25519.PrivateKey, p ed25519.PrivateKey) int {
	for i, q := range privs {
		if q.Equal(p) {
			return i
		}
	}
	return -1
}

// TestBatchEdgeCases runs each kind of signature crypto/ed25519 and a
// cofactored verifier judge differently, in batches large enough for
// their authors' tables, and checks that the batch judges as
// crypto/ed25519 does.
func TestBatchEdgeCases(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	pub := []byte(priv.Public().(ed25519.PublicKey))
	if newAuthorTable(pub) == nil {
		t.Fatal("no table for a real key")
	}
	var ids []ID
	var raws [][]byte
	add := func(raw []byte) {
		ids, raws = append(ids, sha256.Sum256(raw)), append(raws, raw)
	}
	for i := range 8 {
		add(signedRaw(t, rootBody(byte(i)), pub, func(m []byte) []byte { return ed25519.Sign(priv, m) }))
	}
	for i, T := range torsion(t)[1:] {
		sign := torsionSigner(t, priv, &T)
		raw := signedRaw(t, rootBody(byte(100+i)), pub, func(m []byte) []byte {
			sig := sign(m)
			if !voi.Verify(pub, m, sig) || ed25519.Verify(pub, m, sig) {
				t.Fatal("the torsion signature is not one the two equations judge differently")
			}
			return sig
		})
		add(raw)
		add(signedRaw(t, rootBody(byte(120+i)), pub, func(m []byte) []byte { return addOrder(ed25519.Sign(priv, m)) }))
	}
	accepted := 0
	for _, key := range oddKeys(t) {
		if newAuthorTable(key) != nil {
			t.Fatalf("a table for the odd key %x", key)
		}
		for i := range 24 {
			add(signedRaw(t, rootBody(byte(i)), key, trivialSigner(t)))
		}
	}
	// Each in a batch of its own, all in one, and the good ones together.
	for i := range ids {
		accepted += sameAsVerify(t, ids[i:i+1], raws[i:i+1])
	}
	if all := sameAsVerify(t, ids, raws); all != accepted {
		t.Fatalf("%d accepted in one batch, %d one by one", all, accepted)
	}
	if accepted <= 8 {
		t.Fatalf("%d accepted: no signature by a small-order key passed, the test tests less than it says", accepted)
	}
	if n := sameAsVerify(t, ids[:8], raws[:8]); n != 8 {
		t.Fatalf("%d of 8 good changes accepted", n)
	}
}

// TestBatchOfRealChanges runs changes as devices make them.
func TestBatchOfRealChanges(t *testing.T) {
	var ids []ID
	var raws [][]byte
	for range 3 {
		root, c, _, priv := fixture(t)
		ids, raws = append(ids, root.ID, c.ID), append(raws, root.Raw, c.Raw)
		for i := range 5 {
			r, err := NewRoot(root.VaultID, priv, time.Unix(int64(i), 0))
			if err != nil {
				t.Fatal(err)
			}
			ids, raws = append(ids, r.ID), append(raws, r.Raw)
		}
	}
	if n := sameAsVerify(t, ids, raws); n != len(ids) {
		t.Fatalf("%d of %d accepted", n, len(ids))
	}
	bad := append([]byte{}, raws[1]...)
	bad[len(bad)-1] ^= 1 // in the signature
	raws[1] = bad
	ids[1] = sha256.Sum256(bad)
	if n := sameAsVerify(t, ids, raws); n != len(ids)-1 {
		t.Fatalf("%d of %d accepted", n, len(ids)-1)
	}
	if _, errs := VerifyBatch(ids, raws); errs[1] == nil {
		t.Fatal("a broken signature passed")
	}
}

// Verifying every change of a sync one by one, and as batches of 64.
func BenchmarkVerify(b *testing.B) {
	var ids []ID
	var raws [][]byte
	var vault keys.VaultID
	for range 2 {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		for i := range 64 {
			r, err := NewRoot(vault, priv, time.Unix(int64(i), 0))
			if err != nil {
				b.Fatal(err)
			}
			ids, raws = append(ids, r.ID), append(raws, r.Raw)
		}
	}
	_, c, _, _ := fixture(b)
	for i := range ids {
		if i%2 == 0 { // half of them carry content
			ids[i], raws[i] = c.ID, c.Raw
		}
	}
	b.Run("single", func(b *testing.B) {
		n := 0
		for i := 0; b.Loop(); i++ {
			if _, err := Verify(ids[i%len(ids)], raws[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/change")
	})
	b.Run("batch64", func(b *testing.B) {
		n := 0
		for i := 0; b.Loop(); i++ {
			lo := i % 2 * 64
			_, errs := VerifyBatch(ids[lo:lo+64], raws[lo:lo+64])
			if errs[0] != nil {
				b.Fatal(errs[0])
			}
			n += 64
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/change")
	})
	// Every batch by authors not seen before: their tables built each time.
	b.Run("batch64cold", func(b *testing.B) {
		n := 0
		for i := 0; b.Loop(); i++ {
			tableCache.Lock()
			tableCache.m = nil
			tableCache.Unlock()
			lo := i % 2 * 64
			_, errs := VerifyBatch(ids[lo:lo+64], raws[lo:lo+64])
			if errs[0] != nil {
				b.Fatal(errs[0])
			}
			n += 64
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/change")
	})
}

// Whatever the bytes, a batch of one judges them as Verify does, with the
// author's table in use (the fixture's key has one).
func FuzzBatchMatchesVerify(f *testing.F) {
	root, c, _, _ := fixture(f)
	if authorTable([32]byte(root.Author), tableAfter) == nil {
		f.Fatal("no table for the fixture's key")
	}
	f.Add(root.Raw)
	f.Add(c.Raw)
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameAsVerify(t, []ID{sha256.Sum256(raw)}, [][]byte{raw})
	})
}

// Changes checked one at a time (a node relaying, a device receiving its
// peers' edits) get their author's table once the author has signed a
// few: signatures are counted across batches.
func TestTableAfterSignaturesAcrossBatches(t *testing.T) {
	root, c, _, _ := fixture(t)
	tableCache.Lock()
	tableCache.m, tableCache.seen = nil, nil
	tableCache.Unlock()
	hasTable := func() bool {
		tableCache.Lock()
		defer tableCache.Unlock()
		_, ok := tableCache.m[[32]byte(root.Author)]
		return ok
	}
	for i := range tableAfter {
		if hasTable() {
			t.Fatalf("a table after %d signatures, before %d", i, tableAfter)
		}
		x := []*Change{root, c}[i%2]
		if _, errs := VerifyBatch([]ID{x.ID}, [][]byte{x.Raw}); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	if !hasTable() {
		t.Fatalf("no table after %d signatures one batch at a time", tableAfter)
	}
	sameAsVerify(t, []ID{c.ID}, [][]byte{c.Raw}) // and it judges as before
}
