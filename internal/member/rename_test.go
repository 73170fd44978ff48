package member

import (
	"bytes"
	"crypto/ed25519"
	"testing"
	"time"
)

// Two devices rename the same device offline; whichever order the records
// arrive in, every log names it alike: the later time wins, and at the
// same millisecond the greater record hash.
func TestConcurrentRenamesConverge(t *testing.T) {
	v := vault(t)
	dev, _, _ := ed25519.GenerateKey(nil)
	t0 := time.UnixMilli(1700000000000)
	add, err := NewRecord(v, Add, dev, "laptop", t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		at1    time.Time
		at2    time.Time
		wantFn func(h1, h2 [32]byte) string
	}{
		{"later time wins", t0.Add(2 * time.Second), t0.Add(time.Second), func(_, _ [32]byte) string { return "one" }},
		{"same time: greater hash wins", t0.Add(time.Second), t0.Add(time.Second), func(h1, h2 [32]byte) string {
			if bytes.Compare(h1[:], h2[:]) > 0 {
				return "one"
			}
			return "two"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r1, err := NewRecord(v, Rename, dev, "one", tc.at1)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := NewRecord(v, Rename, dev, "two", tc.at2)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var hashes [][32]byte
			for _, order := range [][][]byte{{add, r1, r2}, {r2, add, r1}, {r1, r2, add}, {r2, r1, add}} {
				l := NewLog(v.ID)
				for _, r := range order {
					if err := l.Add(r); err != nil {
						t.Fatal(err)
					}
				}
				d, ok := l.Device(dev)
				if !ok {
					t.Fatal("device missing")
				}
				n, err := d.Name(v.ReadKey)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, n)
				if hashes == nil {
					for _, rec := range l.Records() {
						hashes = append(hashes, rec.Hash)
					}
				}
			}
			want := tc.wantFn(hashes[1], hashes[2]) // records in the first order: add, r1, r2
			for i, n := range got {
				if n != want {
					t.Errorf("arrival order %d names the device %q, want %q (all orders: %q)", i, n, want, got)
				}
			}
		})
	}
}
