package node

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/markdown"
	"mycel/internal/p2p"
	"mycel/internal/pb"
	"mycel/internal/vault"
)

func serve(t *testing.T, ctx context.Context) (string, *Node) {
	t.Helper()
	n, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	addr, h, err := ServeLoopback(ctx, n, DefaultServiceConfig(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return addr, n
}

func dial(t *testing.T, ctx context.Context, key ed25519.PrivateKey, addr string, hello *pb.Hello) error {
	h, err := p2p.NewHost(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_, s, _, _, err := p2p.Dial(ctx, h, addr, hello)
	if err == nil {
		s.Close()
	}
	return err
}

func TestNodeRefusals(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, n := serve(t, ctx)
	e, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "d"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id := e.VaultID()
	recs, _ := e.MemberRecords(ctx)

	// Not registered yet: a plain hello is refused, with the reason.
	err = dial(t, ctx, e.HostKey(), addr, &pb.Hello{VaultId: id[:], MemberRecords: recs})
	if err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("unregistered vault: %v", err)
	}
	// A stranger cannot register someone else's vault, even with its records.
	_, stranger, _ := ed25519.GenerateKey(nil)
	err = dial(t, ctx, stranger, addr, &pb.Hello{VaultId: id[:], MemberRecords: recs, Register: true})
	if err == nil || !strings.Contains(err.Error(), ErrNotServed.Error()) {
		t.Fatalf("stranger registering: %v", err)
	}
	if n.Vaults() != 0 {
		t.Fatal("a refused registration stored a vault")
	}
	// The member registers; then a stranger's hello is still refused.
	if err := dial(t, ctx, e.HostKey(), addr, &pb.Hello{VaultId: id[:], MemberRecords: recs, Register: true}); err != nil {
		t.Fatal(err)
	}
	err = dial(t, ctx, stranger, addr, &pb.Hello{VaultId: id[:], MemberRecords: recs})
	if err == nil || !strings.Contains(err.Error(), ErrNotServed.Error()) {
		t.Fatalf("stranger syncing: %v", err)
	}
}

func TestVaultReceiveVerifies(t *testing.T) {
	ctx := context.Background()
	n, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	e, _, _ := vault.Init(ctx, filepath.Join(t.TempDir(), "d"), "laptop")
	defer e.Close()
	recs, _ := e.MemberRecords(ctx)
	v, err := n.Register(ctx, e.VaultID(), e.DeviceKey(), recs)
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := e.Create(ctx, vault.NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("x\n")})
	ids, raws, _ := e.Changes(ctx, obj)
	// Children first: parked, then stored when the root arrives.
	if out, err := v.Receive(ctx, ids[1], raws[1]); err != nil || out != Parked {
		t.Fatalf("child first: %v %v", out, err)
	}
	bad := append([]byte(nil), raws[0]...)
	bad[len(bad)-3] ^= 1
	if _, err := v.Receive(ctx, change.ID(sha(bad)), bad); !errors.Is(err, ErrRejected) {
		t.Fatalf("forged root: %v", err)
	}
	if out, err := v.Receive(ctx, ids[0], raws[0]); err != nil || out != Stored {
		t.Fatalf("root: %v %v", out, err)
	}
	heads := p2pHeads(t, v, obj)
	if len(heads) != 1 || heads[0] != ids[1] {
		t.Fatalf("heads after unparking = %v", heads)
	}
	// A device of another vault is refused.
	other, _, _ := vault.Init(ctx, filepath.Join(t.TempDir(), "o"), "x")
	defer other.Close()
	oobj, _ := other.Create(ctx, vault.NewPage{Details: map[string]string{"title": "x"}})
	oids, oraws, _ := other.Changes(ctx, oobj)
	if _, err := v.Receive(ctx, oids[0], oraws[0]); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "not a device of this vault") {
		t.Fatalf("other vault's change: %v", err)
	}
}

// A garbage frame after the handshake gets the connection dropped.
func TestGarbageFrameDropsConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _ := serve(t, ctx)
	e, _, _ := vault.Init(ctx, filepath.Join(t.TempDir(), "d"), "laptop")
	defer e.Close()
	id := e.VaultID()
	recs, _ := e.MemberRecords(ctx)
	h, _ := p2p.NewHost(e.HostKey(), nil)
	defer h.Close()
	_, s, _, _, err := p2p.Dial(ctx, h, addr, &pb.Hello{VaultId: id[:], MemberRecords: recs, Register: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte{0x05, 0xff, 0xff, 0xff, 0xff, 0xff}) // a frame that does not decode
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(s)
	for {
		if _, err := r.ReadByte(); err != nil {
			if strings.Contains(err.Error(), "deadline") {
				t.Fatal("the node kept a connection that sent garbage")
			}
			return // reset by the node
		}
	}
}

// A peer that stops in the middle of a frame is dropped after three
// keepalive periods (each side sends a frame every two ticks) without a
// complete frame.
func TestStalledPeerIsDropped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cfg := DefaultServiceConfig(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	cfg.Tick, cfg.Sync.ReconcileEvery = 50*time.Millisecond, 5 // keepalive every 100 ms: stalled after 300 ms
	addr, h, err := ServeLoopback(ctx, n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	e, _, _ := vault.Init(ctx, filepath.Join(t.TempDir(), "d"), "laptop")
	defer e.Close()
	id := e.VaultID()
	recs, _ := e.MemberRecords(ctx)
	dh, _ := p2p.NewHost(e.HostKey(), nil)
	defer dh.Close()
	// Timed from before the dial: the node's clock for this peer starts
	// when it accepts the connection, which a loaded machine may take
	// long to report back.
	start := time.Now()
	_, s, _, _, err := p2p.Dial(ctx, dh, addr, &pb.Hello{VaultId: id[:], MemberRecords: recs, Register: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte{100, 1, 2, 3}) // a frame of 100 bytes, 3 of them sent, then nothing
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(s)
	for {
		if _, err := r.ReadByte(); err != nil {
			if strings.Contains(err.Error(), "deadline") {
				t.Fatal("the node kept a stalled peer for 10 s")
			}
			break // reset by the node
		}
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("dropped after %v, before the stall limit", d)
	}
}
