package member

import (
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"mycel/internal/keys"
	"mycel/internal/pb"
	"mycel/internal/pb/pbtest"
)

func vault(t testing.TB) *keys.Vault {
	p, _ := keys.NewPhrase()
	v, err := keys.VaultFromPhrase(p)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLogIsASet(t *testing.T) {
	v := vault(t)
	devA, _, _ := ed25519.GenerateKey(nil)
	devB, _, _ := ed25519.GenerateKey(nil)
	t0 := time.Unix(1700000000, 0)
	var raws [][]byte
	for i, step := range []struct {
		kind Kind
		dev  ed25519.PublicKey
		name string
	}{{Add, devA, "laptop"}, {Add, devB, "phone"}, {Rename, devA, "work laptop"}, {Remove, devB, ""}} {
		raw, err := NewRecord(v, step.kind, step.dev, step.name, t0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	// Any order, with duplicates, gives the same membership.
	for seed := uint64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		l := NewLog(v.ID)
		for _, i := range rng.Perm(len(raws)) {
			for range 1 + rng.IntN(2) {
				if err := l.Add(raws[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !l.IsMember(devA) || l.IsMember(devB) || l.Len() != 4 {
			t.Fatalf("seed %d: membership wrong", seed)
		}
		if !l.MayAuthor(devB) {
			t.Fatalf("seed %d: removed device's changes refused", seed)
		}
		d, _ := l.Device(devA)
		if n, err := d.Name(v.ReadKey); err != nil || n != "work laptop" {
			t.Fatalf("seed %d: name = %q, %v", seed, n, err)
		}
	}
}

func TestLogRejects(t *testing.T) {
	v, other := vault(t), vault(t)
	dev, _, _ := ed25519.GenerateKey(nil)
	l := NewLog(v.ID)
	forged, _ := NewRecord(other, Add, dev, "x", time.Now())
	if err := l.Add(forged); !errors.Is(err, ErrInvalid) {
		t.Fatalf("record of another vault accepted: %v", err)
	}
	good, _ := NewRecord(v, Add, dev, "x", time.Now())
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	if err := l.Add(bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad signature accepted: %v", err)
	}
	if l.Len() != 0 || l.IsMember(dev) {
		t.Fatal("rejected records changed the log")
	}
}

func FuzzAdd(f *testing.F) {
	v := vault(f)
	dev, _, _ := ed25519.GenerateKey(nil)
	good, _ := NewRecord(v, Add, dev, "x", time.Now())
	f.Add(good)
	f.Fuzz(func(t *testing.T, raw []byte) {
		l := NewLog(v.ID)
		if err := l.Add(raw); err == nil && l.Len() != 1 {
			t.Fatal("accepted record not in log")
		}
	})
}

func TestCloneIsIndependent(t *testing.T) {
	v := vault(t)
	dev, _, _ := ed25519.GenerateKey(nil)
	l := NewLog(v.ID)
	add, _ := NewRecord(v, Add, dev, "a", time.Unix(1, 0))
	l.Add(add)
	c := l.Clone()
	rm, _ := NewRecord(v, Remove, dev, "", time.Unix(2, 0))
	if err := c.Add(rm); err != nil {
		t.Fatal(err)
	}
	if !l.IsMember(dev) || c.IsMember(dev) || l.Len() != 1 || c.Len() != 2 {
		t.Fatal("clone shares state with the original")
	}
}

// One record has one hash: re-encodings of a signed record, or of its body
// under the account's signature, are refused.
func TestOnlyTheCanonicalEncodingIsAdded(t *testing.T) {
	v := vault(t)
	dev, _, _ := ed25519.GenerateKey(nil)
	good, _ := NewRecord(v, Add, dev, "x", time.Unix(1700000000, 0))
	l := NewLog(v.ID)
	for i, raw := range pbtest.Malleations(good) {
		if err := l.Add(raw); !errors.Is(err, ErrInvalid) {
			t.Errorf("malleation %d of the signed record added (err %v)", i, err)
		}
	}
	var sr pb.SignedRecord
	if err := proto.Unmarshal(good, &sr); err != nil {
		t.Fatal(err)
	}
	for i, body := range pbtest.Malleations(sr.Body) {
		sig := ed25519.Sign(v.Account, append([]byte(signContext), body...))
		raw, _ := pb.MarshalCanonical(&pb.SignedRecord{Body: body, Signature: sig})
		if err := l.Add(raw); !errors.Is(err, ErrInvalid) {
			t.Errorf("malleation %d of the body added (err %v)", i, err)
		}
	}
	if l.Len() != 0 {
		t.Fatalf("%d malleated records in the log", l.Len())
	}
}

// A removed key stays removed: an Add of the same key signed later (every
// device holds the account key, so the removed one can sign it), dated
// after the removal or before, does not make it a member again.
func TestRemovedKeyCannotAddItselfBack(t *testing.T) {
	v := vault(t)
	dev, _, _ := ed25519.GenerateKey(nil)
	l := NewLog(v.ID)
	add, _ := NewRecord(v, Add, dev, "phone", time.Unix(1700000000, 0))
	rm, _ := NewRecord(v, Remove, dev, "", time.Unix(0, 0)) // backdated
	for _, at := range []time.Time{time.Unix(1800000000, 0), time.Unix(1, 0)} {
		again, _ := NewRecord(v, Add, dev, "phone again", at)
		for _, r := range [][]byte{add, rm, again} {
			if err := l.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		if l.IsMember(dev) {
			t.Fatalf("re-added at %v: a member again", at)
		}
		if !l.MayAuthor(dev) {
			t.Fatal("its history is void")
		}
	}
}

// A node storing the log sees sealed names of one size for every short
// name, and each opens to the name itself.
func TestNamesArePadded(t *testing.T) {
	v := vault(t)
	sizes := map[int]bool{}
	for _, name := range []string{"a", "phone", "Work laptop (2024)", "Ωμέγα 電話 📱"} {
		dev, _, _ := ed25519.GenerateKey(nil)
		raw, _ := NewRecord(v, Add, dev, name, time.Unix(1700000000, 0))
		l := NewLog(v.ID)
		if err := l.Add(raw); err != nil {
			t.Fatal(err)
		}
		d, _ := l.Device(dev)
		if got, err := d.Name(v.ReadKey); err != nil || got != name {
			t.Fatalf("name %q opens as %q, %v", name, got, err)
		}
		sizes[len(l.Records()[0].sealedName)] = true
	}
	if len(sizes) != 1 {
		t.Fatalf("names of up to 32 bytes seal to %d sizes", len(sizes))
	}
}

// An Add dated at Go's zero time (year 1) made membership depend on the
// order records came in; such times are refused, and the log is the same
// whatever the order.
func TestRecordTimesOutsideTheYearsAreRefused(t *testing.T) {
	v := vault(t)
	dev, _, _ := ed25519.GenerateKey(nil)
	good, _ := NewRecord(v, Add, dev, "laptop", time.Unix(1700000000, 0))
	for _, at := range []time.Time{{}, time.Unix(-1, 0), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		bad, _ := NewRecord(v, Add, dev, "laptop", at)
		if err := NewLog(v.ID).Add(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a record dated %v: %v", at, err)
		}
		l1, l2 := NewLog(v.ID), NewLog(v.ID)
		l1.Add(good)
		l1.Add(bad)
		l2.Add(bad)
		l2.Add(good)
		if !l1.MayAuthor(dev) || !l2.MayAuthor(dev) || !l1.IsMember(dev) || !l2.IsMember(dev) {
			t.Fatalf("dated %v: the same records, two memberships", at)
		}
	}
}
