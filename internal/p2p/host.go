package p2p

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-multistream"
	"google.golang.org/protobuf/proto"

	"mycel/internal/keys"
	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/syncer"
)

// NewHost starts a libp2p host whose identity is key (a device's key, or a
// node's), listening on the given multiaddrs (none: dial only). It fails,
// naming the address, unless it listens on every one of them: a node that
// came up on some of its addresses only would be unreachable where its
// devices dial it.
func NewHost(key ed25519.PrivateKey, listen []string) (host.Host, error) {
	pk, err := crypto.UnmarshalEd25519PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	addrs := make([]ma.Multiaddr, len(listen))
	for i, s := range listen {
		if addrs[i], err = ma.NewMultiaddr(s); err != nil {
			return nil, fmt.Errorf("listen address %q: %w", s, err)
		}
	}
	// TCP and QUIC only (mycel speaks nothing else), neither sharing its
	// port. libp2p binds TCP with SO_REUSEPORT by default, so a second
	// process on a port in use starts without an error and the kernel
	// hands it part of the incoming connections. QUIC's "reuseport" is no
	// socket option (its UDP bind already fails on a port in use) but the
	// sharing of the listening socket with dials; off, every dial has a
	// socket of its own on both transports, and a socket lives no longer
	// than its listener or connection.
	rm, err := resourceManager()
	if err != nil {
		return nil, fmt.Errorf("libp2p resource manager: %w", err)
	}
	opts := []libp2p.Option{libp2p.Identity(pk), libp2p.ResourceManager(rm),
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.QUICReuse(quicreuse.NewConnManager, quicreuse.DisableReuseport())}
	if len(listen) == 0 {
		opts = append(opts, libp2p.NoListenAddrs)
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	h.Network().Notify(newGate(gateMax, gateTimeout).notifiee())
	// One address at a time: libp2p's own Listen succeeds if any address
	// works, and its error names none of those that failed.
	for i, m := range addrs {
		var err error
		if sw, ok := h.Network().(*swarm.Swarm); ok {
			err = sw.AddListenAddr(m) // the transport's error, unwrapped
		} else {
			err = h.Network().Listen(m)
		}
		if err == nil {
			continue
		}
		h.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s is in use by another process: stop it or choose another --listen", listen[i])
		}
		return nil, fmt.Errorf("listen on %s: %w", listen[i], err)
	}
	return h, nil
}

// PeerKey returns the ed25519 public key behind a peer id.
func PeerKey(id peer.ID) (ed25519.PublicKey, error) {
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", id, err)
	}
	raw, err := pk.Raw()
	if err != nil || pk.Type() != crypto.Ed25519 || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("peer %s does not have an ed25519 key", id)
	}
	return ed25519.PublicKey(raw), nil
}

// PeerCloser closes every connection of h to a sync peer (see
// syncer.Config.ClosePeer).
func PeerCloser(h host.Host) func(objsync.PeerID) {
	return func(p objsync.PeerID) {
		if id, err := peer.Decode(string(p)); err == nil {
			h.Network().ClosePeer(id)
		}
	}
}

// clearBackoff forgets libp2p's dial backoff for a peer: callers pace their
// attempts themselves, and libp2p's would add seconds after a peer restarts.
func clearBackoff(h host.Host, id peer.ID) {
	if sw, ok := h.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(id)
	}
}

// ErrIncompatible is wrapped by the error of a dial to a peer that speaks
// another version of the sync protocol.
var ErrIncompatible = errors.New("another version of the sync protocol")

// HandshakeTimeout bounds the vault handshake.
const HandshakeTimeout = 15 * time.Second

