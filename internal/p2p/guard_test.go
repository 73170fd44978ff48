package p2p

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/keys"
	"mycel/internal/pb"
	"mycel/internal/syncer"
)

func newHost(t *testing.T, listen ...string) host.Host {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(key, listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func infoOf(h host.Host) peer.AddrInfo { return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()} }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A stranger's first frame may not announce more than MaxHandshakeFrame:
// a node answers a bigger hello with the reason (an honest device of an
// older version learns why), a device resets the stream; neither reads
// or allocates the frame.
func TestHandshakeFrameLimit(t *testing.T) {
	ctx := context.Background()
	l := newHost(t, "/ip4/127.0.0.1/tcp/0")
	accepted := make(chan error, 2)
	l.SetStreamHandler(ProtocolID, func(s network.Stream) {
		accepted <- Accept(s, func(keys.VaultID, ed25519.PublicKey, *pb.Hello) (*syncer.Service, [][]byte, error) {
			return nil, nil, errors.New("no vault here")
		})
	})
	l.SetStreamHandler(PeerProtocolID, func(s network.Stream) {
		_, err := AcceptPeer(s, [32]byte{}, nil, func(ed25519.PublicKey, [][]byte) (*syncer.Service, [][]byte, error) {
			return nil, nil, errors.New("not reached")
		})
		accepted <- err
	})
	stranger := newHost(t)
	if err := stranger.Connect(ctx, infoOf(l)); err != nil {
		t.Fatal(err)
	}
	huge := append(binary.AppendUvarint(nil, syncer.MaxFrame), make([]byte, 1000)...)

	s, err := stranger.NewStream(ctx, l.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(5 * time.Second))
	s.Write(huge)
	f, err := syncer.ReadFrame(bufio.NewReader(s))
	if err != nil || f.GetHelloReply() == nil || !strings.Contains(f.GetHelloReply().Error, "over the 8192-byte limit of a handshake: upgrade mycel") {
		t.Fatalf("a 16 MiB hello is answered %v, %v", f, err)
	}
	if err := <-accepted; err == nil {
		t.Fatal("Accept took a 16 MiB hello")
	}

	s, err = stranger.NewStream(ctx, l.ID(), PeerProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(5 * time.Second))
	s.Write(huge)
	if _, err := syncer.ReadFrame(bufio.NewReader(s)); err == nil || strings.Contains(err.Error(), "deadline") {
		t.Fatalf("a 16 MiB peer hello: the stream was not reset (%v)", err)
	}
	var big *syncer.FrameTooLargeError
	if err := <-accepted; !errors.As(err, &big) {
		t.Fatalf("AcceptPeer of a 16 MiB hello says %v", err)
	}
}

// Inbound connections on which no handshake completes are closed: the
// oldest beyond the gate's bound at once, the rest after its timeout; a
// connection whose handshake completed stays.
func TestStrangersAreClosed(t *testing.T) {
	ctx := context.Background()
	defer func(m int, d time.Duration) { gateMax, gateTimeout = m, d }(gateMax, gateTimeout)
	gateMax, gateTimeout = 8, 500*time.Millisecond
	l := newHost(t, "/ip4/127.0.0.1/tcp/0")
	inbound := func() int { return len(l.Network().Conns()) }

	friend := newHost(t)
	if err := friend.Connect(ctx, infoOf(l)); err != nil {
		t.Fatal(err)
	}
	trusted(l.Network().ConnsToPeer(friend.ID())[0]) // as a handshake does
	var strangers []host.Host
	for range 20 {
		s := newHost(t)
		if err := s.Connect(ctx, infoOf(l)); err != nil {
			t.Fatal(err)
		}
		strangers = append(strangers, s)
		eventually(t, "at most the gate's bound of strangers and a friend", func() bool { return inbound() <= gateMax+1 })
	}
	// The youngest strangers were kept.
	if last := strangers[len(strangers)-1]; len(l.Network().ConnsToPeer(last.ID())) != 1 {
		t.Fatal("the newest stranger was closed, not the oldest")
	}
	eventually(t, "the idle strangers closed", func() bool { return inbound() == 1 })
	if len(l.Network().ConnsToPeer(friend.ID())) != 1 {
		t.Fatal("the connection whose handshake completed was closed")
	}
}
