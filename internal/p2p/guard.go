package p2p

import (
	"bufio"
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"mycel/internal/syncer"
)

// What a stranger can cost a host before any handshake. A peer id is
// free (a fresh key), so nothing here trusts one: a connection becomes
// trusted only when a vault or device handshake completes on it.

// MaxHandshakeFrame bounds every frame read from a peer not yet
// authenticated: the hello of a vault handshake, and the dialer's hello
// and proof of a device handshake (and the first answer a dialer reads
// from a device it found). The biggest honest one is a hello with the
// vault id and the dialer's own add record (at most member.MaxRecordSize,
// 4 KiB): the rest of the membership log follows the handshake in a
// Members frame, read under syncer.MaxFrame once the peer is known. A log
// grows with every device ever added or renamed, so a hello carrying it
// had no fixed bound.
const MaxHandshakeFrame = 8 << 10

// StrangerTimeout bounds how long a stranger may take: an accepted
// stream's handshake frames must arrive within it, and an inbound
// connection on which no handshake completed by then is closed.
const StrangerTimeout = 10 * time.Second

// MaxStrangers bounds a host's inbound connections on which no handshake
// has completed yet; a new one beyond it closes the oldest. Honest
// devices complete their handshake within milliseconds of connecting, so
// they are the youngest strangers and the last to go: idle connections
// held open by strangers cannot lock them out. It stays well under the
// resource manager's inbound connection limit, so that limit is never
// reached by strangers alone.
const MaxStrangers = 128

// The gate's bounds (tests shorten them).
var gateMax, gateTimeout = MaxStrangers, StrangerTimeout

// handshakeBuffer sizes the reader of a stream during its handshake; once
// it is done the reader is replaced by one of syncer.ReadBuffer.
const handshakeBuffer = 4 << 10

// resourceManager is libp2p's resource manager with explicit limits,
// libp2p's defaults (scaled to the machine) for everything not set here.
// Streams, connections and memory per peer bound what one identity can
// hold; the totals and the per-subnet limits bound many identities;
// mycel's protocols take at most a few streams per peer (one sync stream,
// another while a reconnection replaces it). Memory here is what the
// muxers reserve for their windows (yamux: 256 KiB per stream), which
// grow only with the memory allowed.
func resourceManager() (network.ResourceManager, error) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	ours := rcmgr.ResourceLimits{StreamsInbound: 4, StreamsOutbound: 4, Streams: 8, Memory: 64 << 20}
	limits := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: 2048, ConnsInbound: 1024, ConnsOutbound: 1024,
			Streams: 8192, StreamsInbound: 4096, StreamsOutbound: 4096,
			Memory: 1 << 30,
		},
		// Connections in their security handshake, and streams not yet
		// past protocol negotiation: libp2p times both out.
		Transient: rcmgr.ResourceLimits{
			Conns: 320, ConnsInbound: 256, ConnsOutbound: 64,
			Streams: 512, StreamsInbound: 256, StreamsOutbound: 256,
			Memory: 64 << 20,
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns: 8, ConnsInbound: 8, ConnsOutbound: 8,
			Streams: 32, StreamsInbound: 12, StreamsOutbound: 20,
			Memory: 128 << 20,
		},
		ProtocolPeer: map[protocol.ID]rcmgr.ResourceLimits{ProtocolID: ours, PeerProtocolID: ours, ChunkProtocolID: ours},
	}
	// Per address: libp2p's defaults (8 connections per IPv4 address, per
	// IPv6 /56), doubled, since a device behind a NAT shares its address.
	// Loopback stays unlimited (libp2p's default): it is this machine.
	v4 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: 16}}
	v6 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: 16}, {PrefixLength: 48, ConnCount: 128}}
	return rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.Build(scaling.AutoScale())), rcmgr.WithLimitPerSubnet(v4, v6))
}

// gate closes the inbound connections of strangers: those on which no
// handshake completed within StrangerTimeout, and the oldest beyond
// MaxStrangers.
type gate struct {
	max     int
	timeout time.Duration

	mu      sync.Mutex
	waiting map[network.Conn]*time.Timer
	order   []network.Conn // arrival order; may hold conns no longer waiting
}

// waitingConns maps every connection of any host still waiting for a
// handshake to its host's gate, so that a handshake finds it from its
// stream alone.
var waitingConns sync.Map

func newGate(max int, timeout time.Duration) *gate {
	return &gate{max: max, timeout: timeout, waiting: map[network.Conn]*time.Timer{}}
}

func (g *gate) notifiee() network.Notifiee {
	return &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			if c.Stat().Direction == network.DirInbound {
				g.add(c)
			}
		},
		DisconnectedF: func(_ network.Network, c network.Conn) { g.remove(c) },
	}
}

func (g *gate) add(c network.Conn) {
	g.mu.Lock()
	g.waiting[c] = time.AfterFunc(g.timeout, func() {
		if g.remove(c) {
			c.Close()
		}
	})
	waitingConns.Store(c, g)
	g.order = append(g.order, c)
	var evict []network.Conn
	for len(g.waiting) > g.max {
		old := g.order[0]
		g.order = g.order[1:]
		if t, ok := g.waiting[old]; ok {
			t.Stop()
			delete(g.waiting, old)
			waitingConns.Delete(old)
			evict = append(evict, old)
		}
	}
	if len(g.order) > 2*len(g.waiting)+64 { // drop those no longer waiting
		kept := g.order[:0]
		for _, o := range g.order {
			if _, ok := g.waiting[o]; ok {
				kept = append(kept, o)
			}
		}
		clear(g.order[len(kept):])
		g.order = kept
	}
	g.mu.Unlock()
	for _, o := range evict {
		go o.Close() // not under the swarm's notification
	}
}

// remove stops waiting for c, reporting whether it was waiting.
func (g *gate) remove(c network.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.waiting[c]
	if ok {
		t.Stop()
		delete(g.waiting, c)
		waitingConns.Delete(c)
	}
	return ok
}

// trusted marks a connection on which a handshake completed: the gate no
// longer closes it.
func trusted(c network.Conn) {
	if g, ok := waitingConns.Load(c); ok {
		g.(*gate).remove(c)
	}
}

// closeIfIdle closes a connection whose handshake failed unless another
// sync or device stream runs on it: a stranger's connection is not worth
// keeping, and libp2p would reuse it for the next dial.
func closeIfIdle(c network.Conn, failed network.Stream) {
	for _, s := range c.GetStreams() {
		if p := s.Protocol(); s != failed && (p == ProtocolID || p == PeerProtocolID) {
			return
		}
	}
	c.Close()
}

// handshakeReader reads a stream during its handshake: small, since
// strangers may open many.
func handshakeReader(s network.Stream) *bufio.Reader { return bufio.NewReaderSize(s, handshakeBuffer) }

// syncReader replaces a handshake reader once the handshake is done,
// keeping what it read past the handshake.
func syncReader(s network.Stream, r *bufio.Reader) *bufio.Reader {
	rest, _ := r.Peek(r.Buffered())
	return bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(rest)), s), syncer.ReadBuffer)
}