// Dial connects to a node and performs the vault handshake: hello carries
// the vault id and membership records (and whether to register). It
// returns the open stream and the node's membership records.
func Dial(ctx context.Context, h host.Host, addr string, hello *pb.Hello) (objsync.PeerID, network.Stream, *bufio.Reader, [][]byte, error) {
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("%q is not a multiaddr: %w", addr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("%s has no /p2p/ peer id (copy the whole address `mycel node` prints): %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	clearBackoff(h, info.ID)
	if err := h.Connect(ctx, *info); err != nil {
		return "", nil, nil, nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	s, err := h.NewStream(ctx, info.ID, ProtocolID)
	if errors.Is(err, multistream.ErrNotSupported[protocol.ID]{}) {
		return "", nil, nil, nil, fmt.Errorf("%w: %s does not speak %s: upgrade mycel on whichever side is older", ErrIncompatible, addr, ProtocolID)
	}
	if err != nil {
		return "", nil, nil, nil, fmt.Errorf("open sync stream to %s: %w", addr, err)
	}
	fail := func(err error) (objsync.PeerID, network.Stream, *bufio.Reader, [][]byte, error) {
		s.Reset()
		closeIfIdle(s.Conn(), s)
		return "", nil, nil, nil, err
	}
	s.SetDeadline(time.Now().Add(HandshakeTimeout))
	self, err := PeerKey(h.ID()) // a device dials nodes with its device key
	if err != nil {
		return fail(err)
	}
	// The hello proves membership with this device's own add record; the
	// whole log follows in a Members frame, which the node reads once it
	// knows the device (see MaxHandshakeFrame).
	first := &pb.Hello{VaultId: hello.VaultId, Register: hello.Register, Invite: hello.Invite, MemberRecords: ownRecords(self, hello.MemberRecords)}
	if err := syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_Hello{Hello: first}}); err != nil {
		return fail(fmt.Errorf("handshake with %s: %w", addr, err))
	}
	// The log goes while the answer is read: a node that refuses reads no
	// more, and a log bigger than the stream's window would block this
	// write, so that the refusal and its reason were never read.
	wrote := make(chan error, 1)
	go func() {
		if len(hello.MemberRecords) == 0 {
			wrote <- nil
			return
		}
		wrote <- syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_Members{Members: &pb.Members{Records: hello.MemberRecords}}})
	}()
	fail = func(err error) (objsync.PeerID, network.Stream, *bufio.Reader, [][]byte, error) {
		s.Reset() // ends the write too
		<-wrote
		closeIfIdle(s.Conn(), s)
		return "", nil, nil, nil, err
	}
	// The node is the one the address names (Noise checked its key), so
	// its answer, with its whole membership log, is read under the limit
	// of an authenticated peer.
	r := handshakeReader(s)
	f, err := syncer.ReadFrame(r)
	if err != nil {
		return fail(fmt.Errorf("handshake with %s: %w", addr, err))
	}
	rep := f.GetHelloReply()
	if rep == nil {
		return fail(fmt.Errorf("handshake with %s: unexpected reply", addr))
	}
	if rep.Error != "" {
		return fail(&RefusedError{Addr: addr, Reason: rep.Error})
	}
	if err := <-wrote; err != nil {
		return fail(fmt.Errorf("handshake with %s: send the membership log: %w", addr, err))
	}
	s.SetDeadline(time.Time{})
	trusted(s.Conn())
	return objsync.PeerID(info.ID.String()), s, syncReader(s, r), rep.MemberRecords, nil
}

// Accept reads a hello on an incoming stream; decide says whether to accept
// it (given the vault, the authenticated peer key and the hello) and with
// which service and records. Refusals are answered with their reason. The
// hello must come within StrangerTimeout and fit MaxHandshakeFrame.
func Accept(s network.Stream, decide func(keys.VaultID, ed25519.PublicKey, *pb.Hello) (*syncer.Service, [][]byte, error)) error {
	r, f, err := firstFrame(s)
	if big := (*syncer.FrameTooLargeError)(nil); errors.As(err, &big) {
		// Says why to an honest device of an older version.
		return answer(s, r, nil, fmt.Errorf("a hello of %d bytes is over the %d-byte limit of a handshake: "+
			"upgrade mycel on this device (it sends its whole membership log in its hello)", big.Size, big.Limit), nil, "")
	}
	if err != nil {
		return err
	}
	vault, hello, err := helloOf(f)
	if err != nil {
		s.Reset()
		return err
	}
	key, err := PeerKey(s.Conn().RemotePeer())
	if err != nil {
		s.Reset()
		return err
	}
	svc, records, err := decide(vault, key, hello)
	return answer(s, r, svc, err, &pb.Frame{Body: &pb.Frame_HelloReply{HelloReply: &pb.HelloReply{MemberRecords: records}}},
		objsync.PeerID(s.Conn().RemotePeer().String()))
}

