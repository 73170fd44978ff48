package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/pb"
	"mycel/internal/syncer"
)

// fuzzVault is a fixed vault and device, so seeds stay meaningful.
func fuzzVault(t testing.TB) (*keys.Vault, ed25519.PublicKey, []byte) {
	v, err := keys.DeriveVault(make([]byte, 64))
	if err != nil {
		t.Fatal(err)
	}
	dev := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	rec, err := member.NewRecord(v, member.Add, dev, "d", time.UnixMilli(1))
	if err != nil {
		t.Fatal(err)
	}
	return v, dev, rec
}

// What a node decodes of a Hello's membership records, from arbitrary
// bytes: proves never panics and never admits what the log refuses, and
// AddMembers keeps only records the log accepts, within MaxRecords.
func FuzzHelloRecords(f *testing.F) {
	v, dev, rec := fuzzVault(f)
	f.Add(rec, []byte{})
	f.Add(rec[:len(rec)-1], rec)
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, []byte{}) // a length past the end
	flipped := append([]byte(nil), rec...)
	flipped[len(flipped)-1] ^= 1 // the signature
	f.Add(flipped, rec)
	// A record whose body names the device and vault but is unsigned.
	body, _ := proto.Marshal(&pb.MemberRecord{Account: v.AccountPublic(), Kind: member.Add, Device: dev})
	unsigned, _ := proto.Marshal(&pb.SignedRecord{Body: body})
	f.Add(unsigned, []byte(nil))
	n, err := OpenWith(f.TempDir(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	vault, err := n.Register(ctx, v.ID, dev, [][]byte{rec})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		recs := [][]byte{a, b}
		proved := n.proves(v.ID, dev, recs)
		l := member.NewLog(v.ID)
		valid := false
		for _, r := range recs {
			if l.Add(r) == nil {
				valid = true
			}
		}
		if proved && !(valid && l.IsMember(dev)) {
			t.Fatalf("proves admitted records the log refuses: %x %x", a, b)
		}
		before := len(vault.MemberRecords())
		vault.AddMembers(ctx, recs)
		got := vault.MemberRecords()
		if len(got) < before || len(got) > MaxRecords {
			t.Fatalf("%d records after AddMembers, %d before", len(got), before)
		}
		check := member.NewLog(v.ID)
		for _, r := range got {
			if err := check.Add(r); err != nil {
				t.Fatalf("a record kept that the log refuses: %v", err)
			}
		}
	})
}

// A Hello frame from arbitrary bytes, as a node reads it before it knows
// anything of the peer: decoding it and checking its records never panics,
// and a Hello that proves membership does so by a record the log accepts.
func FuzzHelloFrame(f *testing.F) {
	v, dev, rec := fuzzVault(f)
	frame := func(h *pb.Hello) []byte {
		var b bytes.Buffer
		syncer.WriteFrame(&b, &pb.Frame{Body: &pb.Frame_Hello{Hello: h}})
		return b.Bytes()
	}
	f.Add(frame(&pb.Hello{VaultId: v.ID[:], MemberRecords: [][]byte{rec}, Register: true}))
	f.Add(frame(&pb.Hello{VaultId: v.ID[:], MemberRecords: [][]byte{rec, rec, {}}, Invite: "x"}))
	f.Add(frame(&pb.Hello{VaultId: v.ID[:1]}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}) // a length over the frame limit
	n, err := OpenWith(f.TempDir(), Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := syncer.ReadFrame(bufio.NewReader(bytes.NewReader(data)))
		if err != nil || fr.GetHello() == nil || len(fr.GetHello().VaultId) != 32 {
			return
		}
		h := fr.GetHello()
		var id keys.VaultID
		copy(id[:], h.VaultId)
		if !n.proves(id, dev, h.MemberRecords) {
			return
		}
		l := member.NewLog(id)
		for _, r := range h.MemberRecords {
			l.Add(r)
		}
		if !l.IsMember(dev) {
			t.Fatalf("proved a member the log does not hold")
		}
	})
}
