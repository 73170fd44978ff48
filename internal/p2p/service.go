package p2p

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"google.golang.org/protobuf/proto"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/keys"
	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/reconcile"
	"mycel/internal/store"
)

// Receiver verifies and stores received changes in one transaction: the
// device engine (which decrypts and applies them) or a node vault (which
// cannot). errs[i] says why change i was refused; err is a storage error,
// and then nothing was stored. The service has already parsed and verified
// what it could (see admit.Verify).
type Receiver func(ctx context.Context, changes []admit.Incoming) (outs []admit.Outcome, errs []error, err error)

// outcomes maps a store's per-change results to the machine's.
func outcomes(outs []admit.Outcome, errs []error) []objsync.Outcome {
	out := make([]objsync.Outcome, len(errs))
	for i, err := range errs {
		switch {
		case err != nil:
			out[i] = objsync.Rejected
		case outs[i] == admit.Waiting:
			out[i] = objsync.Waiting
		default:
			out[i] = objsync.Stored
		}
	}
	return out
}

// Service syncs one vault with the peers attached to it. One goroutine runs
// the objsync machine; each connection has a reader and a writer.
type Service struct {
	Vault     keys.VaultID
	self      objsync.PeerID
	db        store.Store
	store     *storeView // what the machine reads
	machine   *objsync.Machine
	receive   Receiver
	members   Members
	every     int // ticks between membership exchanges
	ticks     int
	log       *slog.Logger
	tick      time.Duration
	author    []byte // watch the store for changes by this author (a device's own)
	closePeer func(objsync.PeerID)
	events    chan func()
	conns     map[objsync.PeerID]*conn // loop goroutine only
	polled    int64                    // arrival number of the last change seen by pollLocal
	// verified holds the changes of the messages stepped since the last
	// process, parsed and verified by the connections' readers.
	verified map[objsync.ID]change.Verified
	// Received changes waiting to be stored (see storeNow).
	pending    []pending
	lastStore  time.Time // when pending changes were last stored
	lastStored int       // how many
	flush      *time.Timer
	flushAt    time.Time // when flush fires (zero: not armed)

	mu       sync.Mutex
	peers    map[objsync.PeerID]time.Time // connected, since
	storeErr error                        // of the last store of received changes (nil: it worked)
}

type conn struct {
	peer   objsync.PeerID
	stream network.Stream
	closed chan struct{} // closed when the connection is dropped

	// The send queue is bounded by bytes, not frames: a burst of small
	// messages (heads for thousands of objects after a reconciliation) is
	// normal; a peer that leaves maxQueued bytes unread is too slow.
	mu     sync.Mutex
	queue  []*pb.Frame
	queued int
	wake   chan struct{}
	done   bool
}

// maxQueued bounds the bytes waiting to be written to one peer.
const maxQueued = 256 << 20

// push queues a frame; false means the peer is too slow (or gone).
func (c *conn) push(f *pb.Frame) bool {
	n := proto.Size(f)
	c.mu.Lock()
	if c.done || c.queued+n > maxQueued {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, f)
	c.queued += n
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// pop takes what is queued, waiting for something; nil when closed.
func (c *conn) pop() []*pb.Frame {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 || c.done {
			q := c.queue
			c.queue, c.queued = nil, 0
			c.mu.Unlock()
			return q
		}
		c.mu.Unlock()
		<-c.wake
	}
}

func (c *conn) close() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	Sync objsync.Config
	Tick time.Duration // one machine tick; reconciliation every Sync.ReconcileEvery ticks
	// LocalAuthor, when set, makes the service look at every tick for
	// changes by this author (the device itself) that other processes (the
	// CLI) wrote to the store, and offer them.
	LocalAuthor []byte
	Log         *slog.Logger
	// ClosePeer closes every transport connection to a peer whose sync
	// connection stalled (nil: only the one under it).
	ClosePeer func(objsync.PeerID)
}

// Members is how a service reads and extends its vault's membership log;
// records are exchanged with every peer on connect and every
// reconciliation period.
type Members struct {
	Get func(ctx context.Context) ([][]byte, error)
	Add func(ctx context.Context, records [][]byte) error
}

