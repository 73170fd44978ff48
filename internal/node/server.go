package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"

	"mycel/internal/keys"
	"mycel/internal/objsync"
	"mycel/internal/p2p"
	"mycel/internal/pb"
)

// Server serves the node's vaults on a libp2p host.
type Server struct {
	node     *Node
	host     host.Host
	cfg      p2p.ServiceConfig
	ctx      context.Context
	services map[keys.VaultID]*p2p.Service
}

// Serve starts answering sync streams on h until ctx ends.
func Serve(ctx context.Context, h host.Host, n *Node, cfg p2p.ServiceConfig) *Server {
	s := &Server{node: n, host: h, cfg: cfg, ctx: ctx, services: map[keys.VaultID]*p2p.Service{}}
	h.SetStreamHandler(p2p.ProtocolID, func(st network.Stream) {
		if err := p2p.Accept(st, s.decide); err != nil {
			cfg.Log.Info("refused a peer", "peer", st.Conn().RemotePeer().ShortString(), "err", err)
		}
	})
	return s
}

// decide admits a device of a registered vault (registering it if asked).
func (s *Server) decide(vault keys.VaultID, device ed25519.PublicKey, hello *pb.Hello) (*p2p.Service, [][]byte, error) {
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
	return s.service(v), v.MemberRecords(), nil
}

// service returns the vault's sync service, started on first use. (Called
// from stream handlers concurrently.)
func (s *Server) service(v *Vault) *p2p.Service {
	s.node.mu.Lock()
	defer s.node.mu.Unlock()
	if svc := s.services[v.ID]; svc != nil {
		return svc
	}
	members := p2p.Members{
		Get: func(context.Context) ([][]byte, error) { return v.MemberRecords(), nil },
		Add: v.AddMembers,
	}
	cfg := s.cfg
	cfg.ClosePeer = p2p.PeerCloser(s.host)
	svc := p2p.NewService(objsync.PeerID(s.host.ID().String()), v.ID, v.db, v.ReceiveBatch, members, cfg)
	go svc.Run(s.ctx)
	s.services[v.ID] = svc
	return svc
}

// DefaultServiceConfig: a 1 s tick, reconciliation every 20 s.
func DefaultServiceConfig(log *slog.Logger) p2p.ServiceConfig {
	return p2p.ServiceConfig{Sync: objsync.DefaultConfig, Tick: time.Second, Log: log}
}

// ServeLoopback serves n with cfg on a fresh host listening on a free
// loopback port (tests and benchmarks) and returns its dialable address.
// Closing the host stops it.
func ServeLoopback(ctx context.Context, n *Node, cfg p2p.ServiceConfig) (string, host.Host, error) {
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
