// Package syncer drives one vault's objsync machine over connections to
// peers: it is the sync protocol apart from any transport, as Syncthing's
// lib/protocol runs over any reader and writer. A Service runs the machine
// on one goroutine and each connection (a Conn: frames in, frames out) on a
// reader and a writer; time comes from a Clock, so tests run it over
// net.Pipe with a fake clock and no network at all. Package p2p brings the
// connections (libp2p streams, after their handshakes).
//
// What it does around the machine: stores received changes through a
// Receiver (group commit: one transaction for many messages), persists
// what peers said they hold, verifies signatures in the readers, exchanges
// membership records, pings quiet connections and drops a peer that
// completes no frame for three keepalive periods, drops one too slow to
// read what it is sent, keeps one of two connections dialed at once, and
// polls the store for changes other processes wrote. Close cancels all of
// it and waits.
package syncer

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/reconcile"
	"mycel/internal/store"
)

// Receiver verifies and stores received changes in one transaction: the
// device engine (which decrypts and applies them) or a node vault (which
// cannot). errs[i] says why change i was refused; err is a storage error,
// and then nothing was stored. The service has already parsed and verified
// what it could (see admit.Verify). Once it returns, what it stored is
// durable: only then does the service acknowledge it.
type Receiver func(ctx context.Context, changes []admit.Incoming) (outs []admit.Outcome, errs []error, err error)

// Members is how a service reads and extends its vault's membership log;
// records are exchanged with every peer on connect and every
// reconciliation period.
type Members struct {
	Get func(ctx context.Context) ([][]byte, error)
	Add func(ctx context.Context, records [][]byte) error
}

// Config configures a Service.
type Config struct {
	Sync objsync.Config
	Tick time.Duration // one machine tick; reconciliation every Sync.ReconcileEvery ticks
	// LocalAuthor, when set, makes the service look at every tick for
	// changes by this author (the device itself) that other processes (the
	// CLI) wrote to the store, and offer them.
	LocalAuthor []byte
	Log         *slog.Logger
	// ClosePeer, when set, is called for a peer whose connection stalled,
	// besides closing that connection: a transport closes whatever else
	// it holds to the peer, so that the next dial starts fresh.
	ClosePeer func(objsync.PeerID)
	// Clock is the service's time (nil: the wall clock).
	Clock Clock
	// MaxQueued bounds the bytes waiting to be written to one peer; a peer
	// that leaves more unread is dropped (0: 256 MiB).
	MaxQueued int
	// KeepSet tells that the store's heads change only when a change is
	// stored in it (a node's store: no other process writes it and no
	// change is set aside), so the set reconciliation compares is kept
	// from one session to the next until a change is stored.
	KeepSet bool
	// FrameRate bounds the frames read from one connection per second,
	// FrameBurst how many may come at once (0: unbounded). A reader past
	// it waits, so the peer's writes back up: a member flooding frames
	// costs the node at most the rate's worth of work, whatever it sends.
	FrameRate, FrameBurst int
	// Held, when set, is told of every word a peer gives of the heads it
	// holds of an object (objsync.Ready.Held), on the loop goroutine, as
	// the machine takes it. For a device, a node's word is its
	// acknowledgement: the node stored those heads durably before saying
	// so (see process). It is how a caller learns when an edit is backed
	// up without asking the loop for every object; it must not block.
	Held func(objsync.HeldUpdate)
	// Pipeline stores received changes on a goroutine of their own, one
	// transaction at a time, while the loop goes on reading, stepping and
	// sending; what arrives meanwhile goes in the next transaction. A
	// node sets it: a commit waits for its fsync, and with the loop
	// blocked for it, each vault's throughput was one small group per
	// fsync. Acknowledgements still leave only after their commit.
	Pipeline bool
	// SyncOff, when set, names the objects kept off sync (a device's
	// pages with sync off): read in the transaction of every event and
	// tick, so that an object written with sync off is never offered.
	SyncOff *SyncOff
	// Activity, when set, is told of what sync does (Activity), on the
	// loop goroutine; it must not block.
	Activity func(Activity)
	// RemoveObject, on a node, carries out a device's request to remove
	// an object from its store (or restore it), on the loop goroutine; the
	// service then forgets what it kept of the object and answers. Without
	// it such requests are answered with a refusal.
	RemoveObject func(ctx context.Context, from objsync.PeerID, req *pb.RemoveObject) error
	// Removed, on a device, is told of a node's answers to its requests
	// (SendRemove), on the loop goroutine.
	Removed func(from objsync.PeerID, reply *pb.RemoveReply)
	// AckSigner, when set, makes this side a backup node that signs every
	// Heads message it sends (see acks.go), in the writer.
	AckSigner *AckSigner
	// Acks is what a device does with nodes' signed words (acks.go).
	Acks AckHooks
}

