package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/keys"
	"mycel/internal/objsync"
	"mycel/internal/p2p"
	"mycel/internal/pb"
	"mycel/internal/store"
	"mycel/internal/store/memstore"
	"mycel/internal/store/sqlite"
	"mycel/internal/syncer"
)

// loadDevice is one device of the load: a real device's sync service and
// libp2p connection to the node, over a store in memory, writing signed,
// sealed changes to its own page as the engine writes them (a paragraph
// growing by a line per change), without the engine: what receiving the
// other devices' changes costs a device is the admit pipeline, not
// decrypting and applying them, so the bench's devices leave the CPU to
// the node.
type loadDevice struct {
	n     int
	vault *loadVault
	key   ed25519.PrivateKey
	db    *memstore.Store
	host  host.Host

	// The page, touched by its writer only (and newPage before any).
	obj    change.ID
	objKey [32]byte
	doc    *crdt.Doc
	blk    crdt.ID
	depth  uint64

	ack chan struct{} // signalled (not blocking) on every acknowledgement

	mu   sync.Mutex
	svc  *syncer.Service
	node objsync.PeerID
	// ids are every change of the page in order, root first; sent when
	// each was handed to the service; acked the index of the last
	// acknowledged (the page is a chain: an acknowledgement of a change
	// covers those before it); hashes the HeadsHash of each change not
	// yet acknowledged, by which the node's word is recognised.
	ids    []change.ID
	sent   []time.Time
	acked  int
	hashes map[[32]byte]int
	// The window: changes from first on were written in it; lats the
	// latencies of those acknowledged, inWindow how many of those came
	// before it ended (see endWindow).
	first     int
	recording bool
	lats      []time.Duration
	ackAt     []time.Time
	err       error
}

// newPage writes the device's page: its root and a change that titles
// it and makes its paragraph.
func (d *loadDevice) newPage() error {
	root, err := change.NewRoot(d.vault.keys.ID, d.key, time.Now())
	if err != nil {
		return err
	}
	d.obj, d.objKey, d.doc = root.ID, keys.ObjectKey(d.vault.keys.ReadKey, root.ID[:]), crdt.NewDoc()
	d.hashes = map[[32]byte]int{}
	if err := d.put(root); err != nil {
		return err
	}
	_, err = d.edit(func(tx *crdt.Tx) {
		tx.SetDetail("title", fmt.Sprintf("Device %d", d.n))
		d.blk = tx.InsertBlock(crdt.ID{}, crdt.ID{}, crdt.TypeParagraph)
	})
	return err
}

// edit makes, signs and stores one change of the page and returns its
// index; the service is not told.
func (d *loadDevice) edit(f func(*crdt.Tx)) (int, error) {
	tx := d.doc.Begin(string(d.key.Public().(ed25519.PublicKey)))
	f(tx)
	ch := tx.Commit()
	d.mu.Lock()
	parent := d.ids[len(d.ids)-1]
	d.mu.Unlock()
	d.depth++
	c, err := change.New(change.Draft{Object: d.obj, Parents: []change.ID{parent}, Lamport: ch.Start, Depth: d.depth,
		Time: time.Now(), Payload: &change.Payload{Ops: ch.Ops}}, d.objKey, d.key)
	if err != nil {
		return 0, err
	}
	if err := d.put(c); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.ids) - 1, nil
}

// put stores a change of the page as its own (the page's only head) and
// records it as not yet acknowledged.
func (d *loadDevice) put(c *change.Change) error {
	if err := d.db.Update(context.Background(), func(tx store.Tx) error {
		m := store.MetaOf(c)
		m.Local = true
		if _, _, err := tx.PutChange(m, c.Raw); err != nil {
			return err
		}
		if c.IsRoot() {
			if err := tx.PutObject(store.Object{ID: c.ID, Created: c.Time, Updated: c.Time, Changes: 1}); err != nil {
				return err
			}
		}
		return tx.SetHeads(d.obj, []change.ID{c.ID})
	}); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids = append(d.ids, c.ID)
	d.sent = append(d.sent, time.Time{})
	d.hashes[objsync.HeadsHash([]objsync.ID{c.ID})] = len(d.ids) - 1
	return nil
}

// write appends a line to the page and hands the change to the service:
// its latency runs from here.
func (d *loadDevice) write() (int, error) {
	k, err := d.edit(func(tx *crdt.Tx) {
		tx.InsertText(d.blk, d.doc.TextLen(d.blk), fmt.Sprintf("Line %d of device %d. ", len(d.ids), d.n))
	})
	if err != nil {
		return 0, err
	}
	d.mu.Lock()
	d.sent[k] = time.Now()
	svc := d.svc
	d.mu.Unlock()
	svc.Changed(d.obj)
	return k, nil
}

