package syncer

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/pb"
)

// conn is a peer's connection as the service runs it.
type conn struct {
	peer   objsync.PeerID
	c      Conn
	closed chan struct{} // closed when the connection is dropped
	last   atomic.Int64  // when the reader last completed a frame (clock, Unix ns)

	// The send queue is bounded by bytes, not frames: a burst of small
	// messages (heads for thousands of objects after a reconciliation) is
	// normal; a peer that leaves maxQueued bytes unread is too slow.
	mu     sync.Mutex
	queue  []outgoing
	queued int
	wake   chan struct{}
	done   bool
}

func (c *conn) lastFrame() time.Time { return time.Unix(0, c.last.Load()) }

// outgoing is a frame queued for a peer: a sync message other than a
// reconciliation's is queued as the machine made it and made a frame of
// by the writer, since a frame takes twice the memory, and after a
// reconciliation thousands of heads may be queued at once.
type outgoing struct {
	f   *pb.Frame // or
	msg objsync.Message
	gen uint64 // of a node's Heads: see AckSigner.Removal
}

func (o outgoing) frame() *pb.Frame {
	if o.f != nil {
		return o.f
	}
	return toWire(o.msg)
}

// size is the frame's size in bytes, or at most that for a message.
func (o outgoing) size() int {
	if o.f != nil {
		return proto.Size(o.f)
	}
	n := 80 + 34*len(o.msg.Heads)
	for _, c := range o.msg.Changes {
		n += 45 + len(c.Raw)
	}
	return n
}

