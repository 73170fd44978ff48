package syncer_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/store"
	"mycel/internal/syncer"
)

// A node never sends the Heads that acknowledge a batch before its
// Receiver has returned: its Receiver blocks until released, and no frame
// naming the batch's head leaves meanwhile; in the one ordered log of what
// the device received and when the Receiver returned, the acknowledgement
// comes after.
func TestStoreBeforeAcknowledging(t *testing.T) { bothModes(t, storeBeforeAcknowledging) }

func storeBeforeAcknowledging(t *testing.T, cfg func(syncer.Clock) syncer.Config) {
	f := newFixture(t)
	obj := f.object(5)
	root, head := obj[0].ID, obj[len(obj)-1].ID
	v := f.vault()
	log := &eventLog{}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	receive := func(ctx context.Context, in []admit.Incoming) ([]admit.Outcome, []error, error) {
		once.Do(func() { close(entered) })
		<-release
		outs, errs, err := v.ReceiveBatch(ctx, in)
		log.add("receiver returned", nil)
		return outs, errs, err
	}
	clock := syncer.NewFakeClock()
	svc := start(t, "node", v, receive, cfg(clock))
	mine, theirs := pipe()
	peer := newRawPeer(mine, log, "device", true)
	svc.Attach("device", theirs)
	peer.send(changesMsg(root, obj, len(obj)))
	<-entered
	acks := func(e event) bool {
		m, ok := syncMsg(e.frame)
		return e.what == "device got" && ok && names(m, root, head)
	}
	if i := log.index(acks); i >= 0 {
		t.Fatalf("the node acknowledged the batch before storing it (event %d)", i)
	}
	close(release)
	eventually(t, "the acknowledgement", func() bool { return log.index(acks) >= 0 })
	stored := log.index(func(e event) bool { return e.what == "receiver returned" })
	if ack := log.index(acks); stored < 0 || ack < stored {
		t.Fatalf("acknowledgement at event %d, Receiver returned at %d", ack, stored)
	}
}

// A stream of many changes (30 messages of 100, each handled in a loop
// turn of its own) is stored in a few Receiver calls, not one per message:
// the group commit waits for 2,048 changes, or for 40 ms of the clock.
func TestGroupCommit(t *testing.T) { bothModes(t, groupCommit) }

func groupCommit(t *testing.T, cfg func(syncer.Clock) syncer.Config) {
	f := newFixture(t)
	obj := f.object(3000)
	root := obj[0].ID
	v := f.vault()
	var mu sync.Mutex
	calls := 0
	receive := func(ctx context.Context, in []admit.Incoming) ([]admit.Outcome, []error, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return v.ReceiveBatch(ctx, in)
	}
	clock := syncer.NewFakeClock()
	svc := start(t, "node", v, receive, cfg(clock))
	mine, theirs := pipe()
	peer := newRawPeer(mine, &eventLog{}, "device", true)
	svc.Attach("device", theirs)
	for i := 0; i < len(obj); i += 100 {
		peer.send(changesMsg(root, obj[i:i+100], i+100))
		// Wait until the service has taken this message in (it stored
		// it, or it knows the device holds i+100 changes) before sending
		// the next: each message has a loop turn of its own, as in a slow
		// stream.
		eventually(t, "the message taken in", func() bool {
			pos, err := svc.Object(context.Background(), root)
			return err == nil && len(pos) == 1 && pos[0].Total == i+100 || count(t, v) >= i+100
		})
	}
	// What is left waits for the clock; a commit is due 40 ms after the
	// last one.
	eventually(t, "every change stored", func() bool {
		clock.Advance(10 * time.Millisecond)
		return count(t, v) == len(obj)
	})
	mu.Lock()
	defer mu.Unlock()
	if calls > 4 {
		t.Fatalf("%d changes in 30 messages were stored in %d Receiver calls; want a few (group commit)", len(obj), calls)
	}
}

// A peer that never reads is dropped once what is queued for it passes the
// bound; another peer, asking for the same, gets all of it meanwhile.
func TestSlowPeerIsDropped(t *testing.T) {
	f := newFixture(t)
	var objs [][]admit.Incoming
	for range 8 {
		objs = append(objs, f.object(400)) // about 100 KB each
	}
	v := f.holding(objs...)
	cfg := config(syncer.NewFakeClock())
	cfg.Sync.BatchBytes = 16 << 10
	cfg.MaxQueued = 256 << 10
	svc := start(t, "node", v, nil, cfg)

	slowEnd, slowConn := pipe()
	slow := newRawPeer(slowEnd, &eventLog{}, "slow", false) // never reads
	slowGone := svc.Attach("slow", slowConn)
	go func() { // the slow peer's pipe is read no further than the service's buffer
		for _, obj := range objs {
			slow.send(objsync.Message{Kind: objsync.Heads, Object: obj[0].ID})
		}
	}()
	fastEnd, fastConn := pipe()
	log := &eventLog{}
	fast := newRawPeer(fastEnd, log, "fast", true)
	svc.Attach("fast", fastConn)
	got := func(obj []admit.Incoming) int {
		n := 0
		for _, e := range log.all() {
			if m, ok := syncMsg(e.frame); ok && m.Kind == objsync.Changes && m.Object == obj[0].ID {
				n += len(m.Changes)
			}
		}
		return n
	}
	for _, obj := range objs { // one at a time: a reader keeps up
		fast.send(objsync.Message{Kind: objsync.Heads, Object: obj[0].ID}) // Heads with none: it has nothing of it
		eventually(t, "the fast peer to get an object", func() bool { return got(obj) == len(obj) })
	}
	eventually(t, "the slow peer dropped", func() bool { return closed(slowGone) })
	if _, ok := svc.Peers()["fast"]; !ok {
		t.Fatal("the fast peer was dropped too")
	}
}

