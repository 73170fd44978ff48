package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"mycel/internal/keys"
	"mycel/internal/objsync"
	"mycel/internal/p2p"
	"mycel/internal/pb"
	"mycel/internal/syncer"
)

// Server serves the node's vaults on a libp2p host: a vault's store is
// opened and its sync service started when a device of it connects, and
// both are closed once it has had no connection for the node's IdleAfter.
// So an idle vault costs no goroutine and no open file, and a node holding
// any number of vaults starts, and keeps serving, as one holding a few.
type Server struct {
	node   *Node
	host   host.Host
	cfg    syncer.Config
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	served map[keys.VaultID]*served
	closed bool

	chunks chunkServer // chunks.go
	// swept is closed once the chunk sweep (sweepLoop) has stopped.
	swept chan struct{}
}

// served is a vault being served: its store (held open) and service.
type served struct {
	v   *Vault
	svc *syncer.Service
	// lastHello is when a device was last admitted, and handshakes the
	// connections admitted and not yet attached to svc: until attached, a
	// connection is not among the service's peers, so the idle check
	// counts these as connections.
	lastHello  time.Time
	handshakes int
	idle       *time.Timer // the idle check; a timer, not a goroutine
	// closing is closed once svc is closed and v released: a hello that
	// finds the vault closing waits for it, then starts it again, so two
	// services never run one vault.
	closing chan struct{}
}

// Serve starts answering sync streams on h until ctx ends or Close.
func Serve(ctx context.Context, h host.Host, n *Node, cfg syncer.Config) *Server {
	s := &Server{node: n, host: h, cfg: cfg, served: map[keys.VaultID]*served{}}
	s.ctx, s.cancel = context.WithCancel(ctx)
	h.SetStreamHandler(p2p.ProtocolID, func(st network.Stream) {
		var admitted *served
		err := p2p.Accept(st, func(vault keys.VaultID, device ed25519.PublicKey, hello *pb.Hello) (*syncer.Service, [][]byte, error) {
			e, records, err := s.decide(vault, device, hello)
			if e == nil {
				return nil, nil, err
			}
			admitted = e
			return e.svc, records, nil
		})
		if admitted != nil {
			// Accept has attached the connection (or failed to): from
			// now on the service's peers tell whether the vault is idle.
			s.mu.Lock()
			admitted.handshakes--
			s.mu.Unlock()
		}
		if err != nil {
			cfg.Log.Info("refused a peer", "peer", st.Conn().RemotePeer().ShortString(), "err", err)
		}
	})
	s.serveChunks()
	s.swept = make(chan struct{})
	go s.sweepLoop()
	return s
}

// sweepLoop runs a step of chunk collection every ChunkSweepEvery until
// the server closes, and logs what each step removed: counts only, never
// a chunk's address.
func (s *Server) sweepLoop() {
	defer close(s.swept)
	t := time.NewTicker(s.node.opts.ChunkSweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		r, err := s.node.SweepChunks(s.ctx)
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			s.cfg.Log.Warn("chunk collection", "err", err)
		}
		lvl := slog.LevelDebug
		if r.Collected > 0 {
			lvl = slog.LevelInfo
		}
		s.cfg.Log.Log(s.ctx, lvl, "collected chunks no change names", "vaults", r.Vaults, "looked_at", r.Looked,
			"named", r.Named, "young", r.Young, "collected", r.Collected, "collected_bytes", r.CollectedBytes)
	}
}

// Close stops serving: no new stream is answered, and every vault's
// service is closed (its connections too) and its store released before
// Close returns. The host and the node are the caller's to close after.
func (s *Server) Close() {
	s.host.RemoveStreamHandler(p2p.ProtocolID)
	s.cancel()
	<-s.swept // before the vaults it may hold are closed
	s.closeChunks()
	s.mu.Lock()
	s.closed = true
	all := s.served
	s.served = map[keys.VaultID]*served{}
	s.mu.Unlock()
	for _, e := range all {
		if e.closing != nil { // the idle check is closing it
			<-e.closing
			continue
		}
		e.idle.Stop()
		e.svc.Close()
		s.node.release(e.v)
	}
}

// Served counts the vaults being served now (open, with a service).
func (s *Server) Served() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.served)
}

