package syncer

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/store"
)

// drainMax bounds the queued events handled before acting on them, and
// drainMessages the messages to send that they may produce.
const (
	drainMax      = 256
	drainMessages = 64
)

// maxReason bounds the reason a Refused frame carries, and one kept.
const maxReason = 512

// boundedReason is a reason as a Refused frame carries it and as one
// received is kept and shown: at most maxReason bytes (cut at a
// character, "…" added), valid UTF-8 (a proto string must be: a frame
// cut inside a character would not marshal), and no control or format
// characters (a peer's reason is printed by 'mycel status': no terminal
// escapes, no text reordered by bidi overrides).
func boundedReason(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	cut := len(s) > maxReason
	if cut {
		n := maxReason
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r):
			return ' '
		case unicode.Is(unicode.Cf, r):
			return -1 // bidi overrides, zero-width characters: dropped
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return s
}

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

// process carries out the machine's Ready: send its messages, store what
// was received (now, or a little later with more: see storeNow) and report
// it. flush stores whatever is pending.
//
// The messages of a Ready never acknowledge what the same Ready received:
// acknowledgements come from Applied, which is called only once the
// Receiver has returned, and go out with a later Ready. So a node's Heads
// name only changes it has durably stored.
func (s *Service) process(flush bool) {
	for {
		if s.machine.HasReady() {
			rd := s.machine.Ready()
			s.machine.Advance()
			for _, in := range rd.Received {
				s.pending = append(s.pending, pending{from: in.From, obj: in.Object,
					Incoming: admit.Incoming{ID: in.Change.ID, Raw: in.Change.Raw, Verified: s.verified[in.Change.ID]}})
			}
			clear(s.verified)
			for _, h := range rd.Held {
				s.held[heldKey{h.Peer, h.Object}] = h.Heads
				if s.onHeld != nil {
					s.onHeld(h)
				}
			}
			s.send(rd.Messages)
		}
		if s.storeNow(flush) {
			s.storePending() // its Applied may have made more to do
			flush = false
			continue
		}
		if !s.machine.HasReady() {
			return
		}
	}
}