// push queues a frame; false means the peer is too slow (or gone).
func (c *conn) push(o outgoing, limit int) bool {
	n := o.size()
	c.mu.Lock()
	if c.done || c.queued+n > limit {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, o)
	c.queued += n
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// pop takes what is queued, waiting for something; nil when closed.
func (c *conn) pop() []outgoing {
	for {
		c.mu.Lock()
		if c.done {
			c.mu.Unlock()
			return nil
		}
		if len(c.queue) > 0 {
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

// push queues a frame for c, dropping a peer too slow to take it.
func (s *Service) push(c *conn, f *pb.Frame) { s.queue(c, outgoing{f: f}) }

// queue queues a frame or message for c, dropping a peer too slow to take it.
func (s *Service) queue(c *conn, o outgoing) {
	if !c.push(o, s.maxQueued) {
		if s.conns[c.peer] == c {
			s.log.Warn("peer too slow; dropping the connection", "peer", shortPeer(c.peer))
		}
		s.drop(c)
	}
}

// send queues messages to their peers.
func (s *Service) send(msgs []objsync.Envelope) {
	for _, e := range msgs {
		if c := s.conns[e.To]; c != nil {
			if e.Msg.Kind == objsync.Recon {
				s.push(c, toWire(e.Msg)) // its size is its encoding's
			} else {
				if e.Msg.Kind == objsync.Changes {
					s.tell(Activity{Kind: Sent, Peer: e.To, Object: change.ID(e.Msg.Object), Changes: len(e.Msg.Changes)})
				}
				s.queue(c, outgoing{msg: e.Msg, gen: s.removalGen(e.Msg)})
			}
		}
	}
}

func (s *Service) sortedConns() []*conn {
	out := make([]*conn, 0, len(s.conns))
	for _, p := range slices.Sorted(maps.Keys(s.conns)) {
		out = append(out, s.conns[p])
	}
	return out
}

// Attach hands a connection, after its handshake, to the service. The
// returned channel is closed when the connection ends (at once if the
// service has stopped).
func (s *Service) Attach(peer objsync.PeerID, nc Conn) <-chan struct{} {
	c := &conn{peer: peer, c: nc, closed: make(chan struct{}), wake: make(chan struct{}, 1)}
	attached := make(chan struct{})
	s.do(func() {
		// Closed once the connection is in Peers (or refused), so that a
		// caller who waited for Attach sees it there.
		defer close(attached)
		if old := s.conns[peer]; old != nil {
			if KeepsFirst(s.self, peer, old.c.Dialed(), nc.Dialed()) {
				close(c.closed)
				nc.Close()
				return
			}
			s.drop(old)
		}
		if err := s.machine.Connected(peer); err != nil {
			s.check(err)
			close(c.closed)
			nc.Close()
			return
		}
		s.check(nil)
		s.conns[peer] = c
		now := s.clock.Now()
		c.last.Store(now.UnixNano())
		s.mu.Lock()
		s.peers[peer] = now
		s.mu.Unlock()
		s.tell(Activity{Kind: Connected, Peer: peer})
		s.wg.Add(2)
		go func() { defer s.wg.Done(); s.write(c) }()
		go func() { defer s.wg.Done(); s.read(c) }()
		s.sendMembers(c)
		s.checkAcks() // what it passes on includes the latest words
		s.passAcks(c)
	})
	select {
	case <-attached:
	case <-s.done:
		select {
		case <-attached: // it ran just before the loop ended
		default: // the service has stopped: it never will
			nc.Close()
			close(c.closed)
		}
	}
	return c.closed
}

// KeepsFirst decides between two connections of self to peer, first and
// second (each dialed by self or not): whether first is kept. Two devices
// that dial each other at once must keep the same one, or each would drop
// the one the other kept: that dialed by the lesser peer id. Otherwise the
// second replaces the first (the peer reconnected). Attach decides so, and
// a handshake under way asks the same before it welcomes a connection (see
// Keeps), so that both sides settle on one before either uses it.
func KeepsFirst(self, peer objsync.PeerID, firstDialed, secondDialed bool) bool {
	dialer := func(dialed bool) objsync.PeerID {
		if dialed {
			return self
		}
		return peer
	}
	a, b := dialer(firstDialed), dialer(secondDialed)
	return a != b && a < b
}

// Keeps reports whether the connection attached to peer, if any, would be
// kept over a new one (dialed by this side or not), as Attach will decide.
// A handshake asks before it welcomes a connection: one refused then was
// never used by either side, where one Attach drops had been welcomed,
// and its dialer may not even have read the welcome when it is reset.
func (s *Service) Keeps(ctx context.Context, peer objsync.PeerID, dialed bool) bool {
	var keeps bool
	if err := s.ask(ctx, func() {
		old := s.conns[peer]
		keeps = old != nil && KeepsFirst(s.self, peer, old.c.Dialed(), dialed)
	}); err != nil {
		return false // stopped: Attach refuses it anyway
	}
	return keeps
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
	c.c.Close()
	s.machine.Disconnected(c.peer)
	s.mu.Lock()
	delete(s.refusals, c.peer) // said again, if still so, on the next connection
	s.mu.Unlock()
	s.log.Info("connection ended", "peer", shortPeer(c.peer))
	s.tell(Activity{Kind: Disconnected, Peer: c.peer})
}

// read reads frames from a peer and hands them to the loop. Both sides
// send at least one frame per keepalive period (a ping, or the membership
// exchange), so the loop drops a peer that completes none in three (see
// onTick): it is gone or stalled, mid-frame or not.
func (s *Service) read(c *conn) {
	var msgs []objsync.Message
	var acks []Ack
	budget := frameBudget{rate: float64(s.frameRate), burst: float64(s.frameBurst)}
	for {
		f, err := c.c.ReadFrame()
		if err != nil {
			s.do(func() { s.drop(c) })
			return
		}
		if d := budget.take(time.Now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
		}
		c.last.Store(s.clock.Now().UnixNano())
		switch {
		case f.GetPing() != nil: // it is alive; nothing else to do
		case f.GetMembers() != nil:
			if err := s.members.Add(s.ctx, f.GetMembers().Records); err != nil {
				s.log.Warn("membership records refused", "peer", shortPeer(c.peer), "err", err)
			}
		case f.GetRemoveObject() != nil:
			req := f.GetRemoveObject()
			s.do(func() { s.onRemove(c, req) })
		case f.GetRefused() != nil:
			r := f.GetRefused()
			if len(r.Object) == len(objsync.ID{}) {
				s.noteRefused(c.peer, objsync.ID(r.Object), boundedReason(r.Reason))
			}
		case f.GetRemoveReply() != nil:
			reply := f.GetRemoveReply()
			s.do(func() {
				if s.removed != nil && s.conns[c.peer] == c {
					s.removed(c.peer, reply)
				}
			})
		case f.GetNodeAcks() != nil:
			as, err := s.verifyPassed(c.peer, f.GetNodeAcks())
			if err != nil {
				s.log.Warn("acknowledgements refused; dropping the connection", "peer", shortPeer(c.peer), "err", err)
				s.do(func() { s.drop(c) })
				return
			}
			if len(as) > 0 {
				s.do(func() { s.keepAcks(as) })
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
			if a, ok := s.ackOf(c.peer, f.GetSync(), msg); ok {
				acks = append(acks, a)
			}
			msgs = append(msgs, msg)
		}
		// Messages that arrived together go to the loop together: their
		// signatures are checked in one go and their changes stored in
		// one transaction.
		if len(msgs) == 0 || len(msgs) < maxGroup && c.c.Buffered() {
			continue
		}
		// The words among them are verified together too, on every
		// core, before the machine takes any.
		acks, err = s.verifyAcks(acks)
		if err != nil {
			s.log.Warn("a node's acknowledgement refused; dropping the connection", "peer", shortPeer(c.peer), "err", err)
			s.do(func() { s.drop(c) })
			return
		}
		s.step(c, msgs, acks)
		msgs, acks = nil, nil
	}
}

// maxGroup bounds the messages a reader hands to the loop at once.
const maxGroup = 64

// step verifies the changes of messages from c and has the loop step the
// machine with them.
func (s *Service) step(c *conn, msgs []objsync.Message, acks []Ack) {
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
			err := s.machine.Step(c.peer, m)
			if errors.Is(err, objsync.ErrProtocol) {
				s.log.Warn("protocol error; dropping the connection", "peer", shortPeer(c.peer), "err", err)
				s.drop(c)
				return
			}
			s.check(err)
		}
		s.keepAcks(acks)
		if !s.reconciledOnce(c.peer) && s.machine.Reconciled(c.peer) {
			s.mu.Lock()
			s.reconciled[c.peer] = true
			s.mu.Unlock()
		}
	})
}

func (s *Service) reconciledOnce(p objsync.PeerID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconciled[p]
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

func (s *Service) sendMembers(c *conn) {
	recs, err := s.members.Get(s.ctx)
	if err != nil {
		s.log.Error("read membership", "err", err)
		return
	}
	s.push(c, &pb.Frame{Body: &pb.Frame_Members{Members: &pb.Members{Records: recs}}})
}

// sendNewMembers sends the membership log to every connected peer if it
// holds more records than at the last call. (Records only grow; the count
// is not updated by the exchanges on connect and every period, so a log
// that grew is sent to every peer at the next poke, whatever else sent.)
func (s *Service) sendNewMembers() {
	recs, err := s.members.Get(s.ctx)
	if err != nil {
		s.log.Error("read membership", "err", err)
		return
	}
	if len(recs) == s.membersPoked {
		return
	}
	s.membersPoked = len(recs)
	for _, c := range s.sortedConns() {
		s.push(c, &pb.Frame{Body: &pb.Frame_Members{Members: &pb.Members{Records: recs}}})
	}
}

// write writes what is queued for a peer until the connection is dropped.
func (s *Service) write(c *conn) {
	for {
		q := c.pop()
		if len(q) == 0 {
			return // closed
		}
		for _, o := range q {
			f := o.frame()
			if o.f == nil {
				s.signAck(f.GetSync(), o.msg, o.gen)
			}
			if err := c.c.WriteFrame(f); err != nil {
				c.c.Close() // the reader ends, and the loop drops it
				return
			}
		}
		if err := c.c.Flush(); err != nil {
			c.c.Close()
			return
		}
	}
}

// frameBudget is a token bucket of frames (see Config.FrameRate). It uses
// the wall clock, not the service's: it paces a real peer's bytes.
type frameBudget struct {
	rate, burst, tokens float64
	last                time.Time
}

// take spends a frame and says how long to wait before handling it.
func (b *frameBudget) take(now time.Time) time.Duration {
	if b.rate <= 0 {
		return 0
	}
	if b.last.IsZero() {
		b.tokens = max(b.burst, 1)
	} else {
		b.tokens = min(max(b.burst, 1), b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// onRemove carries out a peer's request to remove an object (a node's
// RemoveObject), forgets what the view kept of it, and answers.
func (s *Service) onRemove(c *conn, req *pb.RemoveObject) {
	if s.conns[c.peer] != c {
		return
	}
	reply := &pb.RemoveReply{Object: req.Object, Restore: req.Restore}
	if s.removeObject == nil {
		reply.Error = "this peer removes no object on request (only a backup node does)"
	} else if err := s.removeObject(s.ctx, c.peer, req); err != nil {
		reply.Error = err.Error()
		s.log.Warn("request to remove an object refused", "peer", shortPeer(c.peer), "err", err)
	} else if len(req.Object) == len(objsync.ID{}) {
		s.store.forgetObject(objsync.ID(req.Object))
		s.log.Info("object removed on request", "peer", shortPeer(c.peer), "object", change.ID(req.Object).Short(), "restore", req.Restore)
	}
	s.push(c, &pb.Frame{Body: &pb.Frame_RemoveReply{RemoveReply: reply}})
}

// SendRemove sends a request to remove an object (or restore it) to a
// connected peer (a node); its answer comes to Config.Removed. It reports
// whether the peer was connected.
func (s *Service) SendRemove(ctx context.Context, to objsync.PeerID, req *pb.RemoveObject) bool {
	sent := false
	s.ask(ctx, func() {
		if c := s.conns[to]; c != nil {
			s.push(c, &pb.Frame{Body: &pb.Frame_RemoveObject{RemoveObject: req}})
			sent = true
		}
	})
	return sent
}

// maxRefusals bounds the refusals kept per peer.
const maxRefusals = 4096

// noteRefused keeps a peer's word that it refused a change of obj.
func (s *Service) noteRefused(p objsync.PeerID, obj objsync.ID, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.refusals[p]
	if m == nil {
		m = map[objsync.ID]string{}
		s.refusals[p] = m
	}
	if _, ok := m[obj]; ok || len(m) < maxRefusals {
		m[obj] = reason
	}
}

// Refusal is why peer p said it refused a change of obj on this
// connection ("" if it did not). Until p holds our heads, the object
// does not sync with it.
func (s *Service) Refusal(p objsync.PeerID, obj change.ID) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusals[p][objsync.ID(obj)]
}
