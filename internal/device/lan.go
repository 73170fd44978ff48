package device

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	ma "github.com/multiformats/go-multiaddr"

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
	dialing bool
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

// servePeers answers other devices of the vault and, unless LAN discovery
// is off, finds them by mDNS; it dials the configured and remembered ones.
func (d *Device) servePeers(ctx context.Context) error {
	d.Host.SetStreamHandler(p2p.PeerProtocolID, func(s network.Stream) {
		if err := p2p.AcceptPeer(s, d.Engine.DiscoveryKey(), d.admitPeer); err != nil {
			d.cfg.Log.Info("refused a device", "peer", s.Conn().RemotePeer().ShortString(), "err", err)
			return
		}
		// Where it listens, as identify told (not the port it dialed from).
		d.connectedPeer(s.Conn().RemotePeer(), nil)
	})
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
	if d.cfg.LAN {
		svc := mdns.NewMdnsService(d.Host, MDNSService, notifee{ctx, d})
		if err := svc.Start(); err != nil {
			return fmt.Errorf("start LAN discovery (mDNS): %w", err)
		}
		d.mu.Lock()
		d.mdns = svc
		d.mu.Unlock()
	}
	return nil
}

type notifee struct {
	ctx context.Context
	d   *Device
}

func (n notifee) HandlePeerFound(info peer.AddrInfo) {
	if info.ID != n.d.Host.ID() {
		n.d.foundPeer(n.ctx, info, false)
	}
}

// admitPeer decides on a device that proved it holds the discovery key: it
// must be a member of the vault, by the records it brought or ours.
func (d *Device) admitPeer(key ed25519.PublicKey, records [][]byte) (*syncer.Service, [][]byte, error) {
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

// foundPeer learns of another device (configured or remembered: proven;
// or found by mDNS) and keeps a connection to it. (Two devices that dial
// each other at once keep one connection: see syncer.Service.Attach.)
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
		if _, connected := d.Service.Peers()[objsyncPeer(id)]; !connected {
			if !proven && !d.lan.acquire(ctx) {
				return
			}
			ok := d.dialPeer(ctx, id)
			if !proven {
				d.lan.release()
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
// connected.
func (d *Device) dialPeer(ctx context.Context, id peer.ID) bool {
	d.mu.Lock()
	info := peer.AddrInfo{ID: id, Addrs: d.peers[id].Addrs}
	d.mu.Unlock()
	recs, err := d.Engine.MemberRecords(ctx)
	if err != nil {
		d.cfg.Log.Error("read membership", "err", err)
		return false
	}
	pid, stream, r, theirs, err := p2p.DialPeer(ctx, d.Host, info, d.Engine.DiscoveryKey(), recs)
	if err == nil {
		if err = d.Engine.AddMemberRecords(ctx, theirs); err == nil {
			var key ed25519.PublicKey
			if key, err = p2p.PeerKey(id); err == nil {
				var ok bool
				if ok, err = d.Engine.IsMember(ctx, key); err == nil && !ok {
					err = fmt.Errorf("device %x holds the vault's key but is not a member", key[:6])
				}
			}
		}
		if err != nil {
			stream.Reset()
		}
	}
	d.mu.Lock()
	st := d.peers[id]
	if err != nil {
		st.LastError = err.Error()
		st.Foreign = errors.Is(err, p2p.ErrNotOurVault)
		st.tries++
	}
	d.mu.Unlock()
	if err != nil {
		d.cfg.Log.Info("cannot sync with device", "peer", id.ShortString(), "err", err)
		return false
	}
	d.connectedPeer(id, nil)
	d.cfg.Log.Info("connected to device", "peer", id.ShortString())
	select {
	case <-d.Service.Attach(pid, p2p.StreamConn(stream, r)):
	case <-ctx.Done():
	}
	d.cfg.Log.Info("disconnected from device", "peer", id.ShortString())
	return true
}

// connectedPeer records a connection to a device and remembers where it
// was found.
func (d *Device) connectedPeer(id peer.ID, addrs []ma.Multiaddr) {
	d.mu.Lock()
	st := d.peers[id]
	if st == nil {
		st = &PeerState{ID: id}
		d.peers[id] = st
	}
	st.LastSeen, st.LastError, st.proven, st.tries = time.Now(), "", true, 0
	if len(addrs) == 0 {
		addrs = d.Host.Peerstore().Addrs(id)
	}
	if len(addrs) > 0 {
		st.Addrs = addrs
	}
	known := map[string][]string{}
	for pid, s := range d.peers {
		if s.Foreign || len(s.Addrs) == 0 {
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
	var out []PeerState
	for _, st := range d.peers {
		s := *st
		_, s.Connected = conn[objsyncPeer(s.ID)]
		out = append(out, s)
	}
	return out
}