// persistHeld writes what peers said they hold since the last time, in one
// transaction: at most once a tick, not once a message, since it only
// spares the next connection a round of Heads (losing it to a crash costs
// that round, nothing else).
func (s *Service) persistHeld() {
	if len(s.held) == 0 {
		return
	}
	held := s.held
	s.held = map[heldKey][32]byte{}
	// Not cancelled with the service: the last of it is written on Close.
	if err := s.db.Update(context.WithoutCancel(s.ctx), func(tx store.Tx) error {
		for k, h := range held {
			if err := tx.PutHeld(string(k.peer), change.ID(k.obj), h); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		s.log.Warn("persist what peers hold", "err", err)
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
// sure a timer (or the end of the commit under way) will.
func (s *Service) storeNow(flush bool) bool {
	if len(s.pending) == 0 || s.committing {
		// With a commit under way, what arrives meanwhile waits for it
		// and goes in the next one (see commitDone): the group grows
		// with the load while the loop goes on reading and sending.
		return false
	}
	due := s.lastStore.Add(groupWait)
	now := s.clock.Now()
	if flush || len(s.pending) >= groupMin || s.lastStored < streamMin || !now.Before(due) {
		return true
	}
	if s.flushAt.IsZero() {
		s.flushAt = due
		s.flush.Reset(due.Sub(now))
	}
	return false
}

// commit is one store of pending changes: what was handed to the
// Receiver and what it answered.
type commit struct {
	in     []pending
	all    []admit.Incoming
	stored []admit.Outcome
	errs   []error
	err    error
}

// storePending stores the pending changes in one transaction, then
// reports each message's outcomes to the machine (commitDone). With
// Config.Pipeline the transaction runs on a goroutine of its own, at most
// one at a time, and the loop goes on meanwhile; else the loop waits.
// Either way nothing is acknowledged before the Receiver returned.
func (s *Service) storePending() {
	c := &commit{in: s.pending}
	s.pending = nil
	s.flushAt = time.Time{}
	s.flush.Stop()
	c.all = make([]admit.Incoming, len(c.in))
	for i, p := range c.in {
		c.all[i] = p.Incoming
	}
	// Not cancelled with the service either: what is pending when it
	// closes is still stored, not lost.
	ctx := context.WithoutCancel(s.ctx)
	if !s.pipeline {
		c.stored, c.errs, c.err = s.receive(ctx, c.all)
		s.commitDone(c)
		return
	}
	// While changes stream in, a commit starts at most every groupWait
	// (see storeNow), counted from the start of the last one: the time
	// it took is time the next group had to gather.
	s.committing = true
	s.lastStore, s.lastStored = s.clock.Now(), len(c.all)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.stored, c.errs, c.err = s.receive(ctx, c.all)
		s.committed <- c // buffered: the loop takes it, or run's end does
	}()
}

// awaitCommit waits for the commit under way, if any, and reports it.
func (s *Service) awaitCommit() {
	if s.committing {
		s.commitDone(<-s.committed)
	}
}

// commitDone reports a finished store to the machine: its Applied calls
// make the acknowledgements (sent by the next process). Then what arrived
// during it is stored, if due.
func (s *Service) commitDone(c *commit) {
	s.committing = false
	if !s.pipeline {
		s.lastStore, s.lastStored = s.clock.Now(), len(c.all)
	}
	s.mu.Lock()
	s.receiveErr = c.err
	s.mu.Unlock()
	errs := c.errs
	var outs []objsync.Outcome
	if c.err != nil {
		// Nothing was stored; report all as refused (the next
		// reconciliation retries), but log the cause once.
		s.log.Error("store received changes", "err", c.err)
		outs = slices.Repeat([]objsync.Outcome{objsync.Rejected}, len(c.all))
		errs = nil
	} else {
		outs = outcomes(c.stored, errs)
	}
	told := map[[2]string]bool{}
	for i, e := range errs {
		if e != nil {
			s.log.Warn("change refused", "object", change.ID(c.in[i].obj).Short(), "change", c.all[i].ID.Short(), "peer", shortPeer(c.in[i].from), "err", e)
			s.tell(Activity{Kind: Refused, Peer: c.in[i].from, Object: change.ID(c.in[i].obj), Changes: 1, Reason: e.Error()})
			// The sender is told why, once per object and batch.
			k := [2]string{string(c.in[i].from), string(c.in[i].obj[:])}
			if conn := s.conns[c.in[i].from]; conn != nil && !told[k] {
				told[k] = true
				s.push(conn, &pb.Frame{Body: &pb.Frame_Refused{Refused: &pb.Refused{Object: c.in[i].obj[:], Change: c.all[i].ID[:], Reason: boundedReason(e.Error())}}})
			}
		}
	}
	if s.activity != nil && c.err == nil {
		for lo := 0; lo < len(c.in); {
			hi, n := lo, 0
			for ; hi < len(c.in) && c.in[hi].from == c.in[lo].from && c.in[hi].obj == c.in[lo].obj; hi++ {
				if c.stored[hi] == admit.Stored && errs[hi] == nil {
					n++
				}
			}
			if n > 0 {
				s.tell(Activity{Kind: Received, Peer: c.in[lo].from, Object: change.ID(c.in[lo].obj), Changes: n})
			}
			lo = hi
		}
	}
	// Reported per message: a run of changes of one object from one peer.
	// The machine relays what was stored to the other peers at once: its
	// bytes are at hand.
	in := c.in
	if c.err == nil {
		s.store.stored = make(map[objsync.ID][]byte, len(c.all))
		for i, p := range c.all {
			if outs[i] == objsync.Stored {
				s.store.stored[p.ID] = p.Raw
			}
		}
	}
	defer func() { s.store.stored = nil }()
	s.store.within(func() {
		for lo := 0; lo < len(in); {
			hi := lo + 1
			for hi < len(in) && in[hi].from == in[lo].from && in[hi].obj == in[lo].obj {
				hi++
			}
			s.check(s.machine.Applied(in[lo].from, in[lo].obj, outs[lo:hi]))
			lo = hi
		}
	})
	if s.pipeline && s.heldDue {
		s.heldDue = false
		s.persistHeld()
		s.checkAcks()
	}
}