// decide admits a device of a registered vault (registering it if asked).
// What it checks first costs the same whatever the vault: a stranger is
// refused with ErrNotServed before anything tells whether the vault is
// here.
func (s *Server) decide(vault keys.VaultID, device ed25519.PublicKey, hello *pb.Hello) (*served, [][]byte, error) {
	if err := checkRecordCount(len(hello.MemberRecords)); err != nil {
		return nil, nil, err
	}
	if !s.node.proves(vault, device, hello.MemberRecords) {
		return nil, nil, ErrNotServed
	}
	var v *Vault
	var err error
	if hello.Register {
		v, err = s.node.register(s.ctx, string(device), vault, device, hello.MemberRecords, hello.Invite)
	} else if v, err = s.node.acquire(vault); err == nil {
		if err = v.AddMembers(s.ctx, hello.MemberRecords); err == nil && !v.IsMember(device) {
			err = notMember(device, vault)
		}
		if err != nil {
			s.node.release(v)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	e := s.serve(v) // takes over the hold on v
	if e == nil {
		return nil, nil, errors.New("the node is shutting down")
	}
	return e, v.MemberRecords(), nil
}

// serve returns the vault as served, its sync service started on first
// use (nil once the server is closed), counting a handshake in progress.
// The caller's hold on v passes to the service, or is released if the
// vault is served already. Called from stream handlers concurrently.
func (s *Server) serve(v *Vault) *served {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			s.node.release(v)
			return nil
		}
		e := s.served[v.ID]
		if e == nil {
			break
		}
		if e.closing == nil {
			e.lastHello = time.Now()
			e.handshakes++
			s.node.release(v) // the service holds it already
			return e
		}
		ch := e.closing
		s.mu.Unlock()
		<-ch // our hold keeps the store open meanwhile
		s.mu.Lock()
	}
	members := syncer.Members{
		Get: func(context.Context) ([][]byte, error) { return v.MemberRecords(), nil },
		Add: v.AddMembers,
	}
	cfg := s.cfg
	cfg.ClosePeer = p2p.PeerCloser(s.host)
	cfg.RemoveObject = removeFrom(v)
	// Every Heads it sends is signed: its acknowledgement,
	// which a device keeps to catch it showing less later (nodeack).
	if key, err := p2p.HostKey(s.host); err == nil {
		cfg.AckSigner = &syncer.AckSigner{Key: key, Vault: v.ID[:], Removal: v.RemovalProof}
	} else {
		s.cfg.Log.Error("acknowledgements go unsigned", "err", err)
	}
	e := &served{v: v, lastHello: time.Now(), handshakes: 1}
	e.svc = syncer.Start(s.ctx, objsync.PeerID(s.host.ID().String()), v.db, v.ReceiveBatch, members, cfg)
	e.idle = time.AfterFunc(s.node.opts.IdleAfter, func() { s.idleCheck(e) })
	s.served[v.ID] = e
	return e
}

// idleCheck closes a vault that has had no connection (and no hello) for
// IdleAfter, and else looks again later.
func (s *Server) idleCheck(e *served) {
	s.mu.Lock()
	if s.closed || s.served[e.v.ID] != e || e.closing != nil {
		s.mu.Unlock()
		return
	}
	after := s.node.opts.IdleAfter
	if e.handshakes > 0 || len(e.svc.Peers()) > 0 {
		e.idle.Reset(after)
		s.mu.Unlock()
		return
	}
	if quiet := time.Since(e.lastHello); quiet < after {
		e.idle.Reset(after - quiet)
		s.mu.Unlock()
		return
	}
	// No connection, none in its handshake: a hello from now on waits
	// for the close (see serve).
	e.closing = make(chan struct{})
	s.mu.Unlock()
	e.svc.Close()
	s.node.release(e.v)
	s.mu.Lock()
	if s.served[e.v.ID] == e {
		delete(s.served, e.v.ID)
	}
	s.mu.Unlock()
	close(e.closing)
	s.cfg.Log.Debug("vault idle; closed", "vault", e.v.ID.Short())
}

// DefaultServiceConfig: a 1 s tick, reconciliation every 20 s; with one
// peer, at most 3 sessions at once, then one every 5 s (a device starts one
// every 20 s), over a set of objects kept between sessions until a change
// is stored; stores pipelined (syncer.Config.Pipeline), so that a
// vault's loop never waits for an fsync.
func DefaultServiceConfig(log *slog.Logger) syncer.Config {
	sc := objsync.DefaultConfig
	sc.SessionBurst, sc.SessionEvery = 3, 5
	return syncer.Config{Sync: sc, Tick: time.Second, Log: log, KeepSet: true, FrameRate: 5000, FrameBurst: 10000, Pipeline: true}
}

// ServeLoopback serves n with cfg on a fresh host listening on a free
// loopback port (tests and benchmarks) and returns its dialable address.
// Closing the host stops it.
func ServeLoopback(ctx context.Context, n *Node, cfg syncer.Config) (string, host.Host, error) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return "", nil, err
	}
	h, err := p2p.NewHost(key, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		return "", nil, err
	}
	Serve(ctx, h, n, cfg)
	return h.Addrs()[0].String() + "/p2p/" + h.ID().String(), h, nil
}
