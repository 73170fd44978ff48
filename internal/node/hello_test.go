package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/p2p"
	"mycel/internal/pb"
	"mycel/internal/vault"
)

// A vault whose membership log is far bigger than a handshake frame may
// be registers and syncs: the hello carries the device's own add record,
// and the whole log follows it once the node knows the device.
func TestBigMembershipLogRegisters(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, n := serve(t, ctx)
	e, phrase, err := vault.Init(ctx, filepath.Join(t.TempDir(), "d"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	v, err := keys.VaultFromPhrase(phrase)
	if err != nil {
		t.Fatal(err)
	}
	var added [][]byte
	for i := range 100 {
		pub, _, _ := ed25519.GenerateKey(nil)
		rec, err := member.NewRecord(v, member.Add, pub, fmt.Sprintf("device number %d of many", i), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, rec)
	}
	if err := e.AddMemberRecords(ctx, added); err != nil {
		t.Fatal(err)
	}
	recs, _ := e.MemberRecords(ctx)
	size := 0
	for _, r := range recs {
		size += len(r)
	}
	if size <= 2*p2p.MaxHandshakeFrame {
		t.Fatalf("the log is %d bytes: not bigger than a handshake frame", size)
	}
	h, err := p2p.NewHost(e.HostKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	id := e.VaultID()
	_, s, _, theirs, err := p2p.Dial(ctx, h, addr, &pb.Hello{VaultId: id[:], MemberRecords: recs, Register: true})
	if err != nil {
		t.Fatalf("registering a vault with a log of %d bytes: %v", size, err)
	}
	defer s.Reset()
	if len(theirs) == 0 {
		t.Fatal("the node answered with no membership records")
	}
	nv, err := n.acquire(id)
	if err != nil {
		t.Fatal(err)
	}
	defer n.release(nv)
	deadline := time.Now().Add(20 * time.Second)
	for len(nv.MemberRecords()) != len(recs) {
		if time.Now().After(deadline) {
			t.Fatalf("the node holds %d of the %d membership records", len(nv.MemberRecords()), len(recs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
