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

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multistream"

	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/syncer"
)

// PeerProtocolID names the device-to-device protocol: the same sync as
// with a node, after a handshake that names no vault. Version 2 runs
// between LAN hosts (NewLANHost), whose peer ids are not device keys; the
// device key is proven inside the handshake.
const PeerProtocolID = "/mycel/peer/2"

// ErrNotOurVault is wrapped when the other side does not hold this vault's
// discovery key: a device of another vault, or a stranger. Neither learns
// anything about the vault from the exchange.
var ErrNotOurVault = errors.New("not a device of this vault")

const nonceSize = 32

// ErrDuplicate is the answer to a handshake with a device this one is
// connected to already, or is dialing at the same moment with the better
// claim (see syncer.KeepsFirst): the other connection is kept. The decider
// returns it to AcceptPeer before any welcome, so the dialer never takes
// the stream for a working one; DialPeer returns it, and leaves the
// transport connection alone (it may carry the connection kept).
var ErrDuplicate = errors.New("already connected to that device: the other connection is kept")

// duplicateCode is the stream reset code that tells a dialer ErrDuplicate:
// a reset with a code of its own, since the devices' handshake has no
// frame to say it and an older dialer takes any reset for a failure.
const duplicateCode network.StreamErrorCode = 0x6d79 // "my"

// isDuplicate says whether err is the other side's ErrDuplicate.
func isDuplicate(err error) bool {
	var se *network.StreamError
	return errors.As(err, &se) && se.Remote && se.ErrorCode == duplicateCode
}

// NewLANHost starts the host a device shows on the local network, with a
// key of its own made afresh at every start. mDNS announces its peer id
// and anyone who connects sees it, so it must not be the device key (which
// is the same on every network, so would let a stranger follow the device
// from one network to the next): the device key is told, and proven, only
// inside the handshake, to a device that proved it holds the vault's
// discovery key.
func NewLANHost(listen []string) (host.Host, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewHost(key, listen)
}

// DevicePeer is the sync peer id of a device key: the libp2p peer id the
// key would have (which is what a node knows a device by), so a device
// is one peer to the sync machine whichever host it came by.
func DevicePeer(key ed25519.PublicKey) (objsync.PeerID, error) {
	pk, err := crypto.UnmarshalEd25519PublicKey(key)
	if err != nil {
		return "", err
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return "", err
	}
	return objsync.PeerID(id.String()), nil
}

// transcript is a handshake's parts, each length-prefixed, under a label
// naming the protocol, what the parts are for and the role of the side
// that computes it, so that nothing made for one use serves another.
func transcript(label, role string, self, other peer.ID, dialerNonce, listenerNonce []byte, more ...[]byte) []byte {
	var b []byte
	for _, part := range append([][]byte{[]byte(label + " " + role), []byte(self), []byte(other), dialerNonce, listenerNonce}, more...) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
		b = append(b, part...)
	}
	return b
}

// peerMAC keys a handshake to both peer ids and both nonces, with the role
// of the side that computes it, so that no MAC can be replayed elsewhere.
func peerMAC(key [32]byte, role string, self, other peer.ID, dialerNonce, listenerNonce []byte) []byte {
	m := hmac.New(sha256.New, key[:])
	m.Write(transcript("mycel-peer-2 mac", role, self, other, dialerNonce, listenerNonce))
	return m.Sum(nil)
}

// deviceProof signs, with the device key, the LAN host ids and nonces of
// this handshake (Noise proved each side holds its host's key), binding
// the device to this connection: a signature seen once proves nothing on
// another connection.
func deviceProof(device ed25519.PrivateKey, role string, self, other peer.ID, dialerNonce, listenerNonce []byte) (ed25519.PublicKey, []byte) {
	pub := device.Public().(ed25519.PublicKey)
	return pub, ed25519.Sign(device, transcript("mycel-peer-2 device", role, self, other, dialerNonce, listenerNonce, pub))
}

// checkDevice checks the other side's device proof and returns its key.
func checkDevice(p *pb.PeerProof, role string, self, other peer.ID, dialerNonce, listenerNonce []byte) (ed25519.PublicKey, error) {
	key := ed25519.PublicKey(p.DeviceKey)
	if len(key) != ed25519.PublicKeySize ||
		!ed25519.Verify(key, transcript("mycel-peer-2 device", role, other, self, dialerNonce, listenerNonce, key), p.DeviceSignature) {
		return nil, errors.New("the device key is not proven")
	}
	return key, nil
}

// A PeerLink is a device-to-device connection after its handshake.
type PeerLink struct {
	Peer    objsync.PeerID    // the other device's sync peer id (DevicePeer)
	Key     ed25519.PublicKey // its device key
	Stream  network.Stream
	Reader  *bufio.Reader
	Records [][]byte // its membership records
}

