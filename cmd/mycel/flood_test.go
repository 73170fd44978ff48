package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	libp2ppeer "github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/change"
	"mycel/internal/node"
	"mycel/internal/objsync"
	"mycel/internal/p2p"
	"mycel/internal/pb"
	"mycel/internal/reconcile"
	"mycel/internal/syncer"
)

func peerIDOf(t *testing.T, key ed25519.PrivateKey) string {
	pk, err := crypto.UnmarshalEd25519PublicKey(key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	id, err := libp2ppeer.IDFromPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// connect dials addr with a Hello and returns the open stream.
func (p *prober) connect(ctx context.Context, addr string, h *pb.Hello) (network.Stream, *bufio.Reader) {
	p.t.Helper()
	_, s, r, _, err := p2p.Dial(ctx, p.h, addr, h)
	if err != nil {
		p.t.Fatal(err)
	}
	return s, r
}

// A member that starts reconciliation sessions fast (each used to make the
// node read and hash its 20,000 objects again) does not slow an honest
// device of another vault: the acknowledgements it gets stay within 2× of
// those it gets with no flood.
func TestReconciliationFloodKeepsHonestAcks(t *testing.T) {
	if testing.Short() {
		t.Skip("a node process of 20,000 objects, flooded")
	}
	floodAcks(t, true)
}

// Nor does one that writes frames as fast as it can (unthrottled, 265,000
// sessions in 3 s cut honest acks 3.5×): a node reads at most
// node.DefaultServiceConfig's FrameRate frames a second from a connection.
func TestRawFrameFloodKeepsHonestAcks(t *testing.T) {
	if testing.Short() {
		t.Skip("a node process of 20,000 objects, flooded")
	}
	floodAcks(t, false)
}

// floodAcks measures the acks an honest device gets from a node of 20,000
// objects, alone and while a member floods sessions (throttled: about
// 2,000 a second; else as fast as it can write), and fails if the flood
// halves them.
func floodAcks(t *testing.T, throttled bool) {
	ctx := context.Background()
	nodeData := filepath.Join(t.TempDir(), "node")
	os.MkdirAll(nodeData, 0o700)
	// The node's key is ours, so that the flooder's peer id can be below
	// it: the lesser id starts sessions, and the node joins each.
	_, nodeKey, _ := ed25519.GenerateKey(nil)
	if err := os.WriteFile(filepath.Join(nodeData, nodeKeyFile), nodeKey.Seed(), 0o600); err != nil {
		t.Fatal(err)
	}
	var floodKey ed25519.PrivateKey
	for floodKey == nil || peerIDOf(t, floodKey) >= peerIDOf(t, nodeKey) {
		_, floodKey, _ = ed25519.GenerateKey(nil)
	}
	flooder := newPeer(t, floodKey)
	fv, frecs := ownVault(t, flooder.pub())
	n, err := node.Open(nodeData)
	if err != nil {
		t.Fatal(err)
	}
	nv, err := n.Register(ctx, fv.ID, flooder.pub(), frecs)
	if err != nil {
		t.Fatal(err)
	}
	var batch []node.Incoming
	for i := 0; i < 20_000; i++ {
		root, err := change.NewRoot(fv.ID, floodKey, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, node.Incoming{ID: root.ID, Raw: root.Raw})
		if len(batch) == 2000 {
			if _, _, err := nv.ReceiveBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	n.Close()
	nodeProc := start(t, "--data", nodeData, "node", "--listen", loopbackListen(t))
	addr := nodeAddr(t, nodeProc)

	// The honest device pushes new objects one at a time, each once the
	// node acknowledged the one before (its heads).
	honest := newPeer(t, nil)
	hv, hrecs := ownVault(t, honest.pub())
	hs, hr := honest.connect(ctx, addr, &pb.Hello{VaultId: hv.ID[:], MemberRecords: hrecs, Register: true})
	defer hs.Reset()
	acked := make(chan change.ID, 16)
	go func() {
		for {
			f, err := syncer.ReadFrame(hr)
			if err != nil {
				return
			}
			if m := f.GetSync(); m != nil && objsync.Kind(m.Kind) == objsync.Heads && len(m.Heads) == 1 {
				var id change.ID
				copy(id[:], m.Object)
				acked <- id
			}
		}
	}()
	acks := func(d time.Duration) int {
		count := 0
		for end := time.Now().Add(d); time.Now().Before(end); count++ {
			root, _ := change.NewRoot(hv.ID, honest.key, time.Now())
			err := syncer.WriteFrame(hs, &pb.Frame{Body: &pb.Frame_Sync{Sync: &pb.SyncMessage{Kind: uint32(objsync.Changes),
				Object: root.ID[:], Heads: [][]byte{root.ID[:]}, Held: 1, Changes: []*pb.WireChange{{Id: root.ID[:], Raw: root.Raw}}}}})
			if err != nil {
				t.Fatal(err)
			}
			for got := range acked {
				if got == root.ID {
					break
				}
			}
		}
		return count
	}
	acks(500 * time.Millisecond) // warm up
	cpu0 := cpu(t, nodeProc)
	unloaded := acks(3 * time.Second)
	cpuUnloaded := cpu(t, nodeProc) - cpu0

	fs, fr := flooder.connect(ctx, addr, &pb.Hello{VaultId: fv.ID[:], MemberRecords: frecs})
	defer fs.Reset()
	go func() { // read (and drop) what the node answers, so it is not stalled
		for {
			if _, err := syncer.ReadFrame(fr); err != nil {
				return
			}
		}
	}()
	var sessions atomic.Int64
	stop := make(chan struct{})
	go func() {
		var salt [reconcile.SaltSize]byte
		_, first := reconcile.Initiate(reconcile.NewSet(nil), salt)
		// 2,000 sessions a second: each made the node read and hash its
		// 20,000 objects (~20 ms), so this pinned it. (Faster, the test's
		// own sending takes the CPU both processes share here.)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for s := uint64(1); ; s++ {
			switch {
			case throttled && s%2 == 0:
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			case !throttled:
				select {
				case <-stop:
					return
				default:
				}
			}
			if syncer.WriteFrame(fs, &pb.Frame{Body: &pb.Frame_Sync{Sync: &pb.SyncMessage{Kind: uint32(objsync.Recon), Session: s, Recon: first}}}) != nil {
				return
			}
			sessions.Add(1)
		}
	}()
	cpu0 = cpu(t, nodeProc)
	loaded := acks(3 * time.Second)
	cpuLoaded := cpu(t, nodeProc) - cpu0
	close(stop)
	t.Logf("honest acks in 3 s: %d unloaded (node CPU %v), %d while a member started %d sessions (node CPU %v)",
		unloaded, cpuUnloaded, loaded, sessions.Load(), cpuLoaded)
	if loaded*2 < unloaded {
		t.Fatalf("a flooding member cut the honest acks from %d to %d in 3 s", unloaded, loaded)
	}
}