// Activity is one thing sync did, for a device's activity log.
type Activity struct {
	Kind    ActivityKind
	Peer    objsync.PeerID
	Object  change.ID // zero for a connection's start and end
	Changes int       // sent, stored or refused
	Reason  string    // why a change was refused
}

// ActivityKind is what an Activity tells.
type ActivityKind string

// The kinds of activity.
const (
	Connected    ActivityKind = "connected"
	Disconnected ActivityKind = "disconnected"
	Sent         ActivityKind = "sent"
	Received     ActivityKind = "received"
	Refused      ActivityKind = "refused"
)

// tell passes an Activity on, if anyone listens.
func (s *Service) tell(a Activity) {
	if s.activity != nil {
		s.activity(a)
	}
}

// SyncOff reads the objects a device keeps off sync: Rev, a number that
// changes whenever the list does, is read each time; List only then.
type SyncOff struct {
	Rev  func(store.Tx) (uint64, error)
	List func(store.Tx) (map[change.ID]bool, error)
}

// Service syncs one vault with the peers attached to it.
type Service struct {
	self                  objsync.PeerID
	db                    store.Store
	store                 *storeView // what the machine reads
	machine               *objsync.Machine
	receive               Receiver
	members               Members
	every                 int // ticks between membership exchanges
	ticks                 int
	log                   *slog.Logger
	tick                  time.Duration
	clock                 Clock
	maxQueued             int
	frameRate, frameBurst int    // per connection (Config.FrameRate)
	author                []byte // watch the store for changes by this author (a device's own)
	closePeer             func(objsync.PeerID)
	onHeld                func(objsync.HeldUpdate) // Config.Held
	pipeline              bool                     // Config.Pipeline
	activity              func(Activity)           // Config.Activity
	removeObject          func(context.Context, objsync.PeerID, *pb.RemoveObject) error
	removed               func(objsync.PeerID, *pb.RemoveReply)
	refusals              map[objsync.PeerID]map[objsync.ID]string // s.mu: what peers said they refused (noteRefused)
	signer                *AckSigner                               // Config.AckSigner
	lastAck               atomic.Int64                             // time of the last word signed (Unix ms)
	acks                  AckHooks                                 // Config.Acks
	acksDue               []Ack                                    // verified words for the next acks.Check, as they came (loop)
	events                chan func()
	conns                 map[objsync.PeerID]*conn // loop goroutine only
	polled                int64                    // arrival number of the last change seen by pollLocal
	membersPoked          int                      // records in the log at the last Poke (sendNewMembers)
	// verified holds the changes of the messages stepped since the last
	// process, parsed and verified by the connections' readers.
	verified map[objsync.ID]change.Verified
	// Received changes waiting to be stored (see storeNow).
	pending    []pending
	lastStore  time.Time // when pending changes were last stored
	lastStored int       // how many
	flush      Timer
	flushAt    time.Time // when flush fires (zero: not armed)
	// With Config.Pipeline: a store is under way (its commit comes on
	// committed), and what peers said they hold waits for its end
	// (heldDue) rather than for the write lock.
	committing bool
	committed  chan *commit
	heldDue    bool
	// held is what peers said they hold and is not persisted yet (see
	// persistHeld).
	held map[heldKey][32]byte

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the loop and every connection's reader and writer
	done   chan struct{}  // closed when the loop has ended

	mu         sync.Mutex
	peers      map[objsync.PeerID]time.Time // connected, since
	reconciled map[objsync.PeerID]bool      // peers reconciled with at least once since start
	receiveErr error                        // of the last store of received changes (nil: it worked)
	readErr    error                        // of the loop's last read of the store (nil: it worked)
}

type heldKey struct {
	peer objsync.PeerID
	obj  objsync.ID
}

// Start starts a service for peer self over db; it runs until ctx ends or
// Close.
func Start(ctx context.Context, self objsync.PeerID, db store.Store, receive Receiver, members Members, cfg Config) *Service {
	s := newService(self, db, receive, members, cfg)
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.done)
		s.run()
	}()
	return s
}

