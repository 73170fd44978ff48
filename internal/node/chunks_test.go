package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"mycel/internal/change"
	"mycel/internal/chunkstore"
	"mycel/internal/files"
	"mycel/internal/keys"
	"mycel/internal/p2p"
	"mycel/internal/pb"
	"mycel/internal/vault"
)

func TestQuotaReason(t *testing.T) {
	for _, c := range []struct {
		used, quota int64
		want        string
	}{
		{used: 10<<30 - 100<<20, quota: 10 << 30, want: "9.9 of 10 GiB"},
		{used: 10<<30 - 1, quota: 10 << 30, want: "9.9 of 10 GiB"}, // never "10 of 10" below it
		{used: 10 << 30, quota: 10 << 30, want: "10 of 10 GiB"},
		{used: 3 << 20, quota: 3 << 20, want: "3 of 3 MiB"},
		{used: 1 << 19, quota: 3 << 20, want: "0.5 of 3 MiB"},
		{used: 0, quota: 1 << 30, want: "0 of 1 GiB"},
		{used: 1500, quota: 1536 << 20, want: "0 of 1.5 GiB"},
		{used: 10, quota: 100, want: "10 of 100 B"},
	} {
		if got := QuotaReason(c.used, c.quota); got != "the backup node's limit for this vault is reached: "+c.want {
			t.Errorf("QuotaReason(%d, %d) = %q, want …%q", c.used, c.quota, got, c.want)
		}
	}
}

func randomChunk(n int, seed uint64) ([]byte, files.Address) {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b, files.AddressOf(b)
}

// quotaVault is a registered vault on a node with a quota.
func quotaVault(t *testing.T, dir string, quota int64) (*Node, *Vault, *vault.Engine) {
	t.Helper()
	ctx := context.Background()
	n, err := OpenWith(dir, Options{Quota: quota})
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "d"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	recs, _ := e.MemberRecords(ctx)
	v, err := n.Register(ctx, e.VaultID(), e.DeviceKey(), recs)
	if err != nil {
		t.Fatal(err)
	}
	return n, v, e
}

