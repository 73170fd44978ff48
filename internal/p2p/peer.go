package p2p

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/syncer"
)

// PeerProtocolID names the device-to-device protocol: the same sync as
// with a node, after a handshake that names no vault.
const PeerProtocolID = "/mycel/peer/1"

// ErrNotOurVault is wrapped when the other side does not hold this vault's
// discovery key: a device of another vault, or a stranger. Neither learns
// anything about the vault from the exchange.
var ErrNotOurVault = errors.New("not a device of this vault")

const nonceSize = 32

// peerMAC keys a handshake to both peer ids and both nonces, with the role
// of the side that computes it, so that no MAC can be replayed elsewhere.
func peerMAC(key [32]byte, role string, self, other peer.ID, dialerNonce, listenerNonce []byte) []byte {
	m := hmac.New(sha256.New, key[:])
	for _, part := range [][]byte{[]byte("mycel-peer-1 " + role), []byte(self), []byte(other), dialerNonce, listenerNonce} {
		m.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		m.Write(part)
	}
	return m.Sum(nil)
}

// DialPeer connects to another device and runs the handshake: each side
// proves it holds the vault's discovery key (a MAC over both peer ids and
// fresh nonces) before any membership record is sent. It returns the open
// stream and the peer's membership records; the caller checks the peer is
// a member.
func DialPeer(ctx context.Context, h host.Host, info peer.AddrInfo, discovery [32]byte, records [][]byte) (objsync.PeerID, network.Stream, *bufio.Reader, [][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	clearBackoff(h, info.ID)
	if err := h.Connect(ctx, info); err != nil {
		return "", nil, nil, nil, fmt.Errorf("connect to %s: %w", info.ID.ShortString(), err)
	}
	s, err := h.NewStream(ctx, info.ID, PeerProtocolID)
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("open peer stream to %s: %w", info.ID.ShortString(), err)
	}
	fail := func(err error) (objsync.PeerID, network.Stream, *bufio.Reader, [][]byte, error) {
		s.Reset()
		closeIfIdle(s.Conn(), s)
		return "", nil, nil, nil, fmt.Errorf("handshake with %s: %w", info.ID.ShortString(), err)
	}
	s.SetDeadline(time.Now().Add(HandshakeTimeout))
	mine := make([]byte, nonceSize)
	rand.Read(mine)
	if err := syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_PeerHello{PeerHello: &pb.PeerHello{Nonce: mine}}}); err != nil {
		return fail(err)
	}
	// Until its MAC checks, the other side may be anyone that announced
	// itself on the LAN: its first answer is read as a stranger's.
	r := handshakeReader(s)
	f, err := syncer.ReadFrameLimit(r, MaxHandshakeFrame)
	if err != nil {
		return fail(err)
	}
	self, other := h.ID(), info.ID
	ch, err := listenerProofOf(f, discovery, self, other, mine)
	if err != nil {
		return fail(err)
	}
	// Our own add record proves us; the whole log follows (see
	// MaxHandshakeFrame).
	proof := &pb.PeerProof{Mac: peerMAC(discovery, "dialer", self, other, mine, ch.Nonce), MemberRecords: ownRecords(self, records)}
	if err := writeHandshake(s, &pb.Frame{Body: &pb.Frame_PeerProof{PeerProof: proof}}, records); err != nil {
		return fail(err)
	}
	// It holds the discovery key: its answer may carry its whole log.
	if f, err = syncer.ReadFrame(r); err != nil {
		return fail(err)
	}
	if rep := f.GetHelloReply(); rep != nil {
		return fail(&RefusedError{Addr: info.ID.ShortString(), Reason: rep.Error})
	}
	welcome := f.GetPeerProof()
	if welcome == nil {
		return fail(errors.New("unexpected answer"))
	}
	s.SetDeadline(time.Time{})
	trusted(s.Conn())
	return objsync.PeerID(other.String()), s, syncReader(s, r), welcome.MemberRecords, nil
}

// AcceptPeer answers a device-to-device stream: it proves its own
// knowledge of the discovery key, checks the dialer's, then asks decide
// (given the dialer's device key and membership records) for the service
// to attach it to and the records to send back. A dialer without the key
// gets no reason: the stream is reset.
func AcceptPeer(s network.Stream, discovery [32]byte, decide func(ed25519.PublicKey, [][]byte) (*syncer.Service, [][]byte, error)) error {
	r, f, err := firstFrame(s)
	if err != nil {
		s.Reset() // a stranger gets no reason, not even for a frame too large
		return err
	}
	theirs, err := peerHelloOf(f)
	if err != nil {
		s.Reset()
		return err
	}
	self, other := s.Conn().LocalPeer(), s.Conn().RemotePeer()
	mine := make([]byte, nonceSize)
	rand.Read(mine)
	ch := &pb.PeerProof{Nonce: mine, Mac: peerMAC(discovery, "listener", self, other, theirs, mine)}
	if err := syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_PeerProof{PeerProof: ch}}); err != nil {
		s.Reset()
		return err
	}
	if f, err = syncer.ReadFrameLimit(r, MaxHandshakeFrame); err != nil {
		s.Reset()
		return fmt.Errorf("handshake: %w", err)
	}
	proof, err := dialerProofOf(f, discovery, self, other, theirs, mine)
	if err != nil {
		s.Reset()
		closeIfIdle(s.Conn(), s)
		return fmt.Errorf("%s: %w", other.ShortString(), err)
	}
	key, err := PeerKey(other)
	if err != nil {
		s.Reset()
		return err
	}
	svc, records, err := decide(key, proof.MemberRecords)
	return answer(s, r, svc, err, &pb.Frame{Body: &pb.Frame_PeerProof{PeerProof: &pb.PeerProof{MemberRecords: records}}})
}

// What a device reads from a stranger before its MAC checks: the three
// decoders below (fuzzed by FuzzHandshake).

// peerHelloOf checks a dialer's first frame: its nonce.
func peerHelloOf(f *pb.Frame) ([]byte, error) {
	hello := f.GetPeerHello()
	if hello == nil || len(hello.Nonce) != nonceSize {
		return nil, errors.New("handshake: no peer hello")
	}
	return hello.Nonce, nil
}

// listenerProofOf checks a listener's answer to our hello (self dialed
// other with nonce mine): its nonce and its MAC over both.
func listenerProofOf(f *pb.Frame, discovery [32]byte, self, other peer.ID, mine []byte) (*pb.PeerProof, error) {
	ch := f.GetPeerProof()
	if ch == nil || len(ch.Nonce) != nonceSize ||
		!hmac.Equal(ch.Mac, peerMAC(discovery, "listener", other, self, mine, ch.Nonce)) {
		return nil, ErrNotOurVault
	}
	return ch, nil
}

// dialerProofOf checks a dialer's proof (other dialed self, sending nonce
// theirs; self answered with mine): its MAC.
func dialerProofOf(f *pb.Frame, discovery [32]byte, self, other peer.ID, theirs, mine []byte) (*pb.PeerProof, error) {
	proof := f.GetPeerProof()
	if proof == nil || !hmac.Equal(proof.Mac, peerMAC(discovery, "dialer", other, self, theirs, mine)) {
		return nil, ErrNotOurVault
	}
	return proof, nil
}