// NewService prepares a service; Run runs it.
func NewService(self objsync.PeerID, vault keys.VaultID, db store.Store, receive Receiver, members Members, cfg ServiceConfig) *Service {
	s := &Service{Vault: vault, self: self, db: db, receive: receive, members: members, every: max(cfg.Sync.ReconcileEvery, 1),
		log: cfg.Log, tick: cfg.Tick, author: cfg.LocalAuthor, closePeer: cfg.ClosePeer,
		events: make(chan func(), 256), conns: map[objsync.PeerID]*conn{}, peers: map[objsync.PeerID]time.Time{},
		verified: map[objsync.ID]change.Verified{}, flush: time.NewTimer(time.Hour)}
	s.flush.Stop()
	if s.log == nil {
		s.log = slog.Default()
	}
	s.store = newStoreView(db)
	s.machine = objsync.New(self, s.store, cfg.Sync, func() (salt [reconcile.SaltSize]byte) {
		rand.Read(salt[:])
		return salt
	})
	return s
}

// keepalive is how many ticks pass between the frames each side sends a
// quiet connection (with a 1 s tick, 2 s: a peer that vanished, or a
// connection that stopped passing anything, is noticed within 6 s).
func (s *Service) keepalive() int { return min(2, s.every) }

// Run drives the machine until ctx ends, then closes every connection.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	if s.author != nil {
		s.pollLocal(false)
	}
	for {
		select {
		case f := <-s.events:
			// Each event reads the store in one transaction of its own: a
			// later event may be about a change committed since (a poke).
			s.store.within(f)
			// Take what else is queued before acting, so that the changes
			// of many messages are stored in one transaction; but not so
			// much that messages to send wait: a peer should get the first
			// changes it asked for while the machine works out the rest.
		drain:
			for i := 0; i < drainMax && len(s.machine.Ready().Messages) < drainMessages; i++ {
				select {
				case f := <-s.events:
					s.store.within(f)
				default:
					break drain
				}
			}
		case <-s.flush.C:
			s.flushAt = time.Time{}
			s.process(ctx, true)
			continue
		case <-t.C:
			s.store.within(func() {
				s.machine.Tick()
				if s.author != nil {
					s.pollLocal(true)
				}
			})
			s.ticks++
			for _, c := range s.conns {
				switch {
				case s.ticks%s.every == 0:
					s.sendMembers(ctx, c)
				case s.ticks%s.keepalive() == 0:
					c.push(&pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})
				}
			}
		case <-ctx.Done():
			for _, c := range s.conns {
				s.drop(c)
			}
			return
		}
		s.process(ctx, false)
	}
}

// do runs f on the loop goroutine.
func (s *Service) do(f func()) { s.events <- f }

// Changed offers an object's new local changes at once.
func (s *Service) Changed(obj change.ID) {
	s.do(func() { s.machine.Changed(obj) })
}

// Object reports what each connected peer holds of obj (see
// objsync.Machine.Object); it asks the loop goroutine.
func (s *Service) Object(ctx context.Context, obj change.ID) ([]objsync.PeerObject, error) {
	reply := make(chan []objsync.PeerObject, 1)
	select {
	case s.events <- func() { reply <- s.machine.Object(obj) }:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Poke looks for local changes written by other processes now.
func (s *Service) Poke() {
	s.do(func() {
		if s.author != nil {
			s.pollLocal(true)
		}
	})
}

// StoreError is why storing received changes failed the last time it was
// tried (a full disk, say); nil when it worked.
func (s *Service) StoreError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.storeErr
}

// Peers lists the connected peers and since when.
func (s *Service) Peers() map[objsync.PeerID]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[objsync.PeerID]time.Time, len(s.peers))
	for k, v := range s.peers {
		out[k] = v
	}
	return out
}

// pollLocal offers the objects with local changes stored since the last
// poll. (Changes received from peers have other authors; the machine
// relays those itself.)
func (s *Service) pollLocal(offer bool) {
	// Through the machine's view: what the machine then reads of these
	// objects is of the same moment.
	var objs []change.ID
	if err := s.store.view(func(tx store.Tx) (err error) {
		objs, s.polled, err = tx.ChangedBy(s.author, s.polled)
		return err
	}); err != nil {
		s.log.Error("look for local changes", "err", err)
		return
	}
	if offer {
		for _, obj := range objs {
			s.machine.Changed(obj)
		}
	}
}

// drainMax bounds the queued events handled before acting on them, and
// drainMessages the messages to send that they may produce.
const (
	drainMax      = 256
	drainMessages = 64
)

// process carries out the machine's Ready: send its messages, store what
// was received (now, or a little later with more: see storeNow) and report
// it. flush stores whatever is pending.
func (s *Service) process(ctx context.Context, flush bool) {
	for s.machine.HasReady() || flush && len(s.pending) > 0 {
		rd := s.machine.Ready()
		s.machine.Advance()
		for _, in := range rd.Received {
			s.pending = append(s.pending, pending{from: in.From, obj: in.Object,
				Incoming: admit.Incoming{ID: in.Change.ID, Raw: in.Change.Raw, Verified: s.verified[in.Change.ID]}})
		}
		clear(s.verified)
		s.send(rd.Messages)
		if s.storeNow(flush) {
			s.storePending(ctx)
		}
		flush = false
	}
}

