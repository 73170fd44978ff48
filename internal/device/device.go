// Package device runs a device: its libp2p host, the sync service of its
// vault, a connection to each configured backup node (redialed with
// jittered exponential backoff whenever it drops; the list re-read on a
// poke, so `mycel nodes add` and `rm` take effect at once), and direct
// connections to the vault's other devices. Close stops all of it and
// waits.
package device

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"maps"
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
	"mycel/internal/store"
	"mycel/internal/syncer"
	"mycel/internal/vault"
)

// Config tunes a running device.
type Config struct {
	Service    syncer.Config
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
	return Config{Service: syncer.Config{Sync: objsync.DefaultConfig, Tick: time.Second, Log: log},
		BackoffMin: 250 * time.Millisecond, BackoffMax: 30 * time.Second, Log: log,
		NetCheck: 2 * time.Second, Addrs: net.InterfaceAddrs,
		Listen: []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}, LAN: true, RedialEvery: 10 * time.Second}
}

// Device is a running device.
type Device struct {
	Engine *vault.Engine
	// Host has the device key for identity: it dials the nodes (which know
	// devices by their keys) and listens nowhere. The LAN host (LANHost),
	// with a key new at every start and every network change, listens
	// (Config.Listen), is announced by mDNS and carries the connections
	// with other devices (see servePeers).
	Host    host.Host
	Service *syncer.Service
	cfg     Config
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // every goroutine the device started
	// closing is closed by Close; watched once the goroutine that watches
	// Start's context has ended.
	closing, watched chan struct{}
	closeOnce        sync.Once

	mu    sync.Mutex
	nodes map[string]*NodeState
	peers map[peer.ID]*PeerState // other devices of the vault
	// accepting counts, by LAN host, the handshakes accepted and not yet
	// attached (see claimAccept).
	accepting map[peer.ID]int
	kick      chan struct{} // closed (and replaced) when the network changes
	closed    bool
	mdns      io.Closer
	lan       host.Host // see LANHost
	pacer     lanPacer  // dials of announced devices (lan.go)

	mode     modeState    // the sync mode in force (mode.go)
	pokeMu   sync.Mutex   // Poke's, held while it reads and applies the settings
	activity *activityLog // what sync did, for 'mycel log' (activity.go)
	files    *fileMover   // file chunks to and from nodes (files.go)
	acks     *nodeAcks    // nodes' signed acknowledgements (nodeacks.go)
	keep     *keeper      // files kept offline, downloads under way (keep.go)
	seen     lastSeen     // when other devices were last heard from (lastseen.go)
	held     heldTimes    // when peers said what they hold (peerstatus.go)
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
	// Refused is the node's whole reason when it refused the handshake
	// (the vault is not registered there, say); empty otherwise.
	Refused string

	// Warming up (see warmingUp): whether the node was configured at
	// start, its first dial attempt has ended, that attempt connected,
	// and that first connection has ended since.
	atStart, firstEnded, firstConnected, firstConnEnded bool
	stop                                                context.CancelFunc // ends its dial loop
}

