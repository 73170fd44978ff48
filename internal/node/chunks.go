package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/network"
	"golang.org/x/sync/semaphore"

	"mycel/internal/chunkstore"
	"mycel/internal/files"
	"mycel/internal/keys"
	"mycel/internal/p2p"
	"mycel/internal/pb"
	"mycel/internal/store"
)

// The node's bounds on chunk streams.
const (
	// chunkMemory is what all chunk frames being read or answered may
	// hold at once, node-wide: past it, streams wait for their turn.
	chunkMemory = 256 << 20
	// chunkRequests a second per stream, and their burst: an upload of
	// ~1 MiB chunks passes 500 MB/s (more than a disk syncs), a flood
	// of tiny requests does not.
	chunkRequests, chunkBurst = 500, 1000
)

// vaultChunks is a vault's chunk folder on the node (vaults/<id>/chunks),
// the only record of what the node holds: no SQLite write per chunk.
type vaultChunks struct {
	once  sync.Once
	store *chunkstore.Store
	err   error
}

func (v *Vault) chunkStore() (*chunkstore.Store, error) {
	c := &v.chunks
	c.once.Do(func() {
		c.store, c.err = chunkstore.OpenWith(filepath.Join(v.dir, "chunks"), chunkstore.Options{Now: v.now})
	})
	return c.store, c.err
}

// QuotaReason says a vault's chunks reached the node's limit: used and
// the limit in the limit's unit, used rounded down to one decimal (".0"
// dropped), so that a vault not quite full never reads "10 of 10".
func QuotaReason(used, quota int64) string {
	unit, name := int64(1), "B"
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if quota >= u.n {
			unit, name = u.n, u.name
			break
		}
	}
	tenths := func(n int64) string {
		t := n * 10 / unit
		if n > 0 && n < quota && t*unit >= quota*10 { // never "10 of 10" below the limit
			t--
		}
		s := strconv.FormatInt(t/10, 10) + "." + strconv.FormatInt(t%10, 10)
		return strings.TrimSuffix(s, ".0")
	}
	return fmt.Sprintf("the backup node's limit for this vault is reached: %s of %s %s", tenths(used), tenths(quota), name)
}

// PutChunk stores a sealed chunk once its bytes match its address, within
// the vault's quota; it returns once the chunk is durable. Chunks not yet
// referenced by a change are taken too: a change and its chunks travel on
// different streams and arrive in either order.
func (v *Vault) PutChunk(ctx context.Context, a files.Address, sealed []byte) error {
	cs, err := v.chunkStore()
	if err != nil {
		return err
	}
	if files.AddressOf(sealed) != a {
		return &p2p.ChunkRefusal{Code: pb.ChunkReply_BAD_ADDRESS, Reason: fmt.Sprintf("chunk %s: its bytes hash to another address", a.Short())}
	}
	return v.putChecked(cs, a, sealed)
}

// putChecked is PutChunk of bytes known to hash to a: the chunk protocol
// checked them as they arrived (p2p.ChunkBackend), and hashing is most of
// what storing a chunk costs.
func (v *Vault) putChecked(cs *chunkstore.Store, a files.Address, sealed []byte) error {
	var err error
	if v.quota > 0 {
		_, err = cs.PutWithin(a, sealed, v.quota)
	} else {
		_, err = cs.PutChecked(a, sealed)
	}
	var over *chunkstore.OverLimit
	switch {
	case errors.As(err, &over):
		return &p2p.ChunkRefusal{Code: pb.ChunkReply_QUOTA, Reason: QuotaReason(over.Used, v.quota)}
	case errors.Is(err, chunkstore.ErrFull):
		return &p2p.ChunkRefusal{Code: pb.ChunkReply_REFUSED, Reason: "the backup node's disk is full: its operator must free space"}
	}
	return err
}

