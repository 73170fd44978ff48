package p2p

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/pb"
	"mycel/internal/syncer"
)

func lanHost(t *testing.T) host.Host {
	t.Helper()
	h, err := NewLANHost([]string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func deviceKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// openPeerStream connects a to b and opens a device-to-device stream, for
// a test to speak the handshake by hand.
func openPeerStream(t *testing.T, a, b host.Host) (network.Stream, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := a.NewStream(ctx, b.ID(), PeerProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	return s, bufio.NewReader(s)
}

// The LAN host's id is not the device key, and differs at every start.
func TestLANHostIsNotTheDevice(t *testing.T) {
	a, b := lanHost(t), lanHost(t)
	if a.ID() == b.ID() {
		t.Fatal("two LAN hosts share an id")
	}
	key := deviceKey(t)
	dev, _ := DevicePeer(key.Public().(ed25519.PublicKey))
	if string(dev) == a.ID().String() || string(dev) == b.ID().String() {
		t.Fatal("a LAN host has the device's id")
	}
}

// A stranger (without the vault's discovery key) that dials a device is
// answered with a MAC it cannot check and nothing else: no device key, no
// records; its guess at a proof is refused before the device would say
// anything more. A device that dials a stranger sends nothing once the
// stranger's MAC fails.
func TestStrangerLearnsNoDeviceKey(t *testing.T) {
	var vaultKey, strangerKey [32]byte
	rand.Read(vaultKey[:])
	rand.Read(strangerKey[:])
	dev, stranger := lanHost(t), lanHost(t)
	decided := make(chan struct{}, 1)
	refused := make(chan error, 1)
	dev.SetStreamHandler(PeerProtocolID, func(s network.Stream) {
		_, err := AcceptPeer(s, vaultKey, deviceKey(t), func(ed25519.PublicKey, [][]byte) (*syncer.Service, [][]byte, error) {
			decided <- struct{}{}
			return nil, nil, errors.New("never")
		})
		refused <- err
	})
	s, r := openPeerStream(t, stranger, dev)
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	if err := syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_PeerHello{PeerHello: &pb.PeerHello{Nonce: nonce}}}); err != nil {
		t.Fatal(err)
	}
	f, err := syncer.ReadFrame(r)
	if err != nil {
		t.Fatal(err)
	}
	ch := f.GetPeerProof()
	if ch == nil || len(ch.DeviceKey) != 0 || len(ch.DeviceSignature) != 0 || len(ch.MemberRecords) != 0 {
		t.Fatalf("the device's first answer to a stranger: %v", f)
	}
	guess := &pb.PeerProof{Mac: peerMAC(strangerKey, "dialer", stranger.ID(), dev.ID(), nonce, ch.Nonce)}
	syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_PeerProof{PeerProof: guess}})
	if err := <-refused; !errors.Is(err, ErrNotOurVault) {
		t.Fatalf("the device did not refuse the stranger: %v", err)
	}
	if f, err := syncer.ReadFrame(r); err == nil {
		t.Fatalf("the device said more to a stranger: %v", f)
	}
	if len(decided) != 0 {
		t.Fatal("the stranger's records were looked at")
	}

	// The other way: the stranger listens, a device dials it.
	heard := make(chan *pb.Frame, 4)
	stranger.SetStreamHandler(PeerProtocolID, func(s network.Stream) {
		r := bufio.NewReader(s)
		hello, err := syncer.ReadFrame(r)
		if err != nil {
			close(heard)
			return
		}
		mine := make([]byte, nonceSize)
		rand.Read(mine)
		syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_PeerProof{PeerProof: &pb.PeerProof{Nonce: mine,
			Mac: peerMAC(strangerKey, "listener", stranger.ID(), dev.ID(), hello.GetPeerHello().GetNonce(), mine)}}})
		for {
			f, err := syncer.ReadFrame(r)
			if err != nil {
				close(heard)
				return
			}
			heard <- f
		}
	})
	_, err = DialPeer(context.Background(), dev, peer.AddrInfo{ID: stranger.ID(), Addrs: stranger.Addrs()}, vaultKey, deviceKey(t), [][]byte{[]byte("records")})
	if !errors.Is(err, ErrNotOurVault) {
		t.Fatalf("dialing a stranger: %v", err)
	}
	for f := range heard {
		t.Fatalf("the device told a stranger %v", f)
	}
}

