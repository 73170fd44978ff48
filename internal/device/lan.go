package device

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	ma "github.com/multiformats/go-multiaddr"

	"mycel/internal/objsync"
	"mycel/internal/p2p"
	"mycel/internal/syncer"
)

// MDNSService is the mDNS service name devices announce. It names no
// vault: the handshake tells devices of one vault from the rest.
const MDNSService = "mycel"

// peersSetting keeps the last known addresses of the vault's other devices.
const peersSetting = "lan_peers"

// PeerState is what the device knows of another device it syncs with
// directly.
type PeerState struct {
	ID        peer.ID
	Addrs     []ma.Multiaddr
	Connected bool
	LastSeen  time.Time
	LastError string
	// Foreign: the peer does not hold this vault's discovery key (a device
	// of another vault); it is not dialed again.
	Foreign bool
	// Device is the sync peer id of the device that proved its key in the
	// handshake (ID is only its LAN host's, new at each of its starts).
	Device  objsync.PeerID
	dialing bool
	// ownDial: this device's handshake with the LAN host is under way,
	// until its connection is attached (or refused). Its dials accepted
	// meanwhile are Device.accepting. Two devices that dial each other at
	// once settle which connection both keep by these (see claimAccept),
	// before either connection is welcomed.
	ownDial bool
	// conn is the transport connection of the last sync stream attached:
	// chunk streams go beside it (see lanLinks).
	conn network.Conn
	// proven: configured, remembered or connected once; the rest were
	// only announced on the LAN, by anyone (see keepPeer).
	proven bool
	tries  int // failed dials in a row of a peer not proven
}

// Announced peers cost dials, and anyone on the LAN can announce any
// number: until a peer has connected once, its dials are paced (one
// start every lanDialEvery, at most lanDialConcurrency at once, shared
// by all such peers), backed off (RedialEvery doubling), and after
// lanTries failures in a row it is forgotten, its loop ended; announced
// again, it starts over. At most lanMaxUnproven are known at once; more
// announcements are ignored until some are forgotten. Configured and
// remembered peers, and those that connected once, are dialed as before.
const (
	lanDialEvery       = 250 * time.Millisecond
	lanDialConcurrency = 4
	lanTries           = 3
	lanMaxUnproven     = 16
)

// lanPacer spaces the dials of peers not proven.
type lanPacer struct {
	mu    sync.Mutex
	next  time.Time
	slots chan struct{}
}

// acquire waits for the next dial start and a free slot; false if ctx
// ended first. A true acquire is paired with release.
func (p *lanPacer) acquire(ctx context.Context) bool {
	p.mu.Lock()
	if p.slots == nil {
		p.slots = make(chan struct{}, lanDialConcurrency)
	}
	at := p.next
	if now := time.Now(); now.After(at) {
		at = now
	}
	p.next = at.Add(lanDialEvery)
	slots := p.slots
	p.mu.Unlock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	select {
	case <-ctx.Done():
		return false
	case slots <- struct{}{}:
		return true
	}
}

func (p *lanPacer) release() { <-p.slots }

// servePeers answers other devices of the vault on the LAN host and,
// unless LAN discovery is off, announces that host and finds the others by
// mDNS; it dials the configured and remembered ones. Only the LAN host's
// id, new at every start, is announced or shown to whoever connects: the
// device key is told inside the handshake, to devices of the vault.
func (d *Device) servePeers(ctx context.Context) error {
	if err := d.serveLAN(ctx, d.LANHost()); err != nil {
		return err
	}
	for _, a := range d.cfg.Peers {
		info, err := peer.AddrInfoFromString(a)
		if err != nil {
			return fmt.Errorf("peer %q: %w (give the whole address with /p2p/)", a, err)
		}
		d.foundPeer(ctx, *info, true)
	}
	for _, info := range d.rememberedPeers(ctx) {
		d.foundPeer(ctx, info, true)
	}
	return nil
}

// LANHost is the host the device shows on the local network (see Host).
func (d *Device) LANHost() host.Host {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lan
}