// HasChunks says which chunks are stored here. One it says is here that
// is half way through its grace period is stamped anew: the device asking
// will not upload it, and its change may not have come yet (gc.go).
func (v *Vault) HasChunks(as []files.Address) ([]bool, error) {
	cs, err := v.chunkStore()
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(as))
	for i, a := range as {
		if v.grace > 0 {
			out[i] = cs.HasRefresh(a, v.now().Add(-v.grace/2))
		} else {
			out[i] = cs.Has(a)
		}
	}
	return out, nil
}

// GetChunk reads a chunk, checked: one found damaged (read twice, wrong
// both times) is moved aside (chunkstore.Read) and answered as not found,
// so that Has and Missing say it is not held from then on and a device
// that holds it uploads it again.
func (v *Vault) GetChunk(a files.Address) ([]byte, error) {
	cs, err := v.chunkStore()
	if err != nil {
		return nil, err
	}
	b, err := cs.Read(a)
	if errors.Is(err, chunkstore.ErrNotFound) {
		return nil, p2p.ErrChunkNotFound
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// missingScan bounds the references one Missing request looks through.
const missingScan = 16 * p2p.MaxChunkBatch

// MissingChunks lists the chunks the vault's changes reference above
// after that are not stored here: how devices learn to upload again what
// the node lost.
func (v *Vault) MissingChunks(ctx context.Context, after files.Address) ([]files.Address, files.Address, bool, error) {
	cs, err := v.chunkStore()
	if err != nil {
		return nil, after, false, err
	}
	var out []files.Address
	next := after
	for scanned := 0; scanned < missingScan; {
		var page [][32]byte
		err := v.db.View(ctx, func(tx store.Tx) error {
			var err error
			page, err = tx.ChunkRefs(next, p2p.MaxChunkBatch)
			return err
		})
		if err != nil {
			return nil, after, false, err
		}
		for _, c := range page {
			if len(out) == p2p.MaxChunkBatch {
				return out, next, true, nil
			}
			if !cs.Has(c) {
				out = append(out, c)
			}
			next = c
		}
		scanned += len(page)
		if len(page) < p2p.MaxChunkBatch {
			return out, next, false, nil
		}
	}
	return out, next, true, nil
}

// ChunkUsage is the sealed bytes the vault's chunks take here, and the
// quota (0: none).
func (v *Vault) ChunkUsage() p2p.Usage {
	cs, err := v.chunkStore()
	if err != nil {
		return p2p.Usage{Quota: uint64(v.quota)}
	}
	_, used, _ := cs.Usage()
	return p2p.Usage{Used: uint64(used), Quota: uint64(v.quota)}
}

// memberChunks serves one device's chunk requests for a vault, checking
// at every request that it is still a member: a removed device stops at
// its next request.
type memberChunks struct {
	v      *Vault
	device ed25519.PublicKey
	stats  *ChunkStats
}

var errRemoved = &p2p.ChunkRefusal{Code: pb.ChunkReply_REFUSED, Reason: "this device is no longer a member of the vault"}

func (m memberChunks) Has(_ context.Context, as []files.Address) ([]bool, error) {
	if !m.v.IsMember(m.device) {
		return nil, errRemoved
	}
	return m.v.HasChunks(as)
}

func (m memberChunks) Put(ctx context.Context, a files.Address, sealed []byte) error {
	if !m.v.IsMember(m.device) {
		return errRemoved
	}
	had, _ := m.v.HasChunks([]files.Address{a})
	cs, err := m.v.chunkStore()
	if err != nil {
		return err
	}
	if err := m.v.putChecked(cs, a, sealed); err != nil {
		return err
	}
	m.stats.Received.Add(int64(len(sealed)))
	if had[0] {
		m.stats.Held.Add(int64(len(sealed)))
	}
	return nil
}

func (m memberChunks) Get(_ context.Context, a files.Address) ([]byte, error) {
	if !m.v.IsMember(m.device) {
		return nil, errRemoved
	}
	b, err := m.v.GetChunk(a)
	if err == nil {
		m.stats.Sent.Add(int64(len(b)))
	}
	return b, err
}

func (m memberChunks) Missing(ctx context.Context, after files.Address) ([]files.Address, files.Address, bool, error) {
	if !m.v.IsMember(m.device) {
		return nil, after, false, errRemoved
	}
	return m.v.MissingChunks(ctx, after)
}

func (m memberChunks) Usage() p2p.Usage { return m.v.ChunkUsage() }

// ChunkStats count the chunk bytes a server moved: received in Puts (of
// them, Held were here already), and sent.
type ChunkStats struct {
	Received, Held, Sent atomic.Int64
}

// chunkServer is the Server's part for chunk streams.
type chunkServer struct {
	mem   *semaphore.Weighted
	stats ChunkStats

	mu      sync.Mutex
	streams map[network.Stream]bool
	wg      sync.WaitGroup
}

// ChunkStats are the chunk bytes this server moved so far.
func (s *Server) ChunkStats() *ChunkStats { return &s.chunks.stats }

// serveChunks answers /mycel/chunks/1: a member's hello is checked as a
// sync hello is (a stranger gets ErrNotServed, whether or not the vault
// is here), then its requests are served with the vault held open.
func (s *Server) serveChunks() {
	c := &s.chunks
	c.mem = semaphore.NewWeighted(chunkMemory)
	c.streams = map[network.Stream]bool{}
	lim := p2p.ChunkLimits{Requests: chunkRequests, Burst: chunkBurst, Bytes: s.node.opts.chunkRate(),
		Reserve: func(n int) (func(), error) {
			if err := c.mem.Acquire(s.ctx, int64(n)); err != nil {
				return nil, err
			}
			return func() { c.mem.Release(int64(n)) }, nil
		}}
	s.host.SetStreamHandler(p2p.ChunkProtocolID, func(st network.Stream) {
		c.mu.Lock()
		if s.ctx.Err() != nil {
			c.mu.Unlock()
			st.Reset()
			return
		}
		c.streams[st] = true
		c.wg.Add(1)
		c.mu.Unlock()
		defer func() {
			c.mu.Lock()
			delete(c.streams, st)
			c.mu.Unlock()
			c.wg.Done()
		}()
		err := p2p.AcceptChunks(s.ctx, st, func(vault keys.VaultID, device ed25519.PublicKey, records [][]byte) (p2p.ChunkBackend, func(), error) {
			v, err := s.admitDevice(vault, device, records)
			if err != nil {
				return nil, nil, err
			}
			return memberChunks{v: v, device: device, stats: &c.stats}, func() { s.node.release(v) }, nil
		}, lim)
		if err != nil && s.ctx.Err() == nil {
			s.cfg.Log.Debug("chunk stream ended", "peer", st.Conn().RemotePeer().ShortString(), "err", err)
		}
	})
}

// closeChunks ends every chunk stream and waits for their handlers.
func (s *Server) closeChunks() {
	s.host.RemoveStreamHandler(p2p.ChunkProtocolID)
	c := &s.chunks
	c.mu.Lock()
	for st := range c.streams {
		st.Reset()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// admitDevice is the check of a hello that does not register: its
// records prove the device a member of a vault registered here. The vault
// is returned held open; the caller releases it.
func (s *Server) admitDevice(vault keys.VaultID, device ed25519.PublicKey, records [][]byte) (*Vault, error) {
	if err := checkRecordCount(len(records)); err != nil {
		return nil, err
	}
	if !s.node.proves(vault, device, records) {
		return nil, ErrNotServed
	}
	v, err := s.node.acquire(vault)
	if err != nil {
		return nil, err
	}
	if err = v.AddMembers(s.ctx, records); err == nil && !v.IsMember(device) {
		err = notMember(device, vault)
	}
	if err != nil {
		s.node.release(v)
		return nil, err
	}
	return v, nil
}