// DialPeer connects, from the LAN host h, to another device and runs the
// handshake: each side proves it holds the vault's discovery key (a MAC
// over both peer ids and fresh nonces) before it sends its membership
// records and device key, which it proves by signing the handshake. The
// caller checks the peer is a member.
func DialPeer(ctx context.Context, h host.Host, info peer.AddrInfo, discovery [32]byte, device ed25519.PrivateKey, records [][]byte) (*PeerLink, error) {
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	clearBackoff(h, info.ID)
	if err := h.Connect(ctx, info); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", info.ID.ShortString(), err)
	}
	s, err := h.NewStream(ctx, info.ID, PeerProtocolID)
	if err != nil {
		return nil, fmt.Errorf("open peer stream to %s: %w", info.ID.ShortString(), err)
	}
	fail := func(err error) (*PeerLink, error) {
		s.Reset()
		if isDuplicate(err) {
			// Not a failure: the transport connection may carry the
			// connection kept.
			return nil, fmt.Errorf("handshake with %s: %w", info.ID.ShortString(), ErrDuplicate)
		}
		closeIfIdle(s.Conn(), s)
		return nil, fmt.Errorf("handshake with %s: %w", info.ID.ShortString(), err)
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
	key, sig := deviceProof(device, "dialer", self, other, mine, ch.Nonce)
	proof := &pb.PeerProof{Mac: peerMAC(discovery, "dialer", self, other, mine, ch.Nonce), MemberRecords: ownRecords(key, records),
		DeviceKey: key, DeviceSignature: sig}
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
	theirs, err := checkDevice(welcome, "listener", self, other, mine, ch.Nonce)
	if err != nil {
		return fail(err)
	}
	pid, err := DevicePeer(theirs)
	if err != nil {
		return fail(err)
	}
	s.SetDeadline(time.Time{})
	trusted(s.Conn())
	return &PeerLink{Peer: pid, Key: theirs, Stream: s, Reader: syncReader(s, r), Records: welcome.MemberRecords}, nil
}

// AcceptPeer answers a device-to-device stream on the LAN host: it proves
// its own knowledge of the discovery key, checks the dialer's and its
// device proof, then asks decide (given the dialer's device key and
// membership records) for the service to attach it to and the records to
// send back, with this device's key and proof. A dialer without the
// discovery key gets no reason and no device key: the stream is reset.
// A decider's ErrDuplicate resets it with a code that tells the dialer
// so. It returns the dialer's sync peer id.
func AcceptPeer(s network.Stream, discovery [32]byte, device ed25519.PrivateKey, decide func(ed25519.PublicKey, [][]byte) (*syncer.Service, [][]byte, error)) (objsync.PeerID, error) {
	r, f, err := firstFrame(s)
	if err != nil {
		s.Reset() // a stranger gets no reason, not even for a frame too large
		return "", err
	}
	theirs, err := peerHelloOf(f)
	if err != nil {
		s.Reset()
		return "", err
	}
	self, other := s.Conn().LocalPeer(), s.Conn().RemotePeer()
	mine := make([]byte, nonceSize)
	rand.Read(mine)
	ch := &pb.PeerProof{Nonce: mine, Mac: peerMAC(discovery, "listener", self, other, theirs, mine)}
	if err := syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_PeerProof{PeerProof: ch}}); err != nil {
		s.Reset()
		return "", err
	}
	if f, err = syncer.ReadFrameLimit(r, MaxHandshakeFrame); err != nil {
		s.Reset()
		return "", fmt.Errorf("handshake: %w", err)
	}
	proof, err := dialerProofOf(f, discovery, self, other, theirs, mine)
	if err != nil {
		s.Reset()
		closeIfIdle(s.Conn(), s)
		return "", fmt.Errorf("%s: %w", other.ShortString(), err)
	}
	key, err := checkDevice(proof, "dialer", self, other, theirs, mine)
	if err != nil {
		s.Reset()
		closeIfIdle(s.Conn(), s)
		return "", fmt.Errorf("%s: %w", other.ShortString(), err)
	}
	pid, err := DevicePeer(key)
	if err != nil {
		s.Reset()
		return "", err
	}
	svc, records, err := decide(key, proof.MemberRecords)
	if errors.Is(err, ErrDuplicate) {
		s.ResetWithError(duplicateCode)
		return pid, err
	}
	pub, sig := deviceProof(device, "listener", self, other, theirs, mine)
	welcome := &pb.Frame{Body: &pb.Frame_PeerProof{PeerProof: &pb.PeerProof{MemberRecords: records, DeviceKey: pub, DeviceSignature: sig}}}
	return pid, answer(s, r, svc, err, welcome, pid)
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

// NewStreamOn opens a stream of protocol proto on transport connection c.
// A device opens its chunk streams to another device on the connection
// that carries their sync stream, so that they live and end with the
// connection both devices kept: two devices that dialed each other at once
// may hold two transport connections for a while, libp2p's NewStream picks
// either, and the other is closed (closeIfIdle, or the gate: no handshake
// completed on it) with the streams it carried.
func NewStreamOn(ctx context.Context, c network.Conn, proto protocol.ID) (network.Stream, error) {
	s, err := c.NewStream(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.SetProtocol(proto); err != nil {
		s.Reset()
		return nil, err
	}
	// What NewStream does when the protocol is not known to be supported
	// (a round trip), bounded as the handshake is.
	deadline := time.Now().Add(HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	s.SetDeadline(deadline)
	if err := multistream.SelectProtoOrFail(proto, s); err != nil {
		s.Reset()
		return nil, fmt.Errorf("open %s stream: %w", proto, err)
	}
	s.SetDeadline(time.Time{})
	return s, nil
}