// Start starts the hosts and the service and dials every configured node.
// It runs until ctx ends or Close.
func Start(ctx context.Context, e *vault.Engine, cfg Config) (*Device, error) {
	h, err := p2p.NewHost(e.HostKey(), nil)
	if err != nil {
		return nil, err
	}
	lan, err := p2p.NewLANHost(cfg.Listen)
	if err != nil {
		h.Close()
		return nil, err
	}
	addrs, err := e.Nodes(ctx)
	if err != nil {
		lan.Close()
		h.Close()
		return nil, err
	}
	// Changes stored before the chunk index (format 4) name their files'
	// chunks only in their bytes: indexed once, or they never upload.
	if err := store.IndexOldChunkRefs(ctx, e.Store()); err != nil {
		lan.Close()
		h.Close()
		return nil, err
	}
	d := &Device{Engine: e, Host: h, lan: lan, cfg: cfg, nodes: map[string]*NodeState{}, peers: map[peer.ID]*PeerState{}, accepting: map[peer.ID]int{}, kick: make(chan struct{}),
		closing: make(chan struct{}), watched: make(chan struct{})}
	d.ctx, d.cancel = context.WithCancel(ctx)
	if d.activity, err = newActivityLog(d); err != nil {
		lan.Close()
		h.Close()
		return nil, err
	}
	d.held.full = make(chan struct{}, 1)
	d.files = newFileMover(d)
	d.keep = newKeeper()
	svc := cfg.Service
	svc.LocalAuthor = e.DeviceKey() // offer what the CLI writes while this runs
	svc.ClosePeer = d.closePeer
	svc.Activity = d.activity.note
	svc.Removed = d.removed
	svc.SyncOff = &syncer.SyncOff{Rev: vault.SyncOffRev, List: vault.SyncOffIn} // pages kept to this device
	if d.acks, err = newNodeAcks(ctx, d); err != nil {
		lan.Close()
		h.Close()
		return nil, err
	}
	svc.Acks = d.acks.hooks()       // nodes' signed words (nodeacks.go)
	svc.Held = d.noteHeld(svc.Held) // when each peer said what it holds (peerstatus.go)
	d.Service = syncer.Start(d.ctx, objsync.PeerID(h.ID().String()), e.Store(), d.noteAuthors(e.ReceiveBatch),
		syncer.Members{Get: e.MemberRecords, Add: e.AddMemberRecords}, svc)
	mode := d.readMode(ctx)
	d.mu.Lock()
	d.applyMode(mode)
	d.setNodes(addrs, true)
	d.mu.Unlock()
	if err := d.servePeers(d.ctx); err != nil {
		d.activity.log.Close()
		d.shutdown()
		h.Close()
		return nil, err
	}
	if cfg.NetCheck > 0 && cfg.Addrs != nil {
		// The addresses are read now, not when the watcher first runs: a
		// change between this start and its goroutine's would go unseen.
		lastAddrs, lastNet := addrKey(cfg.Addrs), networkKey(cfg.Addrs)
		d.mu.Lock()
		d.goTracked(func() { d.watchNetwork(d.ctx, lastAddrs, lastNet) })
		d.mu.Unlock()
	}
	d.mu.Lock()
	d.goTracked(d.watchStored)
	d.goTracked(func() { d.activity.run(d.ctx) })
	d.goTracked(d.keepLastSeen)
	d.startKeeping()
	d.mu.Unlock()
	// A caller that only cancels ctx (and never calls Close) still gets
	// everything stopped, the host included; after Close, the host is the
	// caller's.
	go func() {
		defer close(d.watched)
		select {
		case <-ctx.Done():
			d.shutdown()
			h.Close()
		case <-d.closing:
		}
	}()
	return d, nil
}

// goTracked runs f on a goroutine that Close waits for; none once closed.
// (Callers hold d.mu, or are the device's own start-up.)
func (d *Device) goTracked(f func()) bool {
	if d.closed {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
	return true
}

// Close stops the device: its dial loops (and the connections they made),
// LAN discovery, the network watch and the sync service, and waits for
// every goroutine it started. The host is the caller's to close after (or
// is closed when Start's context ends).
func (d *Device) Close() {
	d.shutdown()
	d.closeOnce.Do(func() { close(d.closing) })
	<-d.watched
}

func (d *Device) shutdown() {
	d.mu.Lock()
	already := d.closed
	d.closed = true
	mdns := d.mdns
	d.mu.Unlock()
	if already {
		d.wg.Wait()
		return
	}
	d.LANHost().RemoveStreamHandler(p2p.PeerProtocolID)
	if mdns != nil {
		mdns.Close()
	}
	d.cancel()
	d.Service.Close()
	d.wg.Wait()
	d.LANHost().Close() // the device's own (Host is the caller's)
}

// closePeer closes every transport connection to a sync peer: a node's on
// Host, a device's on the LAN host (by each LAN id it was found at).
func (d *Device) closePeer(p objsync.PeerID) {
	p2p.PeerCloser(d.Host)(p)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closeLAN(p)
}

// setNodes makes the dialed nodes those of addrs: it starts a dial loop
// for each new one and stops those no longer listed (their connection is
// dropped). Called with d.mu held.
func (d *Device) setNodes(addrs []string, atStart bool) {
	if !d.mode.nodes {
		addrs = nil
	}
	want := map[string]bool{}
	for _, a := range addrs {
		want[a] = true
		if d.nodes[a] != nil {
			continue
		}
		ctx, stop := context.WithCancel(d.ctx)
		st := &NodeState{Addr: a, atStart: atStart, stop: stop}
		if !d.goTracked(func() { d.keepConnected(ctx, st) }) {
			stop()
			continue
		}
		d.nodes[a] = st
		if !atStart {
			d.cfg.Log.Info("node added", "node", a)
		}
	}
	for a, st := range d.nodes {
		if !want[a] {
			d.cfg.Log.Info("node removed", "node", a)
			st.stop()
			delete(d.nodes, a)
		}
	}
}

// Poke makes the device look for new local changes now, and re-read its
// node list and sync mode (a CLI that wrote any pokes the running device).
func (d *Device) Poke() {
	// One poke at a time, from reading the settings to applying them: two
	// at once could apply the older mode last.
	d.pokeMu.Lock()
	defer d.pokeMu.Unlock()
	d.Service.Poke()
	d.files.poke()
	d.keep.poke() // the keep-offline setting may have changed
	if d.acks != nil {
		d.acks.reload() // 'mycel nodes trust' may have cleared marks
	}
	addrs, err := d.Engine.Nodes(d.ctx)
	if err != nil {
		d.cfg.Log.Warn("read the node list", "err", err)
		return
	}
	mode := d.readMode(d.ctx)
	d.mu.Lock()
	resume := d.applyMode(mode)
	d.setNodes(addrs, false)
	d.mu.Unlock()
	if resume {
		d.resumeDevices(d.ctx)
	}
	d.sendRemovalsToAll()
}

// Nodes reports the configured nodes' states, by address.
func (d *Device) Nodes() []NodeState {
	d.mu.Lock()
	defer d.mu.Unlock()
	peers := d.Service.Peers()
	var out []NodeState
	for _, a := range slices.Sorted(maps.Keys(d.nodes)) {
		s := *d.nodes[a]
		s.stop = nil
		_, s.Connected = peers[s.Peer]
		s.Connected = s.Connected && s.Peer != ""
		out = append(out, s)
	}
	return out
}

// warmingUp says why the device is still warming up, or "" once it is
// done: until the first dial attempt to every node configured at start
// has ended, and the first reconciliation with each node that first
// attempt reached has finished (or that connection has ended). Every one
// of these facts, once true, stays true, so warming up ends once and for
// all: a node added later, or a device that joins, never brings it back.
func (d *Device) warmingUp() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range slices.Sorted(maps.Keys(d.nodes)) {
		st := d.nodes[a]
		switch {
		case !st.atStart:
		case !st.firstEnded:
			return "connecting to " + a
		case st.firstConnected && !st.firstConnEnded && !d.Service.Reconciled(st.Peer):
			return "comparing with the backup node at " + a
		}
	}
	return ""
}

