package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/device"
	"mycel/internal/keys"
	"mycel/internal/node"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
	"mycel/internal/vault"
)

// InitialSyncResult is a fresh device pulling a whole vault from a node.
type InitialSyncResult struct {
	Objects, Changes int
	Bytes            int64
	Wall             time.Duration // until the device holds every change
	TCPCopy          time.Duration // the same bytes over a raw loopback TCP socket (median of 3)
	VerifyAll        time.Duration // every change's signature verified, on all cores (median of 3)
	// Peak resident memory of the node's and the device's processes, in
	// bytes (0 when they ran inside the benchmark's).
	NodeRSS, DeviceRSS int64
	// CPU time (user and system) the node's and the device's processes had
	// used when the device held every change (0 when they ran inside the
	// benchmark's): steadier than the wall time on a shared machine.
	NodeCPU, DeviceCPU time.Duration
}

// MBps is the sync's throughput.
func (r InitialSyncResult) MBps() float64 { return float64(r.Bytes) / (1 << 20) / r.Wall.Seconds() }

// InitialSync builds a vault of objects × perObject changes on a node (in
// dir), then times a freshly recovered device syncing all of it over
// loopback, and measures the two limits in the same run. With exe (the
// mycel executable) the node and the device run as processes of their
// own ('mycel node', 'mycel up'), and their peak memory is measured;
// without it, inside this one.
func InitialSync(ctx context.Context, exe, dir string, objects, perObject int, progress func(string)) (InitialSyncResult, error) {
	r := InitialSyncResult{Objects: objects}
	a, phrase, err := vault.Init(ctx, filepath.Join(dir, "a"), "writer")
	if err != nil {
		return r, err
	}
	recs, _ := a.MemberRecords(ctx)
	n, err := node.Open(filepath.Join(dir, "node"))
	if err != nil {
		return r, err
	}
	defer n.Close()
	nv, err := n.Register(ctx, a.VaultID(), a.DeviceKey(), recs)
	if err != nil {
		return r, err
	}
	// Generate the vault's changes, as device a would have written them.
	all, err := generate(a, phrase, objects, perObject)
	if err != nil {
		return r, err
	}
	a.Close()
	r.Changes = len(all)
	for _, c := range all {
		r.Bytes += int64(len(c.Raw))
	}
	if progress != nil {
		progress(fmt.Sprintf("storing %d changes (%.1f MB) on the node", len(all), float64(r.Bytes)/(1<<20)))
	}
	for i := 0; i < len(all); i += 2000 {
		// Verified first on every core, as the node's readers would.
		batch := all[i:min(i+2000, len(all))]
		admit.Verify(batch)
		if _, _, err := nv.ReceiveBatch(ctx, batch); err != nil {
			return r, err
		}
		for j := range batch {
			batch[j].Verified = change.Verified{} // not kept for the rest of the run
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var addr string
	var np *nodeProc
	if exe != "" {
		// The node runs on its own, so that its memory is its own.
		n.Close()
		if np, err = startNode(sctx, exe, filepath.Join(dir, "node"), filepath.Join(dir, "node.log"), nil); err != nil {
			return r, err
		}
		defer np.stop()
		addr = np.addr
	} else {
		var closeHost func() error
		if addr, closeHost, err = serveLoopback(sctx, n); err != nil {
			return r, err
		}
		defer closeHost()
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	// A fresh device pulls everything.
	data := filepath.Join(dir, "b")
	b, err := vault.Recover(ctx, data, phrase, "reader")
	if err != nil {
		return r, err
	}
	closeB := sync.OnceValue(b.Close)
	defer closeB()
	if err := device.Register(ctx, b, addr); err != nil {
		return r, err
	}
	if progress != nil {
		progress("syncing to a fresh device")
	}
	db := b.Store()
	var devProc *child
	start := time.Now()
	if exe != "" {
		if err := closeB(); err != nil {
			return r, err
		}
		if devProc, err = startDeviceProcess(sctx, exe, data); err != nil {
			return r, err
		}
		defer devProc.stop()
		// Watched through a connection of this process's own.
		sdb, err := sqlite.Open(filepath.Join(data, vault.DBFile))
		if err != nil {
			return r, err
		}
		defer sdb.Close()
		db = sdb
	} else if _, err := device.Start(sctx, b, nodeOnly(quiet)); err != nil {
		return r, err
	}
	// Poll the store for completion: often (the wall time is measured to
	// the poll that sees it) and cheaply (the poll competes for the CPU).
	for {
		var last int64
		if err := db.View(ctx, func(tx store.Tx) (err error) {
			last, err = tx.LastSeq()
			return err
		}); err != nil {
			return r, err
		}
		if last >= int64(len(all)) {
			break
		}
		if time.Since(start) > 30*time.Minute {
			return r, fmt.Errorf("initial sync incomplete after 30 minutes: %d of %d changes", last, len(all))
		}
		time.Sleep(pollEvery)
	}
	r.Wall = time.Since(start)
	if devProc != nil {
		r.DeviceCPU, _ = procCPU(devProc.cmd.Process.Pid)
		r.NodeCPU, _ = procCPU(np.cmd.Process.Pid)
	}
	if have, err := countChanges(ctx, db); err != nil || have != len(all) {
		return r, fmt.Errorf("after the initial sync the device holds %d changes, want %d (%v)", have, len(all), err)
	}
	if devProc != nil {
		if r.DeviceRSS, err = devProc.stop(); err != nil {
			return r, fmt.Errorf("stop the device: %w", err)
		}
		if err := np.stop(); err != nil {
			return r, fmt.Errorf("stop the node: %w", err)
		}
		r.NodeRSS = np.peak
	}
	cancel()
	if progress != nil {
		progress(fmt.Sprintf("synced in %s; measuring the limits (a loopback copy, verifying every signature)", r.Wall.Round(time.Millisecond)))
	}
	if r.TCPCopy, err = median3(func() (time.Duration, error) { return tcpCopy(r.Bytes) }); err != nil {
		return r, err
	}
	r.VerifyAll, _ = median3(func() (time.Duration, error) { return verifyAll(all), nil })
	return r, nil
}

// nodeOnly configures a device that syncs through nodes only: what these
// benchmarks measure.
func nodeOnly(log *slog.Logger) device.Config {
	c := device.DefaultConfig(log)
	c.Listen, c.LAN = nil, false
	return c
}

// generate makes a vault's changes as device a (of the vault of phrase)
// would have written them: objects objects of perObject changes each, a
// title and a paragraph growing by a sentence per change.
func generate(a *vault.Engine, phrase string, objects, perObject int) ([]node.Incoming, error) {
	var all []node.Incoming
	key := a.HostKey()
	readKey := vaultReadKey(phrase)
	for o := 0; o < objects; o++ {
		root, err := change.NewRoot(a.VaultID(), key, time.Now())
		if err != nil {
			return nil, err
		}
		all = append(all, node.Incoming{ID: root.ID, Raw: root.Raw})
		doc := crdt.NewDoc()
		heads := []change.ID{root.ID}
		var blk crdt.ID
		for c := 1; c < perObject; c++ {
			tx := doc.Begin(string(a.DeviceKey()))
			if c == 1 {
				tx.SetDetail("title", fmt.Sprintf("Object %d", o))
				blk = tx.InsertBlock(crdt.ID{}, crdt.ID{}, crdt.TypeParagraph)
			}
			tx.InsertText(blk, doc.TextLen(blk), fmt.Sprintf("Change %d of object %d. ", c, o))
			ch := tx.Commit()
			cc, err := change.New(change.Draft{Object: root.ID, Parents: heads, Lamport: ch.Start, Time: time.Now(),
				Payload: &change.Payload{Ops: ch.Ops}}, keys.ObjectKey(readKey, root.ID[:]), key)
			if err != nil {
				return nil, err
			}
			all = append(all, node.Incoming{ID: cc.ID, Raw: cc.Raw})
			heads = []change.ID{cc.ID}
		}
	}
	return all, nil
}

// serveLoopback serves a node on a fresh loopback address until ctx ends.
func serveLoopback(ctx context.Context, n *node.Node) (string, func() error, error) {
	addr, h, err := node.ServeLoopback(ctx, n, node.DefaultServiceConfig(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return "", nil, err
	}
	return addr, h.Close, nil
}

func vaultReadKey(phrase string) [32]byte {
	v, _ := keys.VaultFromPhrase(phrase)
	return v.ReadKey
}

func countChanges(ctx context.Context, db store.Store) (int, error) {
	n := 0
	err := db.View(ctx, func(tx store.Tx) (err error) {
		n, err = tx.CountChanges()
		return err
	})
	return n, err
}

// tcpCopy times sending n bytes over a loopback TCP connection.
func tcpCopy(n int64) (time.Duration, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(io.Discard, c)
		c.Close()
		done <- err
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	start := time.Now()
	for left := n; left > 0; left -= int64(len(buf)) {
		if _, err := c.Write(buf[:min(int64(len(buf)), left)]); err != nil {
			return 0, err
		}
	}
	c.Close()
	err = <-done
	return time.Since(start), err
}

// median3 runs f three times and returns the median duration.
func median3(f func() (time.Duration, error)) (time.Duration, error) {
	var ds []time.Duration
	for range 3 {
		d, err := f()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds[1], nil
}

// verifyAll parses (and so signature-checks) every change on all cores, as
// fast as receiving can (admit.Verify, which a device's sync uses: batches
// of 64 on every core): the bound verification puts on an initial sync.
func verifyAll(all []node.Incoming) time.Duration {
	in := make([]admit.Incoming, len(all))
	for i, c := range all {
		in[i] = admit.Incoming{ID: c.ID, Raw: c.Raw} // not verified yet
	}
	start := time.Now()
	admit.Verify(in)
	return time.Since(start)
}

// Latency times, for each of edits changes written on device A, how long
// until device B holds it, both syncing through a node on loopback. It
// returns the delays in order.
func Latency(ctx context.Context, dir string, edits int) ([]time.Duration, error) {
	n, err := node.Open(filepath.Join(dir, "node"))
	if err != nil {
		return nil, err
	}
	defer n.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	addr, closeHost, err := serveLoopback(sctx, n)
	if err != nil {
		return nil, err
	}
	defer closeHost()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, phrase, err := vault.Init(ctx, filepath.Join(dir, "a"), "a")
	if err != nil {
		return nil, err
	}
	defer a.Close()
	b, err := vault.Recover(ctx, filepath.Join(dir, "b"), phrase, "b")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	for _, e := range []*vault.Engine{a, b} {
		if err := device.Register(ctx, e, addr); err != nil {
			return nil, err
		}
	}
	da, err := device.Start(sctx, a, nodeOnly(quiet))
	if err != nil {
		return nil, err
	}
	if _, err := device.Start(sctx, b, nodeOnly(quiet)); err != nil {
		return nil, err
	}
	id, err := a.Create(ctx, vault.NewPage{Details: map[string]string{"title": "latency"}, Blocks: []*crdt.Block{{Type: crdt.TypeParagraph}}})
	if err != nil {
		return nil, err
	}
	da.Poke()
	if err := waitHeads(ctx, a, b, id); err != nil {
		return nil, err
	}
	return timeEdits(ctx, a, da, b, id, edits)
}

// Direct measures two devices of one vault syncing directly over loopback,
// with no node: how long a device that starts takes to hold an object the
// other has (from its start: dialing, handshake, reconciliation, transfer),
// then, for each of edits changes written on A, how long until B holds it.
func Direct(ctx context.Context, dir string, edits int) (first time.Duration, delays []time.Duration, err error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, phrase, err := vault.Init(ctx, filepath.Join(dir, "a"), "a")
	if err != nil {
		return 0, nil, err
	}
	defer a.Close()
	b, err := vault.Recover(ctx, filepath.Join(dir, "b"), phrase, "b")
	if err != nil {
		return 0, nil, err
	}
	defer b.Close()
	id, err := a.Create(ctx, vault.NewPage{Details: map[string]string{"title": "latency"}, Blocks: []*crdt.Block{{Type: crdt.TypeParagraph}}})
	if err != nil {
		return 0, nil, err
	}
	direct := func(peers ...string) device.Config {
		c := device.DefaultConfig(quiet)
		c.Listen, c.LAN, c.Peers = []string{"/ip4/127.0.0.1/tcp/0"}, false, peers
		return c
	}
	da, err := device.Start(sctx, a, direct())
	if err != nil {
		return 0, nil, err
	}
	start := time.Now()
	if _, err := device.Start(sctx, b, direct(fmt.Sprintf("%s/p2p/%s", da.LANHost().Addrs()[0], da.LANHost().ID()))); err != nil {
		return 0, nil, err
	}
	if err := waitHeads(ctx, a, b, id); err != nil {
		return 0, nil, err
	}
	first = time.Since(start)
	delays, err = timeEdits(ctx, a, da, b, id, edits)
	return first, delays, err
}

// headsOf reads an object's heads.
func headsOf(ctx context.Context, e *vault.Engine, id change.ID) []change.ID {
	var hs []change.ID
	e.Store().View(ctx, func(tx store.Tx) (err error) {
		hs, err = tx.Heads(id)
		return err
	})
	return hs
}

// waitHeads waits until b holds a's current heads of object id.
func waitHeads(ctx context.Context, a, b *vault.Engine, id change.ID) error {
	want := headsOf(ctx, a, id)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := headsOf(ctx, b, id)
		if len(got) == 1 && len(want) == 1 && got[0] == want[0] {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("an edit did not reach the other device within 30 s")
		}
		time.Sleep(200 * time.Microsecond) // polling b's store
	}
}

// timeEdits times, for each of edits changes written on a (running as da),
// how long until b holds it.
func timeEdits(ctx context.Context, a *vault.Engine, da *device.Device, b *vault.Engine, id change.ID, edits int) ([]time.Duration, error) {
	o, err := a.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	blk := o.Doc.BlockIDs()[0]
	var out []time.Duration
	for i := 0; i < edits; i++ {
		start := time.Now()
		if _, err := a.Edit(ctx, id, vault.EditOptions{}, func(tx *crdt.Tx) error {
			tx.InsertText(blk, 0, "x")
			return nil
		}); err != nil {
			return nil, err
		}
		da.Poke()
		if err := waitHeads(ctx, a, b, id); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}