// serveLAN answers devices on LAN host h and announces it by mDNS (unless
// LAN discovery is off).
func (d *Device) serveLAN(ctx context.Context, h host.Host) error {
	h.SetStreamHandler(p2p.PeerProtocolID, func(s network.Stream) {
		from := s.Conn().RemotePeer()
		claimed := false
		dev, err := p2p.AcceptPeer(s, d.Engine.DiscoveryKey(), d.Engine.HostKey(), func(key ed25519.PublicKey, records [][]byte) (*syncer.Service, [][]byte, error) {
			svc, mine, err := d.admitPeer(key, records)
			if err == nil {
				if err = d.claimAccept(from, key); err == nil {
					claimed = true
				}
			}
			return svc, mine, err
		})
		if claimed {
			defer d.endAccept(from) // once connectedPeer below has run
		}
		if errors.Is(err, p2p.ErrDuplicate) {
			d.cfg.Log.Debug("a device dialed while connected or dialing: the other connection is kept", "peer", from.ShortString())
			return
		}
		if err != nil {
			d.cfg.Log.Info("refused a device", "peer", from.ShortString(), "err", err)
			return
		}
		// Where it listens, as identify told (not the port it dialed from).
		d.connectedPeer(from, dev, nil, s.Conn())
		d.closeIfDevicesOff(dev) // the mode changed while it was welcomed
	})
	d.serveLANChunks(h)
	if !d.cfg.LAN || !d.devicesOn() {
		return nil // (resumeDevices starts discovery when devices are back on)
	}
	svc := mdns.NewMdnsService(h, MDNSService, notifee{ctx, d})
	if err := svc.Start(); err != nil {
		return fmt.Errorf("start LAN discovery (mDNS): %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.mdns != nil || !d.mode.devices || d.lan != h {
		svc.Close() // closed, raced (resumeDevices), turned off or renewed meanwhile
		return nil
	}
	d.mdns = svc
	return nil
}

// networkKey names the networks the device is on: its addresses but
// loopback and link-local ones, which every interface has (a container's
// or VPN's new interface brings only link-local ones) and which say
// nothing of where the device is. A change of it renews the LAN host.
func networkKey(list func() ([]net.Addr, error)) string {
	as, err := list()
	if err != nil {
		return "error"
	}
	var keys []string
	for _, a := range as {
		ip, _, err := net.ParseCIDR(a.String())
		if err != nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() {
			continue
		}
		keys = append(keys, a.String())
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// renewLAN gives the device a new LAN host, with a new key, when the
// network changes: a laptop that sleeps at home and wakes at a café is
// not the same id on both (a restart alone would leave it one). Its
// connections to devices end; the dial loops (kicked by the network
// change) connect again from the new host, and the others hear it
// announced.
func (d *Device) renewLAN(ctx context.Context) {
	d.mu.Lock()
	old, svc, closed := d.lan, d.mdns, d.closed
	d.mdns = nil
	d.mu.Unlock()
	if closed {
		return
	}
	if svc != nil {
		svc.Close()
	}
	old.RemoveStreamHandler(p2p.PeerProtocolID)
	h, err := p2p.NewLANHost(d.cfg.Listen)
	if err != nil {
		// Fixed ports (--listen) are the old host's until it closes.
		old.Close()
		h, err = p2p.NewLANHost(d.cfg.Listen)
	}
	if err != nil {
		d.cfg.Log.Warn("no new LAN host after a network change: devices are not reachable until the next change or a restart", "err", err)
		return
	}
	d.mu.Lock()
	closed = d.closed
	if !closed {
		d.lan = h
	}
	d.mu.Unlock()
	old.Close()
	if closed { // Close came meanwhile: the new host is nobody's
		h.Close()
		return
	}
	if err := d.serveLAN(ctx, h); err != nil {
		d.cfg.Log.Warn("LAN discovery after a network change", "err", err)
	}
	d.cfg.Log.Info("network changed: new LAN identity", "lan", h.ID().ShortString())
	// The devices known by a handshake cannot know the new id but by
	// mDNS (off, or across a router): dial them, wherever they dialed
	// from.
	d.mu.Lock()
	var known []peer.AddrInfo
	for id, st := range d.peers {
		if st.Device != "" && !st.Foreign {
			known = append(known, peer.AddrInfo{ID: id, Addrs: st.Addrs})
		}
	}
	d.mu.Unlock()
	for _, info := range known {
		d.foundPeer(ctx, info, true) // they connected once: proven
	}
}

type notifee struct {
	ctx context.Context
	d   *Device
}

func (n notifee) HandlePeerFound(info peer.AddrInfo) {
	if info.ID != n.d.LANHost().ID() {
		n.d.foundPeer(n.ctx, info, false)
	}
}

// admitPeer decides on a device that proved it holds the discovery key: it
// must be a member of the vault, by the records it brought or ours.
func (d *Device) admitPeer(key ed25519.PublicKey, records [][]byte) (*syncer.Service, [][]byte, error) {
	if !d.devicesOn() {
		return nil, nil, d.errDevicesOff()
	}
	ctx := context.Background()
	if err := d.Engine.AddMemberRecords(ctx, records); err != nil {
		return nil, nil, fmt.Errorf("membership records: %w", err)
	}
	ok, err := d.Engine.IsMember(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("device %x is not a member of this vault", key[:6])
	}
	mine, err := d.Engine.MemberRecords(ctx)
	return d.Service, mine, err
}

// claimAccept decides, before a handshake from LAN host from (a device
// with key) is welcomed, whether its connection is the one to keep, and
// if so claims it until endAccept. Two devices that found each other at
// once dial each other at once: had both handshakes been welcomed, each
// side would use one connection until the other was attached, then drop
// one (the same one on both sides: syncer.KeepsFirst), leaving the device
// that had not yet attached its own with no connection for a moment (its
// chunk streams refused, its sync session restarted), and a dialer whose
// connection was dropped before it read the welcome took the reset for a
// failed dial. Decided here, the loser is refused (p2p.ErrDuplicate) and
// never used. The rule is KeepsFirst's on both sides: this device's own
// handshake with that host, under way, wins if it is the better claim;
// an attached connection wins as Attach would decide. A handshake that
// meets our own under way always meets it: neither can be welcomed
// before the other side has decided on it, and ownDial lasts until our
// connection is attached (then Keeps answers).
func (d *Device) claimAccept(from peer.ID, key ed25519.PublicKey) error {
	dev, err := p2p.DevicePeer(key)
	if err != nil {
		return err
	}
	self := objsync.PeerID(d.Host.ID().String())
	d.mu.Lock()
	if st := d.peers[from]; st != nil && st.ownDial && syncer.KeepsFirst(self, dev, true, false) {
		d.mu.Unlock()
		return p2p.ErrDuplicate
	}
	// Claimed before Keeps asks: keepPeer dials no more meanwhile.
	d.accepting[from]++
	d.mu.Unlock()
	if d.Service.Keeps(d.ctx, dev, false) {
		d.endAccept(from)
		return p2p.ErrDuplicate
	}
	return nil
}

// endAccept ends a claim of claimAccept: the connection is attached, or
// its handshake failed.
func (d *Device) endAccept(from peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.accepting[from]--; d.accepting[from] <= 0 {
		delete(d.accepting, from)
	}
}

// foundPeer learns of another device (configured or remembered: proven;
// or found by mDNS) and keeps a connection to it. (Two devices that dial
// each other at once keep one connection: see claimAccept.)
func (d *Device) foundPeer(ctx context.Context, info peer.AddrInfo, proven bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.peers[info.ID]
	if st == nil {
		if !proven && d.unproven() >= lanMaxUnproven {
			return
		}
		st = &PeerState{ID: info.ID}
		d.peers[info.ID] = st
	}
	st.proven = st.proven || proven
	if len(info.Addrs) > 0 {
		st.Addrs = info.Addrs
	}
	if st.Foreign || st.dialing {
		return
	}
	st.dialing = d.goTracked(func() { d.keepPeer(ctx, info.ID) })
}

// unproven counts the peers known only from announcements; d.mu held.
func (d *Device) unproven() int {
	n := 0
	for _, st := range d.peers {
		if !st.proven {
			n++
		}
	}
	return n
}

// keepPeer dials a device and redials it every RedialEvery (jittered)
// while it is not connected; at once (after BackoffMin) when a connection
// it made ends, since the device was there a moment ago. A peer not
// proven is paced, backed off and forgotten (see lanPacer).
func (d *Device) keepPeer(ctx context.Context, id peer.ID) {
	for ctx.Err() == nil {
		wait := d.cfg.RedialEvery
		d.mu.Lock()
		proven := d.peers[id].proven
		d.mu.Unlock()
		if !d.peerConnected(id) && d.devicesOn() {
			if !proven && !d.pacer.acquire(ctx) {
				return
			}
			ok := d.dialPeer(ctx, id)
			if !proven {
				d.pacer.release()
			}
			if ok {
				wait = d.cfg.BackoffMin
			}
		}
		d.mu.Lock()
		st, kick := d.peers[id], d.kick
		forget := !st.proven && (st.Foreign || st.tries >= lanTries)
		if forget {
			delete(d.peers, id)
		}
		if !st.proven && st.tries > 0 {
			wait <<= min(st.tries-1, 16)
		}
		d.mu.Unlock()
		if st.Foreign || forget {
			return
		}
		pause := wait/2 + time.Duration(rand.Int64N(int64(wait/2)+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		case <-kick: // the network changed: try now
		}
	}
}

// dialPeer connects to a device once and, on success, hands the
// connection to the service and waits for it to end; it reports whether it
// connected, or found the device connected by its own dial (then keepPeer
// looks again soon, in case that connection does not come).
func (d *Device) dialPeer(ctx context.Context, id peer.ID) bool {
	d.mu.Lock()
	st := d.peers[id]
	if d.accepting[id] > 0 || d.connectedLocked(st) {
		// Connected, or its dial came first and is being attached (see
		// claimAccept): a dial now would be a second connection.
		d.mu.Unlock()
		return true
	}
	st.ownDial = true
	info := peer.AddrInfo{ID: id, Addrs: st.Addrs}
	d.mu.Unlock()
	dialed := func() {
		d.mu.Lock()
		st.ownDial = false
		d.mu.Unlock()
	}
	recs, err := d.Engine.MemberRecords(ctx)
	if err != nil {
		dialed()
		d.cfg.Log.Error("read membership", "err", err)
		return false
	}
	link, err := p2p.DialPeer(ctx, d.LANHost(), info, d.Engine.DiscoveryKey(), d.Engine.HostKey(), recs)
	if errors.Is(err, p2p.ErrDuplicate) {
		// It dialed us at the same moment, and its connection is kept (or
		// it was connected): not a failure. keepPeer looks again after
		// BackoffMin, and dials if that connection did not come.
		dialed()
		d.cfg.Log.Debug("dialed a device that dialed too: its connection is kept", "peer", id.ShortString())
		return true
	}
	if err == nil {
		if err = d.Engine.AddMemberRecords(ctx, link.Records); err == nil {
			var ok bool
			if ok, err = d.Engine.IsMember(ctx, link.Key); err == nil && !ok {
				err = fmt.Errorf("device %x holds the vault's key but is not a member", link.Key[:6])
			}
		}
		if err == nil && !d.devicesOn() {
			err = d.errDevicesOff()
		}
		if err != nil {
			link.Stream.Reset()
		}
	}
	d.mu.Lock()
	if err != nil {
		st.ownDial = false
		st.LastError = err.Error()
		st.Foreign = errors.Is(err, p2p.ErrNotOurVault)
		st.tries++
	}
	d.mu.Unlock()
	if err != nil {
		d.cfg.Log.Info("cannot sync with device", "peer", id.ShortString(), "err", err)
		return false
	}
	d.connectedPeer(id, link.Peer, nil, link.Stream.Conn())
	d.cfg.Log.Info("connected to device", "peer", id.ShortString())
	ended := d.Service.Attach(link.Peer, p2p.StreamConn(link.Stream, link.Reader))
	dialed() // attached (or refused): Keeps answers for it from now on
	d.closeIfDevicesOff(link.Peer)
	select {
	case <-ended:
	case <-ctx.Done():
	}
	d.cfg.Log.Info("disconnected from device", "peer", id.ShortString())
	return true
}

// peerConnected says whether the device found at LAN host id is connected
// (by this host or another of its starts).
func (d *Device) peerConnected(id peer.ID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.connectedLocked(d.peers[id])
}

// connectedLocked says whether the device st was found to be is
// connected; d.mu held.
func (d *Device) connectedLocked(st *PeerState) bool {
	if st == nil || st.Device == "" {
		return false
	}
	_, connected := d.Service.Peers()[st.Device]
	return connected
}

// closeLAN closes the LAN connections to device dev (see closePeer).
// Called with d.mu held.
func (d *Device) closeLAN(dev objsync.PeerID) {
	for id, st := range d.peers {
		if st.Device == dev {
			d.lan.Network().ClosePeer(id)
		}
	}
}

// latestLAN maps each device to where it was last met: its other LAN ids
// were its earlier starts, or networks. Called with d.mu held.
func (d *Device) latestLAN() map[objsync.PeerID]*PeerState {
	latest := map[objsync.PeerID]*PeerState{}
	for _, s := range d.peers {
		if l := latest[s.Device]; s.Device != "" && (l == nil || s.LastSeen.After(l.LastSeen)) {
			latest[s.Device] = s
		}
	}
	return latest
}

// connectedPeer records a connection to device dev, found at LAN host id,
// on transport connection c, and remembers where it was found: for each
// device, only its latest LAN host (the others were its earlier starts).
func (d *Device) connectedPeer(id peer.ID, dev objsync.PeerID, addrs []ma.Multiaddr, c network.Conn) {
	d.mu.Lock()
	st := d.peers[id]
	if st == nil {
		st = &PeerState{ID: id}
		d.peers[id] = st
	}
	st.LastSeen, st.LastError, st.Device, st.proven, st.tries, st.conn = time.Now(), "", dev, true, 0, c
	if len(addrs) == 0 {
		addrs = d.lan.Peerstore().Addrs(id)
	}
	if len(addrs) > 0 {
		st.Addrs = addrs
	}
	latest := d.latestLAN()
	known := map[string][]string{}
	for pid, s := range d.peers {
		if s.Foreign || len(s.Addrs) == 0 || (s.Device != "" && latest[s.Device] != s) {
			continue
		}
		for _, a := range s.Addrs {
			known[pid.String()] = append(known[pid.String()], a.String())
		}
	}
	d.mu.Unlock()
	if b, err := json.Marshal(known); err == nil {
		if err := d.Engine.SetSetting(context.Background(), peersSetting, b); err != nil {
			d.cfg.Log.Warn("remember device addresses", "err", err)
		}
	}
}

// rememberedPeers reads the devices' last known addresses.
func (d *Device) rememberedPeers(ctx context.Context) []peer.AddrInfo {
	b, err := d.Engine.Setting(ctx, peersSetting)
	if err != nil || b == nil {
		return nil
	}
	var known map[string][]string
	if err := json.Unmarshal(b, &known); err != nil {
		d.cfg.Log.Warn("forgetting unreadable device addresses", "err", err)
		return nil
	}
	var out []peer.AddrInfo
	for id, addrs := range known {
		pid, err := peer.Decode(id)
		if err != nil {
			continue
		}
		info := peer.AddrInfo{ID: pid}
		for _, a := range addrs {
			if m, err := ma.NewMultiaddr(a); err == nil {
				info.Addrs = append(info.Addrs, m)
			}
		}
		out = append(out, info)
	}
	return out
}

// Peers reports the other devices known to this one.
func (d *Device) Peers() []PeerState {
	d.mu.Lock()
	defer d.mu.Unlock()
	conn := d.Service.Peers()
	latest := d.latestLAN()
	var out []PeerState
	for _, st := range d.peers {
		s := *st
		_, s.Connected = conn[s.Device]
		s.Connected = s.Connected && s.Device != "" && latest[s.Device] == st
		out = append(out, s)
	}
	return out
}