// Two services that dial each other at once keep the same connection on
// both sides, the one dialed by the lesser peer id, whatever the order in
// which each side attached them; and it works.
func TestSimultaneousDials(t *testing.T) {
	f := newFixture(t)
	obj := f.object(3)
	va, vb := f.holding(obj), f.vault()
	a := start(t, "peer-a", va, nil, config(syncer.NewFakeClock()))
	b := start(t, "peer-b", vb, nil, config(syncer.NewFakeClock()))
	aDialedAtA, aDialedAtB := pipe()        // dialed by peer-a
	bDialedAtB, bDialedAtA := pipe()        // dialed by peer-b
	keptA := a.Attach("peer-b", aDialedAtA) // a: its own dial first
	lostA := a.Attach("peer-b", bDialedAtA)
	lostB := b.Attach("peer-a", bDialedAtB) // b: its own dial first
	keptB := b.Attach("peer-a", aDialedAtB)
	eventually(t, "the connection dialed by peer-b closed on both sides", func() bool { return closed(lostA) && closed(lostB) })
	// What a handshake asks before it welcomes a third: the one kept wins
	// over any new one dialed by peer-b, not over a new one of peer-a's
	// (it reconnected).
	ctx := context.Background()
	if !a.Keeps(ctx, "peer-b", false) || a.Keeps(ctx, "peer-b", true) || !b.Keeps(ctx, "peer-a", true) || b.Keeps(ctx, "peer-a", false) {
		t.Fatal("Keeps disagrees with what Attach kept")
	}
	if a.Keeps(ctx, "peer-c", false) {
		t.Fatal("keeps a connection to a peer it has none to")
	}
	eventually(t, "the object through the kept connection", func() bool { return count(t, vb) == len(obj) })
	if closed(keptA) || closed(keptB) {
		t.Fatalf("the connection dialed by peer-a was dropped: at a %v, at b %v", closed(keptA), closed(keptB))
	}
}

// A peer that sends half a frame and then nothing is dropped after three
// keepalive periods (2 ticks each) of the service's clock, not before.
func TestStalledPeerIsDropped(t *testing.T) {
	f := newFixture(t)
	clock := syncer.NewFakeClock()
	svc := start(t, "node", f.vault(), nil, config(clock))
	mine, theirs := net.Pipe()
	go io.Copy(io.Discard, mine) // reads what it is sent (pings)
	gone := svc.Attach("device", syncer.NewConn(theirs, nil, false))
	// A frame of 100 bytes announced; 10 of them sent.
	if _, err := mine.Write([]byte{100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		clock.Advance(time.Second)
	}
	// A round trip through the loop: the ticks have been handled.
	if _, err := svc.Object(context.Background(), change.ID{}); err != nil {
		t.Fatal(err)
	}
	if closed(gone) {
		t.Fatal("dropped after 5 s: sooner than three keepalive periods")
	}
	clock.Advance(time.Second)
	eventually(t, "the stalled peer dropped", func() bool { return closed(gone) })
}

// Close stops everything: once it returns, no goroutine of the service is
// left, nothing is written on its connections, and calls into it return
// rather than wait.
func TestCloseWaitsForEverything(t *testing.T) {
	f := newFixture(t)
	obj := f.object(3)
	va, vb := f.holding(obj), f.vault()
	clock := syncer.NewFakeClock()
	a := start(t, "peer-a", va, nil, config(clock))
	b := start(t, "peer-b", vb, nil, config(clock))
	x, y := pipe()
	wa, wb := &watched{Conn: x}, &watched{Conn: y}
	a.Attach("peer-b", wa)
	b.Attach("peer-a", wb)
	eventually(t, "the object synced", func() bool { return count(t, vb) == len(obj) })
	a.Close()
	b.Close()
	if gs := syncerGoroutines(); len(gs) > 0 {
		t.Fatalf("after Close, %d goroutines of the service are left:\n%s", len(gs), gs[0])
	}
	wa.stop()
	wb.stop()
	clock.Advance(time.Minute) // ticks, pings, timers: none is running
	a.Changed(obj[0].ID)
	a.Poke()
	if _, err := a.Object(context.Background(), obj[0].ID); err == nil {
		t.Fatal("Object answered after Close")
	}
	if got := a.Attach("peer-c", &watched{Conn: x}); !closed(got) {
		t.Fatal("a connection attached after Close is not closed")
	}
	if wa.late() > 0 || wb.late() > 0 {
		t.Fatalf("frames written after Close: %d, %d", wa.late(), wb.late())
	}
}

// watched is a connection that counts the frames written to it once
// stopped.
type watched struct {
	syncer.Conn
	mu      sync.Mutex
	stopped bool
	after   int
}

func (w *watched) WriteFrame(f *pb.Frame) error {
	w.mu.Lock()
	if w.stopped {
		w.after++
	}
	w.mu.Unlock()
	return w.Conn.WriteFrame(f)
}

func (w *watched) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}