// held is the service's Held hook: the node's word on the heads of the
// page acknowledges every change up to the one they name.
func (d *loadDevice) held(h objsync.HeldUpdate) {
	if h.Object != d.obj {
		return // another device's page, relayed
	}
	now := time.Now()
	d.mu.Lock()
	if h.Peer != d.node {
		d.mu.Unlock()
		return
	}
	k, ok := d.hashes[h.Heads]
	if ok && k > d.acked {
		for j := d.acked + 1; j <= k; j++ {
			delete(d.hashes, objsync.HeadsHash([]objsync.ID{d.ids[j]}))
			if d.recording && j >= d.first {
				d.lats = append(d.lats, now.Sub(d.sent[j]))
				d.ackAt = append(d.ackAt, now)
			}
		}
		d.acked = k
	}
	d.mu.Unlock()
	select {
	case d.ack <- struct{}{}:
	default:
	}
}

// ackedUpTo reports whether change k is acknowledged.
func (d *loadDevice) ackedUpTo(k int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.acked >= k
}

func (d *loadDevice) ackedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.acked + 1
}

func (d *loadDevice) last() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.ids) - 1
}

// waitAcked waits until change k is acknowledged, or ctx or deadline ends.
func (d *loadDevice) waitAcked(ctx context.Context, k int, deadline <-chan time.Time) bool {
	for !d.ackedUpTo(k) {
		select {
		case <-d.ack:
		case <-ctx.Done():
			return false
		case <-deadline:
			return false
		}
	}
	return true
}

// writeLoop writes until ctx ends: closed loop (rate 0: the next change
// once the last is acknowledged) or rate changes a second, whatever the
// acknowledgements, from a random phase so that devices do not write in
// step.
func (d *loadDevice) writeLoop(ctx context.Context, rate float64) {
	if rate <= 0 {
		for ctx.Err() == nil {
			k, err := d.write()
			if err != nil {
				d.fail(err)
				return
			}
			if !d.waitAcked(ctx, k, nil) {
				return
			}
		}
		return
	}
	period := time.Duration(float64(time.Second) / rate)
	t := time.NewTimer(rand.N(period))
	defer t.Stop()
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := d.write(); err != nil {
			d.fail(err)
			return
		}
		// On a schedule, not a period after each write: a slow write does
		// not lower the rate (a late one goes at once).
		next = next.Add(period)
		t.Reset(max(0, time.Until(next)))
	}
}

func (d *loadDevice) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil {
		d.err = fmt.Errorf("device %d: %w", d.n, err)
	}
}

// startWindow starts recording latencies of the changes written from now.
func (d *loadDevice) startWindow() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.first, d.recording, d.lats, d.ackAt = len(d.ids), true, nil, nil
}

// endWindow stops recording: the changes written in the window, how many
// of them were acknowledged before end, and the latencies of all of them
// acknowledged so far.
func (d *loadDevice) endWindow(end time.Time) (written, acked int, lats []time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recording = false
	for _, at := range d.ackAt {
		if !at.After(end) {
			acked++
		}
	}
	return len(d.ids) - d.first, acked, d.lats
}

