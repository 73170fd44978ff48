package member

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"mycel/internal/keys"
)

func vault(t testing.TB) *keys.Vault {
	p, _ := keys.NewPhrase()
	v, err := keys.VaultFromPhrase(p)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLog(t *testing.T) {
	v := vault(t)
	l := NewLog(v.ID)
	devA, _, _ := ed25519.GenerateKey(nil)
	devB, _, _ := ed25519.GenerateKey(nil)
	now := time.Unix(1700000000, 0)
	for _, step := range []struct {
		kind Kind
		dev  ed25519.PublicKey
		name string
	}{{Add, devA, "laptop"}, {Add, devB, "phone"}, {Rename, devA, "work laptop"}, {Remove, devB, ""}} {
		raw, err := l.Next(v, step.kind, step.dev, step.name, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Append(raw); err != nil {
			t.Fatal(err)
		}
	}
	if !l.IsMember(devA) || l.IsMember(devB) {
		t.Fatal("membership wrong")
	}
	d, _ := l.Device(devA)
	if n, err := d.Name(v.ReadKey); err != nil || n != "work laptop" {
		t.Fatalf("name = %q, %v", n, err)
	}
	// A second log replays the same records.
	l2 := NewLog(v.ID)
	for _, r := range l.Records() {
		if err := l2.Append(r.Raw); err != nil {
			t.Fatal(err)
		}
	}
	if !l2.IsMember(devA) || l2.IsMember(devB) {
		t.Fatal("replayed membership wrong")
	}
}

func TestLogRejects(t *testing.T) {
	v, other := vault(t), vault(t)
	dev, _, _ := ed25519.GenerateKey(nil)
	l := NewLog(v.ID)
	// Signed by another account.
	forged, _ := NewLog(other.ID).Next(other, Add, dev, "x", time.Now())
	if err := l.Append(forged); !errors.Is(err, ErrInvalid) {
		t.Fatalf("record of another vault accepted: %v", err)
	}
	good, _ := l.Next(v, Add, dev, "x", time.Now())
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	if err := l.Append(bad); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad signature accepted: %v", err)
	}
	if err := l.Append(good); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(good); !errors.Is(err, ErrInvalid) {
		t.Fatalf("replayed record accepted: %v", err)
	}
	if l.Len() != 1 {
		t.Fatal("rejected records changed the log")
	}
}

func FuzzAppend(f *testing.F) {
	v := vault(f)
	dev, _, _ := ed25519.GenerateKey(nil)
	good, _ := NewLog(v.ID).Next(v, Add, dev, "x", time.Now())
	f.Add(good)
	f.Fuzz(func(t *testing.T, raw []byte) {
		l := NewLog(v.ID)
		if err := l.Append(raw); err == nil && l.Len() != 1 {
			t.Fatal("accepted record not in log")
		}
	})
}
