// Package p2p carries mycel's sync protocol over libp2p (TCP and QUIC,
// Noise, yamux): the host, the vault handshake with a node (Dial, Accept),
// the handshake between devices of one vault (DialPeer, AcceptPeer), and
// an adapter that makes a libp2p stream a syncer.Conn. What runs over the
// connection once its handshake is done is package syncer's.
package p2p

import (
	"bufio"
	"errors"

	"github.com/libp2p/go-libp2p/core/network"

	"mycel/internal/syncer"
)

// ProtocolID names the sync protocol.
const ProtocolID = "/mycel/sync/2"

// ErrRefused is wrapped by the error of a handshake the other side refused.
var ErrRefused = errors.New("refused")

// RefusedError is a handshake the other side refused, with the reason it
// gave, whole.
type RefusedError struct {
	Addr   string // whom we dialed
	Reason string
}

func (e *RefusedError) Error() string { return "refused by " + e.Addr + ": " + e.Reason }
func (e *RefusedError) Unwrap() error { return ErrRefused }

// StreamConn makes a stream whose handshake is done a syncer.Conn; r reads
// s and may hold what was read past the handshake. Closing it resets the
// stream: whatever is unsent then is not worth waiting for.
func StreamConn(s network.Stream, r *bufio.Reader) syncer.Conn {
	return &streamConn{Conn: syncer.NewConn(s, r, s.Stat().Direction == network.DirOutbound), s: s}
}

type streamConn struct {
	syncer.Conn
	s network.Stream
}

func (c *streamConn) Close() error { return c.s.Reset() }