// The quota counts sealed bytes stored and those being stored: of
// concurrent Puts past it, just those that fit pass, and the rest are
// refused with the reason, whole; what is stored counts again after a
// restart. A chunk stored already costs nothing more.
func TestChunkQuota(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n, v, e := quotaVault(t, dir, 3<<20)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, a := randomChunk(1<<20, uint64(i))
			errs[i] = v.PutChunk(ctx, a, b)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		var r *p2p.ChunkRefusal
		switch {
		case err == nil:
			ok++
		case errors.As(err, &r) && r.Code == pb.ChunkReply_QUOTA && strings.HasPrefix(r.Reason, "the backup node's limit for this vault is reached: "):
		default:
			t.Fatalf("put: %v", err)
		}
	}
	if ok != 3 {
		t.Fatalf("%d chunks of 1 MiB stored under a quota of 3 MiB", ok)
	}
	b, a := randomChunk(1<<20, 0)
	if err := v.PutChunk(ctx, a, b); err != nil && errs[0] == nil {
		t.Fatalf("a chunk stored already was refused: %v", err)
	}
	small, sa := randomChunk(100, 99)
	err := v.PutChunk(ctx, sa, small)
	if err == nil || err.Error() != "the backup node's limit for this vault is reached: 3 of 3 MiB" {
		t.Fatalf("refusal: %v", err)
	}
	n.Close()
	n, err = OpenWith(dir, Options{Quota: 3 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	v, err = n.acquire(e.VaultID())
	if err != nil {
		t.Fatal(err)
	}
	defer n.release(v)
	if u := v.ChunkUsage(); u.Used != 3*(1<<20) || u.Quota != 3<<20 {
		t.Fatalf("usage after a restart: %+v", u)
	}
}

// A chunk whose bytes are not its address is refused and never stored;
// one damaged on the node's disk is removed when read, and then listed
// missing.
func TestChunkChecksAndMissing(t *testing.T) {
	ctx := context.Background()
	_, v, e := quotaVault(t, t.TempDir(), 0)
	b, a := randomChunk(1000, 1)
	var r *p2p.ChunkRefusal
	if err := v.PutChunk(ctx, a, append(b, 0)); !errors.As(err, &r) || r.Code != pb.ChunkReply_BAD_ADDRESS {
		t.Fatalf("bad address: %v", err)
	}
	if has, _ := v.HasChunks([]files.Address{a}); has[0] {
		t.Fatal("a chunk with a bad address was stored")
	}
	// A page with a file: its change reaches the node, which indexes its
	// chunks (keeper), and lists them missing until they are put.
	id, err := e.Create(ctx, vault.NewPage{Title: "Files"})
	if err != nil {
		t.Fatal(err)
	}
	// Over MaxChunk: at least two chunks, wherever the vault's keyed
	// chunker cuts (3 MiB was sometimes one).
	data, _ := randomChunk(files.MaxChunk+1<<20, 2)
	m, err := e.StoreFile(ctx, bytes.NewReader(data), vault.StoreFileOptions{Name: "photo.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddFileBlocks(ctx, id, []*files.Manifest{m}); err != nil {
		t.Fatal(err)
	}
	receiveAll(t, e, v, id)
	missing, _, more, err := v.MissingChunks(ctx, files.Address{})
	if err != nil || more || len(missing) != len(m.Addresses()) {
		t.Fatalf("missing before upload: %d of %d (more %v), %v", len(missing), len(m.Addresses()), more, err)
	}
	cs, _ := e.Chunks()
	for _, a := range m.Addresses() {
		sealed, err := cs.Get(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.PutChunk(ctx, a, sealed); err != nil {
			t.Fatal(err)
		}
	}
	if missing, _, _, _ := v.MissingChunks(ctx, files.Address{}); len(missing) != 0 {
		t.Fatalf("%d missing after upload", len(missing))
	}
	// Damage one on disk: a read finds it, removes it, and it is missing.
	lost := m.Addresses()[0]
	nodeCS, _ := v.chunkStore()
	h := lost.String()
	if err := os.WriteFile(filepath.Join(nodeCS.Dir(), h[:2], h[2:]), []byte("rot"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := v.GetChunk(lost); !errors.Is(err, p2p.ErrChunkNotFound) {
		t.Fatalf("get of a damaged chunk: %v", err)
	}
	if missing, _, _, _ := v.MissingChunks(ctx, files.Address{}); len(missing) != 1 || missing[0] != lost {
		t.Fatalf("missing after damage: %v", missing)
	}
	// Rot of the same size: Has cannot see it (it reads no bytes), a read
	// does, and from then on the chunk is not claimed; the rotted bytes
	// are kept aside, and the good ones put again store it.
	rotted := m.Addresses()[1]
	good, _ := cs.Get(rotted)
	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 0x10
	h = rotted.String()
	os.WriteFile(filepath.Join(nodeCS.Dir(), h[:2], h[2:]), bad, 0o600)
	if _, err := v.GetChunk(rotted); !errors.Is(err, p2p.ErrChunkNotFound) {
		t.Fatalf("get of a rotted chunk: %v", err)
	}
	if has, _ := v.HasChunks([]files.Address{rotted}); has[0] {
		t.Fatal("the node still claims a chunk it found rotted")
	}
	if missing, _, _, _ := v.MissingChunks(ctx, files.Address{}); len(missing) != 2 {
		t.Fatalf("missing after rot: %d, want 2", len(missing))
	}
	if kept, err := os.ReadFile(filepath.Join(nodeCS.Dir(), chunkstore.DamagedFolder, h)); err != nil || !bytes.Equal(kept, bad) {
		t.Fatalf("the rotted bytes were not kept aside: %v", err)
	}
	if err := v.PutChunk(ctx, rotted, good); err != nil {
		t.Fatal(err)
	}
	if got, err := v.GetChunk(rotted); err != nil || !bytes.Equal(got, good) {
		t.Fatalf("after the good bytes came again: %v", err)
	}
}

func receiveAll(t *testing.T, e *vault.Engine, v *Vault, id change.ID) {
	t.Helper()
	ids, raws, err := e.Changes(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var in []Incoming
	for i := range ids {
		in = append(in, Incoming{ID: ids[i], Raw: raws[i]})
	}
	if _, errs, err := v.ReceiveBatch(context.Background(), in); err != nil {
		t.Fatal(err)
	} else {
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Over libp2p: a member's chunk stream is served, within the quota; a
// stranger with a member's records is refused as a stranger is in sync.
func TestChunkStreamsOnANode(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := OpenWith(t.TempDir(), Options{Quota: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	addr, h, err := ServeLoopback(ctx, n, DefaultServiceConfig(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	e, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "d"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	recs, _ := e.MemberRecords(ctx)
	if _, err := n.Register(ctx, e.VaultID(), e.DeviceKey(), recs); err != nil {
		t.Fatal(err)
	}
	m, _ := ma.NewMultiaddr(addr)
	info, _ := peer.AddrInfoFromP2pAddr(m)
	dial := func(key ed25519.PrivateKey, id keys.VaultID, recs [][]byte) (*p2p.ChunkClient, error) {
		dh, err := p2p.NewHost(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dh.Close() })
		if err := dh.Connect(ctx, *info); err != nil {
			t.Fatal(err)
		}
		return p2p.DialNodeChunks(ctx, dh, info.ID, id, recs)
	}
	cl, err := dial(e.HostKey(), e.VaultID(), recs)
	if err != nil {
		t.Fatal(err)
	}
	b, a := randomChunk(600<<10, 1)
	if u, err := cl.Put(ctx, a, b); err != nil || u.Used != uint64(len(b)) || u.Quota != 1<<20 {
		t.Fatalf("put: %+v, %v", u, err)
	}
	b2, a2 := randomChunk(600<<10, 2)
	_, err = cl.Put(ctx, a2, b2)
	var r *p2p.ChunkRefusal
	if !errors.As(err, &r) || r.Code != pb.ChunkReply_QUOTA || r.Reason != "the backup node's limit for this vault is reached: 0.5 of 1 MiB" {
		t.Fatalf("over quota: %v", err)
	}
	if got, err := cl.Get(ctx, a); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("get: %v", err)
	}
	// Strangers: another vault's device with its own records, and a key
	// with the member's records.
	other, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "o"), "other")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	orecs, _ := other.MemberRecords(ctx)
	_, err1 := dial(other.HostKey(), other.VaultID(), orecs)
	_, stranger, _ := ed25519.GenerateKey(nil)
	_, err2 := dial(stranger, e.VaultID(), recs)
	// A member of a vault not here is told so, as in sync.
	var ref *p2p.RefusedError
	if !errors.As(err1, &ref) || !strings.Contains(ref.Reason, "not registered on this node") {
		t.Fatalf("a member of an unregistered vault: %v", err1)
	}
	if !errors.As(err2, &ref) || ref.Reason != ErrNotServed.Error() {
		t.Fatalf("a stranger's chunk stream: %v", err2)
	}
}

// Many devices putting the same chunks at once count each once: the
// vault's usage is what its folder holds, and a quota is not reached by
// bytes counted twice.
func TestChunkUsageExactUnderConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	_, v, _ := quotaVault(t, t.TempDir(), 1<<20)
	var chunks [][]byte
	var addrs []files.Address
	var want uint64
	for i := range 4 {
		b, a := randomChunk(50<<10, uint64(200+i))
		chunks, addrs, want = append(chunks, b), append(addrs, a), want+uint64(len(b))
	}
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range chunks {
				j := (i + g) % len(chunks)
				if err := v.PutChunk(ctx, addrs[j], chunks[j]); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if u := v.ChunkUsage(); u.Used != want {
		t.Fatalf("usage %d after concurrent puts of %d distinct bytes", u.Used, want)
	}
}
