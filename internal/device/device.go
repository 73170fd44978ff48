// Package device runs a device: its libp2p host, the sync service of its
// vault, and a connection to each configured backup node, redialed with
// jittered exponential backoff whenever it drops.
package device

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/objsync"
	"mycel/internal/p2p"
	"mycel/internal/pb"
	"mycel/internal/vault"
)

// Config tunes a running device.
type Config struct {
	Service    p2p.ServiceConfig
	BackoffMin time.Duration
	BackoffMax time.Duration // the cap: at most this long between attempts
	Log        *slog.Logger
	// NetCheck is how often the device looks for a network change (its
	// interface addresses); on one, waiting dials go at once. Zero: never.
	NetCheck time.Duration
	// Addrs lists the interface addresses (net.InterfaceAddrs; tests fake it).
	Addrs func() ([]net.Addr, error)

	// Listen: where other devices of the vault can reach this one (none:
	// it only dials).
	Listen []string
	// Peers: other devices' addresses to dial (with /p2p/), besides those
	// found on the network and remembered.
	Peers []string
	// LAN finds devices on the local network by mDNS.
	LAN bool
	// LANOnly never dials a node.
	LANOnly bool
	// RedialEvery: how often a device not connected is dialed again.
	RedialEvery time.Duration
}

// DefaultConfig: 1 s ticks, reconcile every 20 s, backoff from 250 ms to
// 30 s; listening on every interface, finding devices by mDNS, redialing
// them every 10 s.
func DefaultConfig(log *slog.Logger) Config {
	return Config{Service: p2p.ServiceConfig{Sync: objsync.DefaultConfig, Tick: time.Second, Log: log},
		BackoffMin: 250 * time.Millisecond, BackoffMax: 30 * time.Second, Log: log,
		NetCheck: 2 * time.Second, Addrs: net.InterfaceAddrs,
		Listen: []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}, LAN: true, RedialEvery: 10 * time.Second}
}

// Device is a running device.
type Device struct {
	Engine  *vault.Engine
	Host    host.Host
	Service *p2p.Service
	cfg     Config

	mu    sync.Mutex
	nodes map[string]*NodeState
	peers map[peer.ID]*PeerState // other devices of the vault
	kick  chan struct{}          // closed (and replaced) when the network changes
}

// NodeState is what the device knows of one configured node.
type NodeState struct {
	Addr      string
	Peer      objsync.PeerID
	Connected bool
	LastSeen  time.Time
	LastError string
	Attempts  int
	// Incompatible: the node speaks another version of the sync protocol.
	Incompatible bool
}

// Start starts the host and the service and dials every configured node.
func Start(ctx context.Context, e *vault.Engine, cfg Config) (*Device, error) {
	h, err := p2p.NewHost(e.HostKey(), cfg.Listen)
	if err != nil {
		return nil, err
	}
	d := &Device{Engine: e, Host: h, cfg: cfg, nodes: map[string]*NodeState{}, peers: map[peer.ID]*PeerState{}, kick: make(chan struct{})}
	svc := cfg.Service
	svc.LocalAuthor = e.DeviceKey() // offer what the CLI writes while this runs
	svc.ClosePeer = p2p.PeerCloser(h)
	d.Service = p2p.NewService(objsync.PeerID(h.ID().String()), e.VaultID(), e.Store(), e.ReceiveBatch,
		p2p.Members{Get: e.MemberRecords, Add: e.AddMemberRecords}, svc)
	go d.Service.Run(ctx)
	addrs, err := e.Nodes(ctx)
	if err != nil {
		h.Close()
		return nil, err
	}
	for _, a := range addrs {
		if cfg.LANOnly {
			break
		}
		d.nodes[a] = &NodeState{Addr: a}
		go d.keepConnected(ctx, a)
	}
	if err := d.servePeers(ctx); err != nil {
		h.Close()
		return nil, err
	}
	if cfg.NetCheck > 0 && cfg.Addrs != nil {
		go d.watchNetwork(ctx)
	}
	go func() {
		<-ctx.Done()
		h.Close()
	}()
	return d, nil
}

// Poke makes the device look for new local changes now.
func (d *Device) Poke() { d.Service.Poke() }