// helloOf checks a stranger's first frame on a sync stream: a hello
// naming a vault.
func helloOf(f *pb.Frame) (keys.VaultID, *pb.Hello, error) {
	var vault keys.VaultID
	hello := f.GetHello()
	if hello == nil || len(hello.VaultId) != len(vault) {
		return vault, nil, errors.New("handshake: no hello")
	}
	copy(vault[:], hello.VaultId)
	return vault, hello, nil
}

// firstFrame starts answering a stream: it reads the first frame, of at
// most MaxHandshakeFrame bytes, within StrangerTimeout (which bounds the
// whole handshake of an accepted stream). It resets the stream on any
// error but a frame too large, which the caller may answer.
func firstFrame(s network.Stream) (*bufio.Reader, *pb.Frame, error) {
	s.SetDeadline(time.Now().Add(StrangerTimeout))
	r := handshakeReader(s)
	f, err := syncer.ReadFrameLimit(r, MaxHandshakeFrame)
	if big := (*syncer.FrameTooLargeError)(nil); errors.As(err, &big) {
		return r, nil, fmt.Errorf("handshake: %w", err)
	}
	if err != nil {
		s.Reset()
		return nil, nil, fmt.Errorf("handshake: %w", err)
	}
	return r, f, nil
}

// answer ends an accepted handshake: it sends the refusal, or the welcome
// and hands the stream to svc as peer's.
func answer(s network.Stream, r *bufio.Reader, svc *syncer.Service, refusal error, welcome *pb.Frame, peer objsync.PeerID) error {
	if refusal != nil {
		syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_HelloReply{HelloReply: &pb.HelloReply{Error: refusal.Error()}}})
		s.Close()
		return refusal
	}
	if err := syncer.WriteFrame(s, welcome); err != nil {
		s.Reset()
		return err
	}
	s.SetDeadline(time.Time{})
	trusted(s.Conn())
	svc.Attach(peer, StreamConn(s, syncReader(s, r)))
	return nil
}

// writeHandshake writes a handshake frame and, after it, the whole
// membership log (when there is one), in one flush.
func writeHandshake(s network.Stream, f *pb.Frame, records [][]byte) error {
	w := bufio.NewWriter(s)
	if err := syncer.WriteFrame(w, f); err != nil {
		return err
	}
	if len(records) > 0 {
		if err := syncer.WriteFrame(w, &pb.Frame{Body: &pb.Frame_Members{Members: &pb.Members{Records: records}}}); err != nil {
			return err
		}
	}
	return w.Flush()
}

// ownRecords picks, from a membership log, the records that add the device
// key: what proves it a member in a handshake. It stops
// before they would not fit MaxHandshakeFrame (one always fits: records
// are at most member.MaxRecordSize). Records it cannot read are skipped;
// the receiver verifies the rest.
func ownRecords(key ed25519.PublicKey, records [][]byte) [][]byte {
	var out [][]byte
	size := 0
	for _, raw := range records {
		var sr pb.SignedRecord
		var rec pb.MemberRecord
		if proto.Unmarshal(raw, &sr) != nil || proto.Unmarshal(sr.Body, &rec) != nil ||
			rec.Kind != pb.MemberRecord_ADD_DEVICE || !bytes.Equal(rec.Device, key) {
			continue
		}
		if size += len(raw) + 8; size > MaxHandshakeFrame-512 {
			break
		}
		out = append(out, raw)
	}
	return out
}

// HostKey is a host's own ed25519 key (a node signs its acknowledgements
// with it: its peer id names the public half).
func HostKey(h host.Host) (ed25519.PrivateKey, error) {
	k := h.Peerstore().PrivKey(h.ID())
	if k == nil || k.Type() != crypto.Ed25519 {
		return nil, errors.New("the host has no ed25519 key")
	}
	raw, err := k.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("host key: %v", err)
	}
	return ed25519.PrivateKey(raw), nil
}