// pending is a received change waiting to be stored.
type pending struct {
	from objsync.PeerID
	obj  objsync.ID
	admit.Incoming
}

// Group commit: while changes stream in (the last store was of at least
// streamMin changes, less than groupWait ago), stores wait for groupMin
// changes or groupWait, whichever comes first: each commit rewrites the
// index pages its changes touch, and a few large commits touch far fewer
// pages than many small ones. A lone change (a push) is stored at once.
const (
	streamMin = 64
	groupMin  = 2048
	groupWait = 40 * time.Millisecond
)

// storeNow says whether to store the pending changes now; if not, it makes
// sure a timer will.
func (s *Service) storeNow(flush bool) bool {
	if len(s.pending) == 0 {
		return false
	}
	due := s.lastStore.Add(groupWait)
	if flush || len(s.pending) >= groupMin || s.lastStored < streamMin || !time.Now().Before(due) {
		return true
	}
	if s.flushAt.IsZero() {
		s.flushAt = due
		s.flush.Reset(time.Until(due))
	}
	return false
}

// storePending stores the pending changes in one transaction and reports
// each message's outcomes to the machine.
func (s *Service) storePending(ctx context.Context) {
	in := s.pending
	s.pending = nil
	s.flushAt = time.Time{}
	all := make([]admit.Incoming, len(in))
	for i, p := range in {
		all[i] = p.Incoming
	}
	stored, errs, err := s.receive(ctx, all)
	s.lastStore, s.lastStored = time.Now(), len(all)
	s.mu.Lock()
	s.storeErr = err
	s.mu.Unlock()
	var outs []objsync.Outcome
	if err != nil {
		// Nothing was stored; report all as refused (the next
		// reconciliation retries), but log the cause once.
		s.log.Error("store received changes", "err", err)
		outs = slices.Repeat([]objsync.Outcome{objsync.Rejected}, len(all))
		errs = nil
	} else {
		outs = outcomes(stored, errs)
	}
	for i, e := range errs {
		if e != nil {
			s.log.Warn("change refused", "object", change.ID(in[i].obj).Short(), "change", all[i].ID.Short(), "peer", shortPeer(in[i].from), "err", e)
		}
	}
	// Reported per message: a run of changes of one object from one peer.
	s.store.within(func() {
		for lo := 0; lo < len(in); {
			hi := lo + 1
			for hi < len(in) && in[hi].from == in[lo].from && in[hi].obj == in[lo].obj {
				hi++
			}
			s.machine.Applied(in[lo].from, in[lo].obj, outs[lo:hi])
			lo = hi
		}
	})
}

// send queues messages to their peers.
func (s *Service) send(msgs []objsync.Envelope) {
	for _, e := range msgs {
		c := s.conns[e.To]
		if c == nil {
			continue
		}
		if !c.push(toWire(e.Msg)) {
			s.log.Warn("peer too slow; dropping the connection", "peer", shortPeer(e.To))
			s.drop(c)
		}
	}
}

// Attach hands a connection, after its handshake, to the service. The
// returned channel is closed when the connection ends.
func (s *Service) Attach(peer objsync.PeerID, stream network.Stream, r *bufio.Reader) <-chan struct{} {
	c := &conn{peer: peer, stream: stream, closed: make(chan struct{}), wake: make(chan struct{}, 1)}
	s.do(func() {
		if old := s.conns[peer]; old != nil {
			if s.keepsOld(old, c) {
				close(c.closed)
				stream.Reset()
				return
			}
			s.drop(old)
		}
		s.conns[peer] = c
		s.mu.Lock()
		s.peers[peer] = time.Now()
		s.mu.Unlock()
		s.machine.Connected(peer)
		go s.write(c)
		go s.read(c, r)
		s.sendMembers(context.Background(), c)
	})
	return c.closed
}

// keepsOld decides between two connections to one peer. Two devices that
// dial each other at once must keep the same one, or each would drop the
// one the other kept: that dialed by the lesser peer id. Otherwise the new
// one replaces the old (the peer reconnected).
func (s *Service) keepsOld(old, c *conn) bool {
	dialer := func(c *conn) objsync.PeerID {
		if c.stream.Conn().Stat().Direction == network.DirOutbound {
			return s.self
		}
		return c.peer
	}
	a, b := dialer(old), dialer(c)
	return a != b && a < b
}