// Nodes reports the configured nodes' states.
func (d *Device) Nodes() []NodeState {
	d.mu.Lock()
	defer d.mu.Unlock()
	peers := d.Service.Peers()
	var out []NodeState
	for _, n := range d.nodes {
		s := *n
		_, s.Connected = peers[s.Peer]
		out = append(out, s)
	}
	return out
}

// keepConnected dials a node and, whenever the connection ends, dials again
// after a jittered, exponentially growing pause (capped), reset on success.
func (d *Device) keepConnected(ctx context.Context, addr string) {
	backoff := d.cfg.BackoffMin
	for ctx.Err() == nil {
		recs, err := d.Engine.MemberRecords(ctx)
		if err != nil {
			d.cfg.Log.Error("read membership", "err", err)
			return
		}
		peer, stream, r, theirs, err := p2p.Dial(ctx, d.Host, addr, &pb.Hello{VaultId: vid(d), MemberRecords: recs})
		d.mu.Lock()
		st := d.nodes[addr]
		st.Attempts++
		if err != nil {
			st.LastError, st.Incompatible = err.Error(), errors.Is(err, p2p.ErrIncompatible)
		} else {
			st.Peer, st.LastError, st.LastSeen, st.Attempts, st.Incompatible = peer, "", time.Now(), 0, false
		}
		d.mu.Unlock()
		if err == nil {
			if err := d.Engine.AddMemberRecords(ctx, theirs); err != nil {
				d.cfg.Log.Warn("membership records from the node refused", "node", addr, "err", err)
			}
			d.cfg.Log.Info("connected to node", "node", addr)
			backoff = d.cfg.BackoffMin
			select {
			case <-d.Service.Attach(peer, stream, r):
			case <-ctx.Done():
				return
			}
			d.cfg.Log.Info("disconnected from node", "node", addr)
			continue
		}
		if errors.Is(err, context.Canceled) {
			return
		}
		d.cfg.Log.Info("cannot reach node", "node", addr, "err", err, "retry_in", backoff.Round(time.Millisecond))
		// Jitter: somewhere in [backoff/2, backoff].
		pause := backoff/2 + time.Duration(rand.Int64N(int64(backoff/2)+1))
		d.mu.Lock()
		kick := d.kick
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
			backoff = min(backoff*2, d.cfg.BackoffMax)
		case <-kick: // the network changed: try now, from the shortest pause
			backoff = d.cfg.BackoffMin
		}
	}
}

func vid(d *Device) []byte {
	id := d.Engine.VaultID()
	return id[:]
}

// watchNetwork wakes every waiting dial when the interface addresses change.
func (d *Device) watchNetwork(ctx context.Context) {
	last := addrKey(d.cfg.Addrs)
	t := time.NewTicker(d.cfg.NetCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now := addrKey(d.cfg.Addrs); now != last {
			last = now
			d.cfg.Log.Info("network changed; redialing nodes")
			d.mu.Lock()
			close(d.kick)
			d.kick = make(chan struct{})
			d.mu.Unlock()
		}
	}
}

func addrKey(list func() ([]net.Addr, error)) string {
	as, err := list()
	if err != nil {
		return "error"
	}
	keys := make([]string, len(as))
	for i, a := range as {
		keys[i] = a.String()
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// Register asks the node at addr to store this vault (proving membership
// with the handshake) and adds it to the device's nodes.
func Register(ctx context.Context, e *vault.Engine, addr string) error {
	h, err := p2p.NewHost(e.HostKey(), nil)
	if err != nil {
		return err
	}
	defer h.Close()
	recs, err := e.MemberRecords(ctx)
	if err != nil {
		return err
	}
	id := e.VaultID()
	_, stream, _, theirs, err := p2p.Dial(ctx, h, addr, &pb.Hello{VaultId: id[:], MemberRecords: recs, Register: true})
	if err != nil {
		return err
	}
	stream.Close()
	if err := e.AddMemberRecords(ctx, theirs); err != nil {
		return err
	}
	nodes, err := e.Nodes(ctx)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n == addr {
			return nil
		}
	}
	return e.SetNodes(ctx, append(nodes, addr))
}

func objsyncPeer(id peer.ID) objsync.PeerID { return objsync.PeerID(id.String()) }

func peerKey(p objsync.PeerID) (ed25519.PublicKey, error) {
	id, err := peer.Decode(string(p))
	if err != nil {
		return nil, err
	}
	return p2p.PeerKey(id)
}