func newService(self objsync.PeerID, db store.Store, receive Receiver, members Members, cfg Config) *Service {
	s := &Service{self: self, db: db, receive: receive, members: members, every: max(cfg.Sync.ReconcileEvery, 1),
		log: cfg.Log, tick: cfg.Tick, clock: cfg.Clock, maxQueued: cfg.MaxQueued, author: cfg.LocalAuthor, closePeer: cfg.ClosePeer, onHeld: cfg.Held, pipeline: cfg.Pipeline, activity: cfg.Activity, removeObject: cfg.RemoveObject, removed: cfg.Removed, signer: cfg.AckSigner, acks: cfg.Acks, committed: make(chan *commit, 1),
		events: make(chan func(), 256), conns: map[objsync.PeerID]*conn{}, peers: map[objsync.PeerID]time.Time{},
		reconciled: map[objsync.PeerID]bool{}, refusals: map[objsync.PeerID]map[objsync.ID]string{}, verified: map[objsync.ID]change.Verified{}, held: map[heldKey][32]byte{},
		done: make(chan struct{}), membersPoked: -1}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.clock == nil {
		s.clock = RealClock{}
	}
	if s.maxQueued <= 0 {
		s.maxQueued = 256 << 20
	}
	s.flush = s.clock.NewTimer(time.Hour)
	s.flush.Stop()
	s.store = newStoreView(db)
	s.store.keepSet = cfg.KeepSet
	// (A kept set would not see the list change: nodes keep nothing off.)
	s.store.syncOff = cfg.SyncOff
	if cfg.KeepSet && cfg.SyncOff != nil {
		panic("syncer: KeepSet and SyncOff together")
	}
	s.frameRate, s.frameBurst = cfg.FrameRate, cfg.FrameBurst
	s.machine = objsync.New(self, s.store, cfg.Sync, func() (salt [reconcile.SaltSize]byte) {
		rand.Read(salt[:])
		return salt
	})
	return s
}

// Close stops the service: every connection is closed, and Close returns
// once the loop and every reader and writer have ended. What peers said
// they hold is persisted first.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// keepalive is how many ticks pass between the frames each side sends a
// quiet connection (with a 1 s tick, 2 s: a peer that vanished, or a
// connection that stopped passing anything, is noticed within 6 s).
func (s *Service) keepalive() int { return min(2, s.every) }

// stallAfter is how long a connection may complete no frame before it is
// dropped: three keepalive periods.
func (s *Service) stallAfter() time.Duration { return 3 * time.Duration(s.keepalive()) * s.tick }

// run drives the machine until the context ends, then closes every
// connection.
func (s *Service) run() {
	t := s.clock.NewTicker(s.tick)
	defer t.Stop()
	defer s.flush.Stop()
	if s.author != nil {
		s.store.within(func() { s.pollLocal(false) })
	}
	for {
		select {
		case f := <-s.events:
			if s.store.keepSet {
				// Only this service stores changes (a node's), and what it
				// stores reaches the loop as a commit, not as an event:
				// the queued events share one read transaction (within
				// inside within runs in the one open).
				s.store.within(func() {
					f()
					s.drain(s.store.within)
				})
				break
			}
			// Each event reads the store in one transaction of its own: a
			// later event may be about a change committed since (a poke).
			s.store.within(f)
			s.drain(s.store.within)
		case <-s.flush.C():
			s.flushAt = time.Time{}
			s.process(true)
			continue
		case c := <-s.committed:
			s.commitDone(c)
		case <-t.C():
			s.onTick()
		case <-s.ctx.Done():
			// Store what was received, and what peers said.
			s.awaitCommit()
			s.process(true)
			s.awaitCommit()
			s.persistHeld()
			s.checkAcks()
			for _, c := range s.sortedConns() {
				s.drop(c)
			}
			return
		}
		s.process(false)
	}
}

// drain handles, with run, what else is queued before acting, so that the
// changes of many messages are stored in one transaction; but not so much
// that messages to send wait: a peer should get the first changes it
// asked for while the machine works out the rest.
func (s *Service) drain(run func(func())) {
	for i := 0; i < drainMax && len(s.machine.Ready().Messages) < drainMessages; i++ {
		select {
		case f := <-s.events:
			run(f)
		default:
			return
		}
	}
}

// onTick ticks the machine, polls for local changes, drops stalled
// connections, pings quiet ones, and persists what peers said they hold.
func (s *Service) onTick() {
	s.store.within(func() {
		s.check(s.machine.Tick())
		if s.author != nil {
			s.pollLocal(true)
		}
		// Objects given back to sync: offered now (a reconciliation
		// would find them too, later).
		released := s.store.released
		s.store.released = nil
		for _, obj := range released {
			s.check(s.machine.Changed(obj))
		}
	})
	s.ticks++
	now := s.clock.Now()
	for _, c := range s.sortedConns() {
		if idle := now.Sub(c.lastFrame()); idle >= s.stallAfter() {
			s.log.Warn("peer stalled; dropping the connection", "peer", shortPeer(c.peer), "idle", idle)
			if s.closePeer != nil {
				s.closePeer(c.peer)
			}
			s.drop(c)
			continue
		}
		switch {
		case s.ticks%s.every == 0:
			s.sendMembers(c)
			s.checkAcks()
			s.passAcks(c)
		case s.ticks%s.keepalive() == 0:
			s.push(c, &pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})
		}
	}
	if s.committing {
		s.heldDue = true // after the commit: it holds the write lock
		return
	}
	s.persistHeld()
	s.checkAcks()
}