// A dialer that holds the discovery key must still prove the device key
// it claims: a key with a signature by another key (or over another
// handshake) is refused before its records are looked at.
func TestDeviceKeyMustBeProven(t *testing.T) {
	var vaultKey [32]byte
	rand.Read(vaultKey[:])
	for name, forge := range map[string]func(victim ed25519.PrivateKey, self, other peer.ID, dn, ln []byte) []byte{
		"signed by another key": func(_ ed25519.PrivateKey, self, other peer.ID, dn, ln []byte) []byte {
			_, sig := deviceProof(deviceKey(t), "dialer", self, other, dn, ln)
			return sig
		},
		"signed for another handshake": func(victim ed25519.PrivateKey, self, other peer.ID, dn, _ []byte) []byte {
			_, sig := deviceProof(victim, "dialer", self, other, dn, dn)
			return sig
		},
	} {
		t.Run(name, func(t *testing.T) {
			dev, dialer := lanHost(t), lanHost(t)
			victim := deviceKey(t)
			refused := make(chan error, 1)
			dev.SetStreamHandler(PeerProtocolID, func(s network.Stream) {
				_, err := AcceptPeer(s, vaultKey, deviceKey(t), func(ed25519.PublicKey, [][]byte) (*syncer.Service, [][]byte, error) {
					t.Error("a forged device key was taken")
					return nil, nil, errors.New("no")
				})
				refused <- err
			})
			s, r := openPeerStream(t, dialer, dev)
			nonce := make([]byte, nonceSize)
			rand.Read(nonce)
			syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_PeerHello{PeerHello: &pb.PeerHello{Nonce: nonce}}})
			f, err := syncer.ReadFrame(r)
			if err != nil {
				t.Fatal(err)
			}
			ln := f.GetPeerProof().GetNonce()
			claimed := victim.Public().(ed25519.PublicKey)
			sig := forge(victim, dialer.ID(), dev.ID(), nonce, ln)
			syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_PeerProof{PeerProof: &pb.PeerProof{
				Mac: peerMAC(vaultKey, "dialer", dialer.ID(), dev.ID(), nonce, ln), DeviceKey: claimed, DeviceSignature: sig}}})
			if err := <-refused; err == nil {
				t.Fatal("a forged device key was accepted")
			}
		})
	}
}

// A listener that keeps another connection to the dialing device answers
// its handshake with ErrDuplicate before any welcome: the dialer gets
// ErrDuplicate, not a failure, and the transport connection stays open
// (it may carry the connection kept), as does a device stream on it.
func TestDuplicateAnswered(t *testing.T) {
	var vaultKey [32]byte
	rand.Read(vaultKey[:])
	dialer, listener := lanHost(t), lanHost(t)
	decided := make(chan error, 1)
	listener.SetStreamHandler(PeerProtocolID, func(s network.Stream) {
		_, err := AcceptPeer(s, vaultKey, deviceKey(t), func(ed25519.PublicKey, [][]byte) (*syncer.Service, [][]byte, error) {
			return nil, nil, ErrDuplicate
		})
		decided <- err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := DialPeer(ctx, dialer, peer.AddrInfo{ID: listener.ID(), Addrs: listener.Addrs()}, vaultKey, deviceKey(t), nil)
	if !errors.Is(err, ErrDuplicate) {
		t.Fatalf("dialer: %v, not ErrDuplicate", err)
	}
	if err := <-decided; !errors.Is(err, ErrDuplicate) {
		t.Fatalf("listener: %v", err)
	}
	conns := dialer.Network().ConnsToPeer(listener.ID())
	if len(conns) != 1 || conns[0].IsClosed() {
		t.Fatalf("the transport connection was closed: %d open", len(conns))
	}
	// A stream opened beside it works.
	listener.SetStreamHandler("/mycel/test/1", func(s network.Stream) { s.Write([]byte("ok")); s.Close() })
	s, err := NewStreamOn(ctx, conns[0], "/mycel/test/1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, 2)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("stream beside: %q %v", buf, err)
	}
	if s.Conn() != conns[0] {
		t.Fatal("the stream is not on the connection asked for")
	}
}