// connect starts each device's service and dials the node (registering
// its vault if it is not yet), a few devices at once.
func (l *NodeLoad) connect(ctx context.Context, addr string) error {
	errs := make(chan error, len(l.devices))
	sem := make(chan struct{}, 8)
	for _, d := range l.devices {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- d.connect(ctx, addr, l)
		}()
	}
	var first error
	for range l.devices {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (d *loadDevice) connect(ctx context.Context, addr string, l *NodeLoad) error {
	v := d.vault
	hello := &pb.Hello{VaultId: v.keys.ID[:], MemberRecords: v.records, Register: true}
	node, stream, r, _, err := p2p.Dial(ctx, d.host, addr, hello)
	// A device redials; on a machine this busy a handshake can miss
	// its 15 s, so this one tries twice more.
	for try := 1; err != nil && try < 3 && ctx.Err() == nil; try++ {
		node, stream, r, _, err = p2p.Dial(ctx, d.host, addr, hello)
	}
	if err != nil {
		return fmt.Errorf("device %d: %w", d.n, err)
	}
	cfg := syncer.Config{Sync: objsync.DefaultConfig, Tick: time.Second, Log: l.log, Held: d.held}
	members := syncer.Members{
		Get: func(context.Context) ([][]byte, error) { return v.records, nil },
		Add: func(context.Context, [][]byte) error { return nil }, // it has them all
	}
	svc := syncer.Start(context.WithoutCancel(ctx), objsync.PeerID(d.host.ID().String()), d.db, d.receive, members, cfg)
	d.mu.Lock()
	d.svc, d.node = svc, node
	d.mu.Unlock()
	svc.Attach(node, p2p.StreamConn(stream, r))
	svc.Changed(d.obj) // what the last run left unacknowledged, at once
	return nil
}

// receive is the device's Receiver: the other devices' changes, relayed
// by the node, go through the admit pipeline into its store, kept as a
// node keeps them (unread).
func (d *loadDevice) receive(ctx context.Context, in []admit.Incoming) (outs []admit.Outcome, errs []error, err error) {
	err = d.db.Update(ctx, func(tx store.Tx) (err error) {
		outs, errs, err = admit.Receive(tx, d.vault.keys.ID, d.vault.members, keepOnly{}, in)
		return err
	})
	return outs, errs, err
}

// keepOnly is an admit.Applier that keeps changes unread (a node's).
type keepOnly struct{}

func (keepOnly) Apply(store.Tx, *change.Change, bool) (bool, error) { return false, nil }

func (keepOnly) Stored(tx store.Tx, c *change.Change, _ int64) error {
	if c.IsRoot() {
		return tx.PutObject(store.Object{ID: c.ID, Created: c.Time, Updated: c.Time, Changes: 1})
	}
	return nil
}

func (keepOnly) Finish(store.Tx, map[change.ID][]change.ID) error { return nil }

// disconnect closes every device's service and its transport connections
// to the node: the next run's node is another process at the same address
// and peer id, and a dial would take a dead connection left to the last
// one for a live one (as a device's stall detection closes them).
func (l *NodeLoad) disconnect() {
	var wg sync.WaitGroup
	for _, d := range l.devices {
		d.mu.Lock()
		svc, node := d.svc, d.node
		d.svc, d.node = nil, ""
		d.mu.Unlock()
		if svc != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc.Close()
				p2p.PeerCloser(d.host)(node)
			}()
		}
	}
	wg.Wait()
}

// settle waits, within timeout, until every device's changes are all
// acknowledged.
func (l *NodeLoad) settle(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for _, d := range l.devices {
		if !d.waitAcked(ctx, d.last(), t.C) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("device %d: its changes were not all acknowledged within %v (%d of %d)", d.n, timeout, d.ackedCount(), d.last()+1)
		}
	}
	return nil
}

func (l *NodeLoad) failed() error {
	for _, d := range l.devices {
		d.mu.Lock()
		err := d.err
		d.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// checkAfterKill starts the killed node again on its folder (it must come
// up), stops it, and looks in each vault's store for every change a device
// saw acknowledged, in this run or any before.
func (l *NodeLoad) checkAfterKill(ctx context.Context, r *NodeLoadResult) error {
	p, err := startNode(ctx, l.cfg.Exe, l.nodeDir(), l.nodeLog(), nil)
	if err != nil {
		return fmt.Errorf("after kill -9: %w", err)
	}
	if err := p.stop(); err != nil {
		return fmt.Errorf("after kill -9: %w", err)
	}
	want := map[*loadVault][]change.ID{}
	for _, d := range l.devices {
		d.mu.Lock()
		want[d.vault] = append(want[d.vault], d.ids[:d.acked+1]...)
		d.mu.Unlock()
	}
	for _, v := range l.vaults {
		ids := want[v]
		r.AckedInStore += len(ids)
		db, err := sqlite.Open(filepath.Join(l.nodeDir(), "vaults", hex.EncodeToString(v.keys.ID[:]), "mycel.db"))
		if err != nil {
			return fmt.Errorf("after kill -9: open vault %s: %w", v.keys.ID.Short(), err)
		}
		var have map[change.ID]bool
		err = db.View(ctx, func(tx store.Tx) (err error) {
			have, err = tx.StoredOf(ids)
			return err
		})
		db.Close()
		if err != nil {
			return err
		}
		for _, id := range ids {
			if !have[id] {
				r.Lost++
			}
		}
	}
	return nil
}

// quantiles are the median, 99th percentile and greatest of ds.
func quantiles(ds []time.Duration) (p50, p99, top time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.5), at(0.99), s[len(s)-1]
}
