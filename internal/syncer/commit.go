package syncer

import (
	"context"
	"slices"
	"time"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/store"
)

// drainMax bounds the queued events handled before acting on them, and
// drainMessages the messages to send that they may produce.
const (
	drainMax      = 256
	drainMessages = 64
)

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
	for s.machine.HasReady() || flush && len(s.pending) > 0 {
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
		if s.storeNow(flush) {
			s.storePending()
		}
		flush = false
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
// sure a timer will.
func (s *Service) storeNow(flush bool) bool {
	if len(s.pending) == 0 {
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

// storePending stores the pending changes in one transaction and reports
// each message's outcomes to the machine.
func (s *Service) storePending() {
	in := s.pending
	s.pending = nil
	s.flushAt = time.Time{}
	s.flush.Stop()
	all := make([]admit.Incoming, len(in))
	for i, p := range in {
		all[i] = p.Incoming
	}
	// Not cancelled with the service either: what is pending when it
	// closes is still stored, not lost.
	stored, errs, err := s.receive(context.WithoutCancel(s.ctx), all)
	s.lastStore, s.lastStored = s.clock.Now(), len(all)
	s.mu.Lock()
	s.receiveErr = err
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
			s.check(s.machine.Applied(in[lo].from, in[lo].obj, outs[lo:hi]))
			lo = hi
		}
	})
}