// keepConnected dials a node and, whenever the connection ends, dials again
// after a jittered, exponentially growing pause (capped), reset on success.
// It ends, dropping its connection, when ctx does (the node was removed,
// or the device is closing).
func (d *Device) keepConnected(ctx context.Context, st *NodeState) {
	addr := st.Addr
	backoff := d.cfg.BackoffMin
	for ctx.Err() == nil {
		recs, err := d.Engine.MemberRecords(ctx)
		if err != nil {
			d.cfg.Log.Error("read membership", "err", err)
			return
		}
		peer, stream, r, theirs, err := p2p.Dial(ctx, d.Host, addr, &pb.Hello{VaultId: vid(d), MemberRecords: recs})
		if ctx.Err() != nil {
			if err == nil {
				stream.Reset()
			}
			return
		}
		var refused *p2p.RefusedError
		d.mu.Lock()
		st.Attempts++
		first := !st.firstEnded
		st.firstEnded = true
		if err != nil {
			st.LastError, st.Incompatible, st.Refused = err.Error(), errors.Is(err, p2p.ErrIncompatible), ""
			if errors.As(err, &refused) {
				st.Refused = refused.Reason
			}
		} else {
			st.Peer, st.LastError, st.LastSeen, st.Attempts, st.Incompatible, st.Refused = peer, "", time.Now(), 0, false, ""
			st.firstConnected = st.firstConnected || first
		}
		d.mu.Unlock()
		if err == nil {
			if err := d.Engine.AddMemberRecords(ctx, theirs); err != nil {
				d.cfg.Log.Warn("membership records from the node refused", "node", addr, "err", err)
			}
			d.cfg.Log.Info("connected to node", "node", addr)
			backoff = d.cfg.BackoffMin
			stopFiles := d.files.nodeUp(ctx, peer, addr)
			ended := d.Service.Attach(peer, p2p.StreamConn(stream, r))
			d.sendRemovals(ctx, peer, addr)
			select {
			case <-ended:
			case <-ctx.Done():
				d.Service.Drop(peer)
			}
			stopFiles()
			d.mu.Lock()
			st.firstConnEnded = st.firstConnEnded || st.firstConnected
			st.LastSeen = time.Now() // last contact, not when it connected
			d.mu.Unlock()
			d.cfg.Log.Info("disconnected from node", "node", addr)
			continue
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

// watchNetwork wakes every waiting dial when the interface addresses
// change from last, and renews the LAN host when the networks change from
// lastNet.
func (d *Device) watchNetwork(ctx context.Context, last, lastNet string) {
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
			if n := networkKey(d.cfg.Addrs); n != lastNet {
				lastNet = n
				d.renewLAN(ctx)
			}
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
	return RegisterInvited(ctx, e, addr, "")
}

// RegisterInvited is Register with the node's invite token, for a node
// that registers new vaults by invitation only. The token is sent once:
// the vault, once registered, is served without it.
func RegisterInvited(ctx context.Context, e *vault.Engine, addr, invite string) error {
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
	_, stream, _, theirs, err := p2p.Dial(ctx, h, addr, &pb.Hello{VaultId: id[:], MemberRecords: recs, Register: true, Invite: invite})
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
