package p2p

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/pb"
	"mycel/internal/syncer"
)

func fuzzPeerID(f *testing.F, seed byte) peer.ID {
	pk, err := crypto.UnmarshalEd25519PublicKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)).Public().(ed25519.PublicKey))
	if err != nil {
		f.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		f.Fatal(err)
	}
	return id
}

// FuzzHandshake feeds any bytes, as a stranger's frames, to what a node
// and a device read before a handshake authenticates the other side: the
// frame reader under MaxHandshakeFrame, the hello and its membership
// records (what a node verifies), a dialer's hello and proof, a
// listener's answer. No input panics, none is read past the limit, and
// only a frame with the right MAC passes a proof check.
func FuzzHandshake(f *testing.F) {
	self, other := fuzzPeerID(f, 1), fuzzPeerID(f, 2)
	var key [32]byte
	mine, theirs := bytes.Repeat([]byte{3}, nonceSize), bytes.Repeat([]byte{4}, nonceSize)
	frame := func(fr *pb.Frame) []byte {
		var b bytes.Buffer
		syncer.WriteFrame(&b, fr)
		return b.Bytes()
	}
	f.Add(frame(&pb.Frame{Body: &pb.Frame_Hello{Hello: &pb.Hello{VaultId: make([]byte, 32), MemberRecords: [][]byte{{0x0a, 0x01, 0x00}}, Register: true}}}))
	// A real hello: the vault id and the dialer's own add record.
	v, err := keys.DeriveVault(make([]byte, 64))
	if err != nil {
		f.Fatal(err)
	}
	selfKey, _ := PeerKey(self)
	rec, err := member.NewRecord(v, member.Add, selfKey, "laptop", time.UnixMilli(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(frame(&pb.Frame{Body: &pb.Frame_Hello{Hello: &pb.Hello{VaultId: v.ID[:], MemberRecords: [][]byte{rec}}}}))
	f.Add(frame(&pb.Frame{Body: &pb.Frame_PeerHello{PeerHello: &pb.PeerHello{Nonce: theirs}}}))
	f.Add(frame(&pb.Frame{Body: &pb.Frame_PeerProof{PeerProof: &pb.PeerProof{Nonce: theirs, Mac: peerMAC(key, "listener", other, self, mine, theirs)}}}))
	f.Add(frame(&pb.Frame{Body: &pb.Frame_PeerProof{PeerProof: &pb.PeerProof{Mac: peerMAC(key, "dialer", other, self, theirs, mine)}}}))
	f.Add(append(binary.AppendUvarint(nil, syncer.MaxFrame), 1, 2, 3, 4, 5)) // the 16 MiB hello
	f.Add(append(binary.AppendUvarint(nil, MaxHandshakeFrame+1), 0))
	f.Add(frame(&pb.Frame{Body: &pb.Frame_Hello{Hello: &pb.Hello{VaultId: make([]byte, 31)}}}))
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), handshakeBuffer)
		fr, err := syncer.ReadFrameLimit(r, MaxHandshakeFrame)
		if err != nil {
			return
		}
		if n, _ := binary.Uvarint(data); n > MaxHandshakeFrame {
			t.Fatalf("read a frame of %d bytes before a handshake", n)
		}
		if vault, hello, err := helloOf(fr); err == nil {
			log := member.NewLog(vault)
			for _, raw := range hello.MemberRecords {
				log.Add(raw) // verified, never trusted
			}
			selfKey, _ := PeerKey(self)
			log.IsMember(selfKey)
		}
		if nonce, err := peerHelloOf(fr); err == nil && len(nonce) != nonceSize {
			t.Fatalf("a peer hello with a nonce of %d bytes passed", len(nonce))
		}
		if ch, err := listenerProofOf(fr, key, self, other, mine); err == nil &&
			!bytes.Equal(ch.Mac, peerMAC(key, "listener", other, self, mine, ch.Nonce)) {
			t.Fatal("a listener proof without its MAC passed")
		}
		if p, err := dialerProofOf(fr, key, self, other, theirs, mine); err == nil &&
			!bytes.Equal(p.Mac, peerMAC(key, "dialer", other, self, theirs, mine)) {
			t.Fatal("a dialer proof without its MAC passed")
		}
	})
}
