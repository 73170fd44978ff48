package node

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/files"
	"mycel/internal/vault"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// gcVault is a registered vault on a node whose clock the test moves,
// with a page holding a file (its change not sent to the node yet).
type gcVault struct {
	n     *Node
	v     *Vault
	e     *vault.Engine
	clock *testClock
	page  change.ID
	m     *files.Manifest
}

func newGCVault(t *testing.T, size int) *gcVault {
	t.Helper()
	ctx := context.Background()
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	n, err := OpenWith(t.TempDir(), Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
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
	id, err := e.Create(ctx, vault.NewPage{Title: "Files"})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := randomChunk(size, 7)
	m, err := e.StoreFile(ctx, bytes.NewReader(data), vault.StoreFileOptions{Name: "photo.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddFileBlocks(ctx, id, []*files.Manifest{m}); err != nil {
		t.Fatal(err)
	}
	return &gcVault{n: n, v: v, e: e, clock: clock, page: id, m: m}
}

// fileChunks is every chunk of the page's file: its index chunk and its
// leaves, or its chunks.
func (g *gcVault) fileChunks(t *testing.T) []files.Address {
	t.Helper()
	cs, _ := g.e.Chunks()
	refs, err := g.e.FileKeys().Refs(g.m, cs.Get)
	if err != nil {
		t.Fatal(err)
	}
	var out []files.Address
	if g.m.Index != nil {
		out = append(out, g.m.Index.Address)
	}
	for _, r := range refs {
		out = append(out, r.Address)
	}
	return out
}

// upload puts the file's chunks on the node, as a device's uploader does.
func (g *gcVault) upload(t *testing.T) {
	t.Helper()
	cs, _ := g.e.Chunks()
	for _, a := range g.fileChunks(t) {
		b, err := cs.Get(a)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.v.PutChunk(context.Background(), a, b); err != nil {
			t.Fatal(err)
		}
	}
}

// held counts the chunks of as stored, looking as the node's own Has
// does not: that one stamps what it finds.
func (g *gcVault) held(t *testing.T, as []files.Address) int {
	t.Helper()
	cs, err := g.v.chunkStore()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range as {
		if cs.Has(a) {
			n++
		}
	}
	return n
}

func (g *gcVault) sweep(t *testing.T) ChunkSweep {
	t.Helper()
	r, err := g.n.SweepChunks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A chunk no change names is kept through the grace period and removed
// after it, its bytes out of the vault's usage; the chunks a stored change
// names are never removed, however old.
func TestSweepCollectsOnlyUnnamedOldChunks(t *testing.T) {
	ctx := context.Background()
	g := newGCVault(t, 600<<10)
	g.upload(t)
	receiveAll(t, g.e, g.v, g.page)
	named := g.fileChunks(t)
	stray, sa := randomChunk(5000, 1) // an upload whose change never came
	if err := g.v.PutChunk(ctx, sa, stray); err != nil {
		t.Fatal(err)
	}
	before := g.v.ChunkUsage().Used

	g.clock.Add(DefaultChunkGrace - time.Minute)
	if r := g.sweep(t); r.Collected != 0 || r.Young != len(named)+1 || r.Looked != len(named)+1 {
		t.Fatalf("within the grace period: %+v", r)
	}
	if g.held(t, []files.Address{sa}) != 1 {
		t.Fatal("a chunk within its grace period was removed")
	}

	g.clock.Add(sweepRest) // past the grace, and past the rest after a whole pass
	r := g.sweep(t)
	if r.Collected != 1 || r.CollectedBytes != int64(len(stray)) || r.Named != len(named) {
		t.Fatalf("past the grace period: %+v", r)
	}
	if g.held(t, []files.Address{sa}) != 0 {
		t.Fatal("an old chunk no change names was kept")
	}
	if got := g.v.ChunkUsage().Used; got != before-uint64(len(stray)) {
		t.Fatalf("usage %d after collecting %d of %d bytes", got, len(stray), before)
	}
	if n, b, _ := reopenedUsage(t, g); n != int64(len(named)) || uint64(b) != g.v.ChunkUsage().Used {
		t.Fatalf("the folder holds %d chunks, %d bytes; usage says %d", n, b, g.v.ChunkUsage().Used)
	}

	// Years later the named chunks are all still here.
	for range 3 {
		g.clock.Add(365 * 24 * time.Hour)
		g.sweep(t)
	}
	if got := g.held(t, named); got != len(named) {
		t.Fatalf("%d of %d named chunks left after years", got, len(named))
	}
	if missing, _, _, _ := g.v.MissingChunks(ctx, files.Address{}); len(missing) != 0 {
		t.Fatalf("%d named chunks missing", len(missing))
	}
}

func reopenedUsage(t *testing.T, g *gcVault) (int64, int64, error) {
	cs, _ := g.v.chunkStore()
	var n, b int64
	err := cs.Walk(func(_ files.Address, size int64) error { n++; b += size; return nil })
	return n, b, err
}

// Chunks put, then left unnamed past the grace period, and the change
// naming them stored after the sweep has listed them: the sweep reads
// what is named after listing, so they are kept. A change that names
// chunks while it waits for its parents (parked, not yet indexed) keeps
// them too.
func TestSweepKeepsChunksNamedAfterItBegan(t *testing.T) {
	g := newGCVault(t, 600<<10)
	g.upload(t)
	chunks := g.fileChunks(t)
	g.clock.Add(DefaultChunkGrace + time.Hour)
	stored := false
	g.n.sweep.hook = func(v *Vault) {
		if !stored {
			stored = true
			receiveAll(t, g.e, v, g.page) // the change arrives mid-sweep
		}
	}
	r := g.sweep(t)
	if !stored || r.Collected != 0 || r.Named != len(chunks) {
		t.Fatalf("sweep: %+v (change stored: %v)", r, stored)
	}
	if got := g.held(t, chunks); got != len(chunks) {
		t.Fatalf("%d of %d chunks left: a change stored while the sweep ran lost its file", got, len(chunks))
	}
}

func TestSweepKeepsChunksOfParkedChanges(t *testing.T) {
	ctx := context.Background()
	g := newGCVault(t, 600<<10)
	g.upload(t)
	chunks := g.fileChunks(t)
	// Only the page's last change (the file block) reaches the node: its
	// parents are missing, so it is parked, and its chunks are in no index.
	ids, raws, err := g.e.Changes(ctx, g.page)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := g.v.Receive(ctx, ids[len(ids)-1], raws[len(raws)-1]); err != nil || out != Parked {
		t.Fatalf("receive: %v %v", out, err)
	}
	g.clock.Add(DefaultChunkGrace + time.Hour)
	if r := g.sweep(t); r.Collected != 0 {
		t.Fatalf("chunks a parked change names were collected: %+v", r)
	}
	if got := g.held(t, chunks); got != len(chunks) {
		t.Fatalf("%d of %d chunks left", got, len(chunks))
	}
}

// A large file's change names its leaves as well as its index chunk (the
// engine reads the index when it writes the change), so the node, which
// cannot read the index, keeps every leaf.
func TestSweepKeepsLargeFileLeaves(t *testing.T) {
	defer files.SmallIndexForTests(2)()
	g := newGCVault(t, 6<<20)
	if g.m.Index == nil {
		t.Fatal("no index chunk")
	}
	g.upload(t)
	receiveAll(t, g.e, g.v, g.page)
	chunks := g.fileChunks(t)
	g.clock.Add(10 * DefaultChunkGrace)
	if r := g.sweep(t); r.Collected != 0 || r.Named != len(chunks) {
		t.Fatalf("sweep of a large file's chunks: %+v (%d chunks)", r, len(chunks))
	}
	if got := g.held(t, chunks); got != len(chunks) {
		t.Fatalf("%d of %d chunks of a large file left", got, len(chunks))
	}
}

// A chunk put again (a device uploading a file again) is young again; one
// put while sweeps run is never lost once its Put said OK; the sweep
// works in batches, resuming where it stopped, and rests once done.
func TestSweepBatchesAndPutsMeanwhile(t *testing.T) {
	ctx := context.Background()
	defer func(old int) { sweepBatch = old }(sweepBatch)
	sweepBatch = 3
	g := newGCVault(t, 300<<10)
	var strays [][]byte
	var addrs []files.Address
	for i := range 10 {
		b, a := randomChunk(2000+i, uint64(100+i))
		if err := g.v.PutChunk(ctx, a, b); err != nil {
			t.Fatal(err)
		}
		strays, addrs = append(strays, b), append(addrs, a)
	}
	g.clock.Add(DefaultChunkGrace + time.Hour)
	// Put again: young again, kept.
	if err := g.v.PutChunk(ctx, addrs[0], strays[0]); err != nil {
		t.Fatal(err)
	}
	var total ChunkSweep
	for i := 0; ; i++ {
		r := g.sweep(t)
		if r.Vaults == 0 {
			break // resting
		}
		if r.Looked > sweepBatch || i > 10 {
			t.Fatalf("a step looked at %d chunks (batch %d), step %d", r.Looked, sweepBatch, i)
		}
		total.add(r)
	}
	if total.Collected != 9 || total.Young != 1 {
		t.Fatalf("sweep in batches: %+v", total)
	}
	if g.held(t, addrs[:1]) != 1 || g.held(t, addrs[1:]) != 0 {
		t.Fatal("the chunk put again was collected, or an old one kept")
	}
	// Sweeps and Puts of old chunks at once: each Put that said OK leaves
	// its chunk stored.
	sweepBatch = 4096
	for i := 1; i < len(addrs); i++ {
		if err := g.v.PutChunk(ctx, addrs[i], strays[i]); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 20 {
		g.clock.Add(DefaultChunkGrace + 2*sweepRest)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := g.n.SweepChunks(ctx); err != nil {
				t.Error(err)
			}
		}()
		i := 1 + round%(len(addrs)-1)
		err := g.v.PutChunk(ctx, addrs[i], strays[i])
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if g.held(t, addrs[i:i+1]) != 1 {
			t.Fatalf("round %d: a chunk whose Put said OK was collected", round)
		}
	}
}

// Collection off (a negative grace, --chunk-grace 0) removes nothing, and
// a grace shorter than the node accepts is refused.
func TestSweepOffAndShortGrace(t *testing.T) {
	ctx := context.Background()
	if _, err := OpenWith(t.TempDir(), Options{ChunkGrace: time.Minute}); err == nil {
		t.Fatal("a grace of a minute was accepted")
	}
	clock := &testClock{now: time.Now()}
	n, err := OpenWith(t.TempDir(), Options{ChunkGrace: -1, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	_, v, _ := quotaVaultOn(t, n)
	b, a := randomChunk(3000, 9)
	if err := v.PutChunk(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	clock.Add(100 * DefaultChunkGrace)
	if r, err := n.SweepChunks(ctx); err != nil || r.Collected != 0 {
		t.Fatalf("collection off: %+v %v", r, err)
	}
	if has, _ := v.HasChunks([]files.Address{a}); !has[0] {
		t.Fatal("collection off removed a chunk")
	}
}

func quotaVaultOn(t *testing.T, n *Node) (*Node, *Vault, *vault.Engine) {
	t.Helper()
	ctx := context.Background()
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

// A chunk the node tells a device it holds is not collected before that
// device's change can come: Has stamps an old chunk anew (the device will
// not upload it again), so it has a whole grace period more.
func TestSweepSparesChunksHasConfirmed(t *testing.T) {
	ctx := context.Background()
	g := newGCVault(t, 300<<10)
	b, a := randomChunk(4000, 11) // left by an abandoned upload
	if err := g.v.PutChunk(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	g.clock.Add(DefaultChunkGrace + time.Hour)
	if has, err := g.v.HasChunks([]files.Address{a}); err != nil || !has[0] { // a device adding the same bytes asks
		t.Fatalf("not held: %v", err)
	}
	if r := g.sweep(t); r.Collected != 0 {
		t.Fatalf("a chunk Has confirmed was collected: %+v", r)
	}
	g.clock.Add(DefaultChunkGrace + sweepRest)
	if r := g.sweep(t); r.Collected != 1 {
		t.Fatalf("a grace period after Has, and no change named it: %+v", r)
	}
}