func (w *watched) late() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.after
}

// flaky is a store whose reads fail while fail is set.
type flaky struct {
	store.Store
	fail atomic.Bool
}

var errDisk = errors.New("disk I/O error")

func (s *flaky) View(ctx context.Context, f func(store.Tx) error) error {
	if s.fail.Load() {
		return errDisk
	}
	return s.Store.View(ctx, f)
}

// A store that fails to read is not a store that holds nothing: asked for
// an object while its reads fail, the service sends nothing about it (not
// "no heads", not everything), says why in StoreError, and answers once
// the store works again.
func TestStorageErrorIsNotAFact(t *testing.T) {
	f := newFixture(t)
	obj := f.object(4)
	root := obj[0].ID
	v := f.holding(obj)
	db := &flaky{Store: v.Store()}
	members := syncer.Members{
		Get: func(context.Context) ([][]byte, error) { return v.MemberRecords(), nil },
		Add: v.AddMembers,
	}
	svc := syncer.Start(context.Background(), "node", db, v.ReceiveBatch, members, config(syncer.NewFakeClock()))
	t.Cleanup(svc.Close)
	mine, theirs := pipe()
	log := &eventLog{}
	peer := newRawPeer(mine, log, "device", true)
	svc.Attach("device", theirs)

	db.fail.Store(true)
	peer.send(objsync.Message{Kind: objsync.Heads, Object: root}) // it holds nothing of it
	if _, err := svc.Object(context.Background(), root); err == nil || !errors.Is(err, errDisk) {
		t.Fatalf("Object while the store fails: %v", err)
	}
	if err := svc.StoreError(); !errors.Is(err, errDisk) {
		t.Fatalf("StoreError while the store fails: %v", err)
	}
	db.fail.Store(false)
	peer.send(objsync.Message{Kind: objsync.Heads, Object: root})
	about := func(e event) bool { m, ok := syncMsg(e.frame); return ok && m.Object == root }
	eventually(t, "the answer once the store works", func() bool { return log.index(about) >= 0 })
	if m, _ := syncMsg(log.all()[log.index(about)].frame); m.Kind != objsync.Changes || len(m.Changes) != len(obj) {
		t.Fatalf("the first message about the object is %+v: want every change, sent after the store healed", m)
	}
	if err := svc.StoreError(); err != nil {
		t.Fatalf("StoreError once the store works: %v", err)
	}
}

// What a node said it holds is persisted: after the service restarts, the
// object shows as held by the node as soon as it connects, before the node
// says a word.
func TestHeldIsPersisted(t *testing.T) {
	f := newFixture(t)
	obj := f.object(3)
	root, head := obj[0].ID, obj[len(obj)-1].ID
	v := f.holding(obj)
	db := v.Store() // SQLite, format 3: held heads in their table
	members := syncer.Members{
		Get: func(context.Context) ([][]byte, error) { return v.MemberRecords(), nil },
		Add: v.AddMembers,
	}
	holds := func(svc *syncer.Service) bool {
		pos, err := svc.Object(context.Background(), root)
		return err == nil && len(pos) == 1 && pos[0].HasMine
	}
	svc := syncer.Start(context.Background(), "device", db, v.ReceiveBatch, members, config(syncer.NewFakeClock()))
	mine, theirs := pipe()
	node := newRawPeer(mine, &eventLog{}, "node", true)
	svc.Attach("node", theirs)
	node.send(objsync.Message{Kind: objsync.Heads, Object: root, Heads: []objsync.ID{head}})
	eventually(t, "the node's word taken", func() bool { return holds(svc) })
	svc.Close()

	svc = syncer.Start(context.Background(), "device", db, v.ReceiveBatch, members, config(syncer.NewFakeClock()))
	t.Cleanup(svc.Close)
	mine, theirs = pipe()
	newRawPeer(mine, &eventLog{}, "node", true) // says nothing
	svc.Attach("node", theirs)
	if !holds(svc) {
		t.Fatal("after a restart, the node's earlier word is forgotten")
	}
}