func (s *Service) drop(c *conn) {
	if s.conns[c.peer] != c {
		return
	}
	delete(s.conns, c.peer)
	s.mu.Lock()
	delete(s.peers, c.peer)
	s.mu.Unlock()
	c.close()
	close(c.closed)
	c.stream.Reset()
	s.machine.Disconnected(c.peer)
}

func (s *Service) read(c *conn, r *bufio.Reader) {
	// Both sides send at least one frame per keepalive period (a ping, or
	// the membership exchange), so a peer that completes none in three is
	// gone or stalled, mid-frame or not: drop it (a device then redials).
	idle := 3 * time.Duration(s.keepalive()) * s.tick
	var msgs []objsync.Message
	for {
		c.stream.SetReadDeadline(time.Now().Add(idle))
		f, err := readFrame(r)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.log.Warn("peer stalled; dropping the connection", "peer", shortPeer(c.peer), "idle", idle)
				// The transport connections under it pass nothing either
				// (a link that went down and up can leave them so): close
				// them, so that the next dial makes a fresh one.
				if s.closePeer != nil {
					s.closePeer(c.peer)
				} else {
					c.stream.Conn().Close()
				}
			}
			s.do(func() { s.drop(c) })
			return
		}
		switch {
		case f.GetPing() != nil: // it is alive; nothing else to do
		case f.GetMembers() != nil:
			if err := s.members.Add(context.Background(), f.GetMembers().Records); err != nil {
				s.log.Warn("membership records refused", "peer", shortPeer(c.peer), "err", err)
			}
		case f.GetSync() == nil:
			s.log.Warn("unexpected frame; dropping the connection", "peer", shortPeer(c.peer))
			s.do(func() { s.drop(c) })
			return
		default:
			msg, err := fromWire(f.GetSync())
			if err != nil {
				s.log.Warn("bad message; dropping the connection", "peer", shortPeer(c.peer), "err", err)
				s.do(func() { s.drop(c) })
				return
			}
			msgs = append(msgs, msg)
		}
		// Messages that arrived together go to the loop together: their
		// signatures are checked in one go and their changes stored in
		// one transaction.
		if len(msgs) == 0 || len(msgs) < maxGroup && frameBuffered(r) {
			continue
		}
		s.step(c, msgs)
		msgs = nil
	}
}

// maxGroup bounds the messages a reader hands to the loop at once.
const maxGroup = 64

// step verifies the changes of messages from c and has the loop step the
// machine with them.
func (s *Service) step(c *conn, msgs []objsync.Message) {
	var cs []objsync.Change
	for _, m := range msgs {
		cs = append(cs, m.Changes...)
	}
	verified := verify(cs)
	s.do(func() {
		if s.conns[c.peer] != c {
			return
		}
		for _, v := range verified {
			s.verified[v.Change().ID] = v
		}
		for _, m := range msgs {
			if err := s.machine.Step(c.peer, m); err != nil {
				s.log.Warn("protocol error; dropping the connection", "peer", shortPeer(c.peer), "err", err)
				s.drop(c)
				return
			}
		}
	})
}

// verify parses and verifies a message's changes (see admit.Verify) in
// the reader, so that this work overlaps with the loop storing earlier
// messages; it returns those that passed.
func verify(cs []objsync.Change) []change.Verified {
	if len(cs) == 0 {
		return nil
	}
	in := make([]admit.Incoming, len(cs))
	for i, c := range cs {
		in[i] = admit.Incoming{ID: c.ID, Raw: c.Raw}
	}
	admit.Verify(in)
	out := make([]change.Verified, 0, len(in))
	for _, c := range in {
		if c.Verified.Change() != nil {
			out = append(out, c.Verified)
		}
	}
	return out
}

func (s *Service) sendMembers(ctx context.Context, c *conn) {
	recs, err := s.members.Get(ctx)
	if err != nil {
		s.log.Error("read membership", "err", err)
		return
	}
	c.push(&pb.Frame{Body: &pb.Frame_Members{Members: &pb.Members{Records: recs}}})
}

func (s *Service) write(c *conn) {
	w := bufio.NewWriterSize(c.stream, 64<<10)
	for {
		q := c.pop()
		if len(q) == 0 {
			return // closed
		}
		for _, f := range q {
			if err := writeFrame(w, f); err != nil {
				c.stream.Reset()
				return
			}
		}
		if err := w.Flush(); err != nil {
			c.stream.Reset()
			return
		}
	}
}

func shortPeer(p objsync.PeerID) string {
	s := string(p)
	if len(s) > 12 {
		return s[len(s)-8:]
	}
	return s
}

// errRefused marks a handshake the other side refused.
var errRefused = errors.New("refused")