// check records the outcome of a machine call that read the store: a
// storage error is reported in status (and logged once) until a read
// works again.
func (s *Service) check(err error) {
	s.mu.Lock()
	was := s.readErr
	s.readErr = s.store.failed
	if err != nil {
		s.readErr = err
	}
	s.mu.Unlock()
	if err != nil && (was == nil || was.Error() != err.Error()) {
		s.log.Error("read the store", "err", err)
	}
}

// do runs f on the loop goroutine (not at all once the service stopped).
func (s *Service) do(f func()) {
	select {
	case s.events <- f:
	case <-s.done:
	}
}

// ask runs f on the loop goroutine and waits for it.
func (s *Service) ask(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	select {
	case s.events <- func() { f(); close(ran) }:
	case <-s.done:
		return context.Canceled
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ran:
		return nil
	case <-s.done:
		return context.Canceled
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Changed offers an object's new local changes at once.
func (s *Service) Changed(obj change.ID) {
	s.do(func() { s.check(s.machine.Changed(obj)) })
}

// Object reports what each connected peer holds of obj (see
// objsync.Machine.Object); it asks the loop goroutine.
func (s *Service) Object(ctx context.Context, obj change.ID) ([]objsync.PeerObject, error) {
	var out []objsync.PeerObject
	var err error
	if aerr := s.ask(ctx, func() {
		out, err = s.machine.Object(obj)
		s.check(err)
	}); aerr != nil {
		return nil, aerr
	}
	if err != nil {
		return nil, fmt.Errorf("storage error: %w", err)
	}
	return out, nil
}

// Poke looks for local changes written by other processes now, and sends
// every connected peer the membership log if it grew since the last poke
// (a rename by the CLI reaches them at once, not at the next exchange).
func (s *Service) Poke() {
	s.do(func() {
		if s.author != nil {
			s.pollLocal(true)
		}
		s.sendNewMembers()
	})
}

// Drop closes the connection to a peer, if any (a node no longer
// configured, say).
func (s *Service) Drop(p objsync.PeerID) {
	s.do(func() {
		if c := s.conns[p]; c != nil {
			s.drop(c)
		}
	})
}

// StoreError is why the store failed the last time: storing received
// changes (a full disk, say), or reading it; nil while both work.
func (s *Service) StoreError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.receiveErr != nil {
		return s.receiveErr
	}
	return s.readErr
}

// Peers lists the connected peers and since when.
func (s *Service) Peers() map[objsync.PeerID]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.peers)
}

// LastFrames reports, for each connected peer, when its connection last
// completed a frame: the last time anything came from it.
func (s *Service) LastFrames(ctx context.Context) (map[objsync.PeerID]time.Time, error) {
	out := map[objsync.PeerID]time.Time{}
	err := s.ask(ctx, func() {
		for p, c := range s.conns {
			out[p] = c.lastFrame()
		}
	})
	return out, err
}

// Reconciled reports whether a reconciliation with a peer has completed
// since the service started (on any of its connections).
func (s *Service) Reconciled(p objsync.PeerID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconciled[p]
}

// pollLocal offers the objects with local changes stored since the last
// poll. (Changes received from peers have other authors; the machine
// relays those itself.)
func (s *Service) pollLocal(offer bool) {
	// Through the machine's view: what the machine then reads of these
	// objects is of the same moment.
	var objs []change.ID
	var polled int64
	if err := s.store.view(func(tx store.Tx) (err error) {
		if !offer {
			// Only where the poll starts: what is stored already is
			// offered by reconciliation. Listing it was a scan of every
			// change at each start (1.2 s at 2,000,000).
			polled, err = tx.LastSeq()
			return err
		}
		objs, polled, err = tx.ChangedBy(s.author, s.polled)
		return err
	}); err != nil {
		s.check(fmt.Errorf("look for local changes: %w", err))
		return
	}
	if offer {
		for _, obj := range objs {
			if err := s.machine.Changed(obj); err != nil {
				// Not polled past what could not be offered: the next
				// poll offers these again (what went out is not repeated).
				s.check(err)
				return
			}
		}
	}
	s.polled = polled
	s.check(nil)
}

func shortPeer(p objsync.PeerID) string {
	s := string(p)
	if len(s) > 12 {
		return s[len(s)-8:]
	}
	return s
}
