package change

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"mycel/internal/crdt"
	"mycel/internal/keys"
	"mycel/internal/pb"
	"mycel/internal/pb/pbtest"
)

func fixture(t testing.TB) (*Change, *Change, [32]byte, ed25519.PrivateKey) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(nil)
	var vault keys.VaultID
	vault[0] = 7
	root, err := NewRoot(vault, priv, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	var readKey [32]byte
	objKey := keys.ObjectKey(readKey, root.ID[:])
	d := crdt.NewDoc()
	tx := d.Begin(string(priv.Public().(ed25519.PublicKey)))
	b := tx.InsertBlock(crdt.ID{}, crdt.ID{}, crdt.TypeParagraph)
	tx.InsertText(b, 0, "secret text")
	gone := tx.InsertBlock(crdt.ID{}, b, crdt.TypeParagraph)
	tx.DeleteBlock(gone) // a delete carries what it saw
	ch := tx.Commit()
	c, err := New(Draft{Object: root.ID, Parents: []ID{root.ID}, Lamport: ch.Start, Time: time.Unix(1700000001, 0), Payload: &Payload{Ops: ch.Ops}}, objKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return root, c, objKey, priv
}

func TestRoundTrip(t *testing.T) {
	root, c, objKey, _ := fixture(t)
	if !root.IsRoot() || c.IsRoot() || c.Object != root.ID {
		t.Fatal("root/object wiring is wrong")
	}
	again, err := ParseWithID(c.ID, c.Raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := again.Open(objKey)
	if err != nil {
		t.Fatal(err)
	}
	d := crdt.NewDoc()
	if err := d.Apply(p.CRDT(again)); err != nil {
		t.Fatal(err)
	}
	if got := d.Text(d.BlockIDs()[0]); got != "secret text" {
		t.Fatalf("text = %q", got)
	}
	if del := p.Ops[len(p.Ops)-1]; del.Kind != crdt.OpDeleteBlock || len(del.Seen) != 1 || del.Seen[0].Counter == 0 {
		t.Fatalf("the delete's seen ops did not survive the round trip: %+v", del)
	}
}

// Flipping any bit is caught: in the header or signature by Parse, in the
// ciphertext by Parse (the signature covers it) and by Open.
func TestForgeriesAreRejected(t *testing.T) {
	_, c, _, _ := fixture(t)
	for i := 0; i < len(c.Raw); i++ {
		for _, bit := range []byte{1, 0x80} {
			raw := append([]byte(nil), c.Raw...)
			raw[i] ^= bit
			if _, err := Parse(raw); err == nil {
				t.Fatalf("flipping bit %#x of byte %d was accepted", bit, i)
			} else if !errors.Is(err, ErrInvalid) {
				t.Fatalf("byte %d: error %v does not wrap ErrInvalid", i, err)
			}
		}
	}
	if _, err := ParseWithID(ID{1}, c.Raw); err == nil {
		t.Fatal("wrong claimed id accepted")
	}
}

func TestWrongKeyCannotOpen(t *testing.T) {
	_, c, objKey, _ := fixture(t)
	objKey[0] ^= 1
	if _, err := c.Open(objKey); !errors.Is(err, ErrInvalid) {
		t.Fatalf("open with wrong key: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	root, c, _, _ := fixture(f)
	f.Add(root.Raw)
	f.Add(c.Raw)
	f.Fuzz(func(t *testing.T, raw []byte) {
		ch, err := Parse(raw)
		if err != nil {
			return
		}
		// Whatever parses must be self-consistent.
		if ch.IsRoot() != (len(ch.Parents) == 0) {
			t.Fatal("root without parents mismatch")
		}
	})
}

func FuzzPayload(f *testing.F) {
	_, c, objKey, _ := fixture(f)
	pt, _ := (&Payload{}).marshal(c.Author, 0)
	f.Add(pt)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := unmarshalPayload(b, c)
		if err != nil {
			return
		}
		// Applying decoded ops must fail cleanly or succeed, never panic.
		_ = crdt.NewDoc().Apply(p.CRDT(c))
		_ = objKey
	})
}

// One change has one id: every other encoding of its signed bytes, or of
// its body under a valid signature, is refused (a node operator holds no
// key, yet could otherwise give a stored change a second id, and a copied
// root a second object).
func TestOnlyTheCanonicalEncodingParses(t *testing.T) {
	root, c, _, priv := fixture(t)
	for _, orig := range []*Change{root, c} {
		for i, raw := range pbtest.Malleations(orig.Raw) {
			if _, err := Parse(raw); !errors.Is(err, ErrInvalid) {
				t.Errorf("malleation %d of the signed change parsed (err %v)", i, err)
			}
		}
		// The author (or anyone with its key) re-signing a re-encoded
		// body: the body is refused as well.
		var sc pb.SignedChange
		if err := proto.Unmarshal(orig.Raw, &sc); err != nil {
			t.Fatal(err)
		}
		for i, body := range pbtest.Malleations(sc.Body) {
			sig := ed25519.Sign(priv, append([]byte(signContext), body...))
			raw, _ := pb.MarshalCanonical(&pb.SignedChange{Body: body, Signature: sig})
			if _, err := Parse(raw); !errors.Is(err, ErrInvalid) {
				t.Errorf("malleation %d of the body parsed (err %v)", i, err)
			}
		}
	}
}

// Whatever bytes are inserted into a change, what still parses is the
// change itself.
func FuzzMalleate(f *testing.F) {
	_, c, _, _ := fixture(f)
	f.Add(len(c.Raw), []byte{0x78, 0x01})
	f.Add(0, []byte{0xa0, 0x06, 0x01})
	f.Add(1, []byte{0x80})
	f.Fuzz(func(t *testing.T, at int, insert []byte) {
		if at < 0 || at > len(c.Raw) || len(insert) == 0 {
			return
		}
		raw := append(append(append([]byte(nil), c.Raw[:at]...), insert...), c.Raw[at:]...)
		if got, err := Parse(raw); err == nil {
			t.Fatalf("%x inserted at %d parsed, as change %s", insert, at, got.ID.Short())
		}
	})
}

// The node sees ciphertext sizes. Edits of up to 40 characters all seal
// to one size, and larger ones to Padmé buckets (at most 12% larger), so a
// size does not tell how many characters were typed.
func TestCiphertextsArePadded(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	var objKey [32]byte
	sizes := map[int]bool{}
	for n := 1; n <= 40; n++ {
		c, err := New(Draft{Object: ID{1}, Parents: []ID{{1}}, Lamport: 5, Time: time.Unix(1700000000, 0),
			Payload: &Payload{Ops: []crdt.Op{{Kind: crdt.OpInsertText, Block: crdt.ID{Counter: 2, Actor: string(priv.Public().(ed25519.PublicKey))}, Text: strings.Repeat("x", n)}}}}, objKey, priv)
		if err != nil {
			t.Fatal(err)
		}
		sizes[len(c.Ciphertext)] = true
		if p, err := c.Open(objKey); err != nil || p.Ops[0].Text != strings.Repeat("x", n) {
			t.Fatalf("padded payload of %d characters does not open: %v", n, err)
		}
	}
	if len(sizes) != 1 {
		t.Fatalf("edits of 1 to 40 characters seal to %d sizes", len(sizes))
	}
	buckets := map[int]bool{}
	for n := minSealed + 1; n < 8<<20; n += 1 + n/500 {
		p := padTo(n)
		if p < n || float64(p-n) > 0.12*float64(n) {
			t.Fatalf("padTo(%d) = %d", n, p)
		}
		buckets[p] = true
		if n > 1<<16 {
			continue
		}
		if b := pad(make([]byte, n)); len(b) != padTo(n+2) {
			t.Fatalf("pad of %d bytes gives %d, want %d", n, len(b), padTo(n+2))
		}
	}
	t.Logf("%d sizes between %d bytes and 8 MiB", len(buckets), minSealed+1)
}

// BenchmarkParse is the cost of receiving a change's envelope: decode,
// the canonical-encoding check, the signature.
func BenchmarkParse(b *testing.B) {
	_, c, _, _ := fixture(b)
	for b.Loop() {
		if _, err := Parse(c.Raw); err != nil {
			b.Fatal(err)
		}
	}
}

// Changes stored by this version parse the same after any upgrade of the
// protobuf library: the canonical check re-encodes, so a library whose
// deterministic encoding changed would make every stored change look
// forged. These bytes were written once and must parse for good.
func TestGoldenChangesStillParse(t *testing.T) {
	b, err := os.ReadFile("testdata/golden-changes.hex")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Fields(string(b)) {
		raw, err := hex.DecodeString(line)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(raw); err != nil {
			t.Fatalf("golden change %d: %v", i, err)
		}
	}
}

// A change with a depth shows the depth, not its first counter, which it
// seals in its payload; a sealed counter of 0, or past crdt.MaxCounter,
// does not open.
func TestCounterIsSealed(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	var objKey [32]byte
	me := string(priv.Public().(ed25519.PublicKey))
	mk := func(lamport, depth uint64) *Change {
		c, err := New(Draft{Object: ID{1}, Parents: []ID{{1}}, Lamport: lamport, Depth: depth, Time: time.Unix(1700000000, 0),
			Payload: &Payload{Ops: []crdt.Op{{Kind: crdt.OpInsertText, Block: crdt.ID{Counter: 2, Actor: me}, Text: "typed"}}}}, objKey, priv)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := mk(123456, 3)
	if c.Lamport != 3 || !c.SealedCounter {
		t.Fatalf("shows lamport %d (sealed %v), want the depth 3", c.Lamport, c.SealedCounter)
	}
	p, err := c.Open(objKey)
	if err != nil || p.CRDT(c).Start != 123456 {
		t.Fatalf("opens to start %d, %v; want 123456", p.CRDT(c).Start, err)
	}
	if old := mk(123456, 0); old.Lamport != 123456 || old.SealedCounter {
		t.Fatalf("without a depth: lamport %d, sealed %v", old.Lamport, old.SealedCounter)
	}
	for _, bad := range []*Change{mk(0, 3), mk(crdt.MaxCounter+1, 3)} {
		if _, err := bad.Open(objKey); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a sealed counter out of bounds opened: %v", err)
		}
	}
}

// A change's file chunk addresses are signed, come back sorted and unique,
// and a body that lists them otherwise (or a root that lists any) is
// refused: the node trusts the list to know what to keep.
func TestChunkAddresses(t *testing.T) {
	root, c, objKey, priv := fixture(t)
	a, b := [32]byte{2}, [32]byte{1}
	d, err := New(Draft{Object: root.ID, Parents: []ID{c.ID}, Lamport: 100, Time: time.Unix(1700000002, 0), Payload: &Payload{},
		Chunks: [][32]byte{a, b, a}}, objKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(d.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Chunks) != 2 || back.Chunks[0] != b || back.Chunks[1] != a {
		t.Fatalf("chunks %x", back.Chunks)
	}
	resign := func(edit func(*pb.ChangeBody)) error {
		var sc pb.SignedChange
		if err := proto.Unmarshal(d.Raw, &sc); err != nil {
			t.Fatal(err)
		}
		var body pb.ChangeBody
		if err := proto.Unmarshal(sc.Body, &body); err != nil {
			t.Fatal(err)
		}
		edit(&body)
		_, err := sign(&body, priv)
		return err
	}
	for name, edit := range map[string]func(*pb.ChangeBody){
		"unsorted":  func(b *pb.ChangeBody) { b.Chunks[0], b.Chunks[1] = b.Chunks[1], b.Chunks[0] },
		"repeated":  func(b *pb.ChangeBody) { b.Chunks[1] = b.Chunks[0] },
		"too short": func(b *pb.ChangeBody) { b.Chunks[0] = b.Chunks[0][:31] },
		"in a root": func(b *pb.ChangeBody) {
			b.ObjectId, b.Parents, b.Ciphertext, b.VaultId = nil, nil, nil, make([]byte, 32)
		},
	} {
		if err := resign(edit); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A change this device signs is not verified again as it is made (a
// sixth of a local write's cost), and still verifies when it is parsed:
// what any receiver does.
func TestOwnChangesNotVerifiedTwice(t *testing.T) {
	before := verifications.Load()
	root, c, _, _ := fixture(t)
	if n := verifications.Load() - before; n != 0 {
		t.Fatalf("making two changes verified %d signatures", n)
	}
	for _, x := range []*Change{root, c} {
		if _, err := ParseWithID(x.ID, x.Raw); err != nil {
			t.Fatalf("a change made here does not verify: %v", err)
		}
	}
	if n := verifications.Load() - before; n != 2 {
		t.Fatalf("parsing two changes verified %d signatures", n)
	}
}
