package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
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

// Server serves the node's vaults on a libp2p host: one sync service per
// vault, started when a device of it first connects.
type Server struct {
	node   *Node
	host   host.Host
	cfg    syncer.Config
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	services map[keys.VaultID]*syncer.Service
	closed   bool
}

// Serve starts answering sync streams on h until ctx ends or Close.
func Serve(ctx context.Context, h host.Host, n *Node, cfg syncer.Config) *Server {
	s := &Server{node: n, host: h, cfg: cfg, services: map[keys.VaultID]*syncer.Service{}}
	s.ctx, s.cancel = context.WithCancel(ctx)
	h.SetStreamHandler(p2p.ProtocolID, func(st network.Stream) {
		if err := p2p.Accept(st, s.decide); err != nil {
			cfg.Log.Info("refused a peer", "peer", st.Conn().RemotePeer().ShortString(), "err", err)
		}
	})
	return s
}

// Close stops serving: no new stream is answered, and every vault's
// service is closed (its connections too) before Close returns. The host
// and the node's stores are the caller's to close after.
func (s *Server) Close() {
	s.host.RemoveStreamHandler(p2p.ProtocolID)
	s.cancel()
	s.mu.Lock()
	s.closed = true
	svcs := s.services
	s.services = map[keys.VaultID]*syncer.Service{}
	s.mu.Unlock()
	for _, svc := range svcs {
		svc.Close()
	}
}

// decide admits a device of a registered vault (registering it if asked).
func (s *Server) decide(vault keys.VaultID, device ed25519.PublicKey, hello *pb.Hello) (*syncer.Service, [][]byte, error) {
	var v *Vault
	var err error
	if hello.Register {
		v, err = s.node.Register(s.ctx, vault, device, hello.MemberRecords)
	} else if v, err = s.node.Vault(vault); err == nil {
		err = v.AddMembers(s.ctx, hello.MemberRecords)
	}
	if err != nil {
		return nil, nil, err
	}
	if !v.IsMember(device) {
		return nil, nil, fmt.Errorf("device %x is not a member of vault %s", device[:6], vault.Short())
	}
	svc := s.service(v)
	if svc == nil {
		return nil, nil, errors.New("the node is shutting down")
	}
	return svc, v.MemberRecords(), nil
}

// service returns the vault's sync service, started on first use (nil once
// the server is closed). Called from stream handlers concurrently.
func (s *Server) service(v *Vault) *syncer.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if svc := s.services[v.ID]; svc != nil {
		return svc
	}
	members := syncer.Members{
		Get: func(context.Context) ([][]byte, error) { return v.MemberRecords(), nil },
		Add: v.AddMembers,
	}
	cfg := s.cfg
	cfg.ClosePeer = p2p.PeerCloser(s.host)
	svc := syncer.Start(s.ctx, objsync.PeerID(s.host.ID().String()), v.db, v.ReceiveBatch, members, cfg)
	s.services[v.ID] = svc
	return svc
}

// DefaultServiceConfig: a 1 s tick, reconciliation every 20 s.
func DefaultServiceConfig(log *slog.Logger) syncer.Config {
	return syncer.Config{Sync: objsync.DefaultConfig, Tick: time.Second, Log: log}
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
