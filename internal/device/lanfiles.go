package device

import (
	"context"
	"errors"
	"slices"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/semaphore"

	"mycel/internal/files"
	"mycel/internal/objsync"
	"mycel/internal/p2p"
	"mycel/internal/pb"
)

// Devices of the vault serve each other the chunks they hold, on the LAN
// host, so two devices on one network share a file with no node. A LAN
// id is new at every start, so Noise proves only it; the peer handshake
// (/mycel/peer/2) bound it to a device key, and the device remembers that
// binding (d.peers). A chunk stream is served only while that device is
// connected and a member; there is no hello: the binding is the proof.
// LAN peers only Has and Get: they never push (Put) and know nothing of
// a node's holdings (Missing).

const lanChunkMemory = 48 << 20

// serveLANChunks answers chunk streams on LAN host h.
// A LAN peer's requests share lanChunkMemory (a Get's chunk is held until
// written): however many streams the vault's devices open, serving them
// holds at most this much.
func (d *Device) serveLANChunks(h host.Host) {
	mem := semaphore.NewWeighted(lanChunkMemory)
	lim := p2p.ChunkLimits{Requests: 400, Burst: 800, Reserve: func(n int) (func(), error) {
		if err := mem.Acquire(d.ctx, int64(n)); err != nil {
			return nil, err
		}
		return func() { mem.Release(int64(n)) }, nil
	}}
	h.SetStreamHandler(p2p.ChunkProtocolID, func(s network.Stream) {
		dev, ok := d.lanDevice(s.Conn().RemotePeer())
		if !ok {
			s.Reset() // no reason: a stranger learns nothing
			return
		}
		b := lanChunks{d: d, dev: dev}
		if err := p2p.ServeChunks(d.ctx, s, nil, b, lim); err != nil {
			s.Reset()
			return
		}
		s.Close()
	})
}

// lanDevice is the device a LAN id was proven to be, if it is connected
// now and still a member.
func (d *Device) lanDevice(id peer.ID) (objsync.PeerID, bool) {
	d.mu.Lock()
	st := d.peers[id]
	var dev objsync.PeerID
	if st != nil && !st.Foreign {
		dev = st.Device
	}
	d.mu.Unlock()
	if dev == "" {
		return "", false
	}
	if _, ok := d.Service.Peers()[dev]; !ok {
		return "", false
	}
	key, err := peerKey(dev)
	if err != nil {
		return "", false
	}
	member, err := d.Engine.IsMember(d.ctx, key)
	return dev, err == nil && member
}

// lanChunks serves one LAN device's requests from this device's chunks.
type lanChunks struct {
	d   *Device
	dev objsync.PeerID
}

var errLANOnly = &p2p.ChunkRefusal{Code: pb.ChunkReply_REFUSED, Reason: "a device serves its chunks to others; it takes none"}

func (b lanChunks) check() error {
	if _, ok := b.d.Service.Peers()[b.dev]; !ok {
		return &p2p.ChunkRefusal{Code: pb.ChunkReply_REFUSED, Reason: "not connected as a device of this vault"}
	}
	return nil
}

func (b lanChunks) Has(ctx context.Context, as []files.Address) ([]bool, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	cs, err := b.d.Engine.Chunks()
	if err != nil {
		return nil, err
	}
	// What only pages kept off sync name, this device does not hold.
	ok, err := b.d.Engine.Shareable(ctx, as)
	if err != nil {
		return nil, err
	}
	shared := make(map[files.Address]bool, len(ok))
	for _, a := range ok {
		shared[a] = true
	}
	out := make([]bool, len(as))
	for i, a := range as {
		out[i] = shared[a] && cs.Has(a)
	}
	return out, nil
}

func (b lanChunks) Get(ctx context.Context, a files.Address) ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	cs, err := b.d.Engine.Chunks()
	if err != nil {
		return nil, err
	}
	if ok, err := b.d.Engine.Shareable(ctx, []files.Address{a}); err != nil || len(ok) == 0 {
		return nil, p2p.ErrChunkNotFound // only pages kept off sync name it
	}
	sealed, err := cs.Get(a)
	if err != nil || files.AddressOf(sealed) != a {
		return nil, p2p.ErrChunkNotFound // damaged here: not ours to give
	}
	return sealed, nil
}

func (lanChunks) Put(context.Context, files.Address, []byte) error { return errLANOnly }

func (lanChunks) Missing(_ context.Context, after files.Address) ([]files.Address, files.Address, bool, error) {
	return nil, after, false, errLANOnly
}

func (lanChunks) Usage() p2p.Usage { return p2p.Usage{} }

// lanLinks are the chunk links to the devices connected on the LAN now,
// one per device (its latest LAN id), made on first use and kept. Their
// streams go on the transport connection of the device's sync stream
// (p2p.NewStreamOn), which both devices keep: a connection left over from
// two dials at once is closed soon, with whatever streams it carried.
func (d *Device) lanLinks() []*nodeLink {
	peers := d.Service.Peers()
	d.mu.Lock()
	lan := d.lan
	latest := d.latestLAN()
	var ids []peer.ID
	for dev, st := range latest {
		if _, ok := peers[dev]; ok && !st.Foreign {
			ids = append(ids, st.ID)
		}
	}
	d.mu.Unlock()
	slices.Sort(ids)
	m := d.files
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lan == nil {
		m.lan = map[peer.ID]*nodeLink{}
	}
	var out []*nodeLink
	for _, id := range ids {
		l := m.lan[id]
		if l == nil {
			l = &nodeLink{id: id, addr: "device " + id.ShortString(), dial: func(ctx context.Context) (*p2p.ChunkClient, error) {
				s, err := d.lanStream(ctx, lan, id)
				if err != nil {
					return nil, errors.Join(p2p.ErrChunkNotFound, err) // try the next holder
				}
				return p2p.NewChunkClient(s, nil), nil
			}}
			m.lan[id] = l
		}
		out = append(out, l)
	}
	return out
}

// lanStream opens a chunk stream to LAN host id beside its sync stream,
// or where libp2p chooses once that connection is gone.
func (d *Device) lanStream(ctx context.Context, lan host.Host, id peer.ID) (network.Stream, error) {
	d.mu.Lock()
	var c network.Conn
	if st := d.peers[id]; st != nil {
		c = st.conn
	}
	d.mu.Unlock()
	if c != nil && !c.IsClosed() {
		return p2p.NewStreamOn(ctx, c, p2p.ChunkProtocolID)
	}
	return lan.NewStream(ctx, id, p2p.ChunkProtocolID)
}
