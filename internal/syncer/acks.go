package syncer

import (
	"crypto/ed25519"
	"fmt"
	"runtime"
	"sync"

	"mycel/internal/change"
	"mycel/internal/nodeack"
	"mycel/internal/objsync"
	"mycel/internal/pb"
)

// Acks: a backup node signs every Heads message it sends (its word of
// which heads it durably holds) with its key, for the vault
// (AckSigner, set in Config by a node); a device checks each word of a
// node and keeps the latest (Config.Acks), and devices pass the words
// they hold to each other (Config.AcksFor, and the NodeAcks frame). See
// internal/nodeack.

// AckSigner is a node's key and the vault it serves.
type AckSigner struct {
	Key   ed25519.PrivateKey
	Vault []byte
	// Removal, when set, gives the last signed request by which a device
	// had the node remove an object (nil if none ever did), whether it is
	// removed now, and a count of the requests carried out for it.
	// Carried with the object's Heads, the request is why the node
	// dropped what it had confirmed. A Heads names no heads while the
	// object is removed, nor if a request was carried out since the
	// machine found them (queued before a removal and a restore, it
	// would confirm what the node no longer holds).
	Removal func(change.ID) (proof *pb.RemoveObject, removed bool, gen uint64)
}

// removalGen is the count of removal requests carried out for a Heads'
// object when it is queued (0 without a Removal).
func (s *Service) removalGen(msg objsync.Message) uint64 {
	if s.signer == nil || s.signer.Removal == nil || msg.Kind != objsync.Heads {
		return 0
	}
	_, _, gen := s.signer.Removal(change.ID(msg.Object))
	return gen
}

// Ack is a node's signed word as the service received it: from a node
// itself (Via empty), or passed on by another device (Via).
type Ack struct {
	Node objsync.PeerID
	Via  objsync.PeerID
	nodeack.Ack
	// Removal: a member's signed request the node removed the object by
	// (Verify checks it): carried by the node's words from that removal
	// on, and by a word passed on whose device took it as the reason the
	// node dropped what it had confirmed.
	Removal *pb.RemoveObject
}

// AckHooks is what a device does with nodes' words.
type AckHooks struct {
	// Verify is called by a connection's reader with every Heads message
	// (and signed Changes, and every word passed on), before it is
	// stepped: keep says whether to hand it to Check; an error drops the
	// connection (a node's word it did not sign, say). It must be safe
	// for concurrent use.
	Verify func(a Ack) (keep bool, err error)
	// Check is given the words kept since its last call (perhaps none:
	// it may judge again what it could not before), once a tick and
	// after what came with them was stored, on the loop goroutine, in
	// the order they came: so the store holds the changes a
	// node's Changes named.
	Check func([]Ack)
	// For gives the words to pass on to a peer, on connect and at every
	// membership exchange (nil: none); called on the loop goroutine.
	For func(peer objsync.PeerID) []Ack
}

// MaxPassed bounds the words one NodeAcks frame carries, and those a
// service keeps between two Checks.
const MaxPassed = 4096

// signAck signs a Heads message this node sends: its acknowledgement.
// Its Changes, which also name its heads, go unsigned: with ten devices
// a vault, each change stored is relayed nine times and acknowledged
// once, so signing them would cost ten signatures a change instead of
// one (23 µs each, against ~0.85 ms of the node's CPU a change).
func (s *Service) signAck(m *pb.SyncMessage, msg objsync.Message, queuedGen uint64) {
	if s.signer == nil || msg.Kind != objsync.Heads {
		return
	}
	if s.signer.Removal != nil {
		var removed bool
		var gen uint64
		m.Removal, removed, gen = s.signer.Removal(change.ID(msg.Object))
		if removed || gen != queuedGen {
			// Heads the machine found before the object was removed,
			// written after: the node's word is what it holds now
			// (a device takes the removal as the reason once, so a
			// word of the old heads after it would read as a lie).
			m.Heads, msg.Heads = nil, nil
		}
	}
	t := s.ackTime()
	m.AckTimeMs = t
	heads := make([]change.ID, len(msg.Heads))
	for i, h := range msg.Heads {
		heads[i] = change.ID(h)
	}
	m.AckSignature = nodeack.Sign(s.signer.Key, s.signer.Vault, change.ID(msg.Object), heads, t)
}

// ackTime is the time of a node's next word: the clock's, never before
// the last one's (a word is never older than one sent before it).
func (s *Service) ackTime() int64 {
	now := s.clock.Now().UnixMilli()
	for {
		last := s.lastAck.Load()
		t := max(now, last)
		if s.lastAck.CompareAndSwap(last, t) {
			return t
		}
	}
}

// acksOf makes Acks of a passed-on frame.
func acksOf(via objsync.PeerID, f *pb.NodeAcks) ([]Ack, error) {
	if len(f.Acks) > MaxPassed {
		return nil, fmt.Errorf("%d acknowledgements in one frame", len(f.Acks))
	}
	out := make([]Ack, 0, len(f.Acks))
	for _, a := range f.Acks {
		obj, err := id32(a.Object)
		if err != nil {
			return nil, fmt.Errorf("acknowledgement: object: %w", err)
		}
		x := Ack{Node: objsync.PeerID(a.Node), Via: via, Ack: nodeack.Ack{Object: change.ID(obj), Time: a.TimeMs, Sig: a.Signature}, Removal: a.Removal}
		for _, h := range a.Heads {
			id, err := id32(h)
			if err != nil {
				return nil, fmt.Errorf("acknowledgement: head: %w", err)
			}
			x.Heads = append(x.Heads, change.ID(id))
		}
		out = append(out, x)
	}
	return out, nil
}

// passAcks sends c the words its device passes on.
func (s *Service) passAcks(c *conn) {
	if s.acks.For == nil {
		return
	}
	as := s.acks.For(c.peer)
	if len(as) == 0 {
		return
	}
	f := &pb.NodeAcks{}
	for _, a := range as[:min(len(as), MaxPassed)] {
		na := &pb.NodeAck{Node: []byte(a.Node), Object: a.Object[:], TimeMs: a.Time, Signature: a.Sig, Removal: a.Removal}
		for _, h := range a.Heads {
			na.Heads = append(na.Heads, h[:])
		}
		f.Acks = append(f.Acks, na)
	}
	s.push(c, &pb.Frame{Body: &pb.Frame_NodeAcks{NodeAcks: f}})
}

// maxDue bounds the words kept between two Checks; at the bound, they
// are checked at once.
const maxDue = 4 * MaxPassed

// keepAcks keeps words a reader verified, for the next Check (loop), in
// the order they came, whoever sent them: a lie is a word that does not
// hold an earlier one, so the words in between matter (a node that shows
// an old state and takes the changes again within a tick), and a word
// passed on by a device must be judged against the node's words as they
// were when it came.
func (s *Service) keepAcks(as []Ack) {
	for _, a := range as {
		if len(s.acksDue) >= maxDue {
			s.checkAcks()
		}
		s.acksDue = append(s.acksDue, a)
	}
}

// checkAcks hands the kept words to Check (loop).
func (s *Service) checkAcks() {
	if s.acks.Check == nil {
		return
	}
	as := s.acksDue
	s.acksDue = nil
	s.acks.Check(as)
}

// ackOf is the node's word a Heads or signed Changes message carries,
// for the device's Verify (reader).
func (s *Service) ackOf(peer objsync.PeerID, m *pb.SyncMessage, msg objsync.Message) (Ack, bool) {
	if s.acks.Verify == nil || msg.Kind != objsync.Heads && (msg.Kind != objsync.Changes || len(m.AckSignature) == 0) {
		return Ack{}, false // a node signs its Heads (a Changes it may)
	}
	a := Ack{Node: peer, Ack: nodeack.Ack{Object: change.ID(msg.Object), Time: m.AckTimeMs, Sig: m.AckSignature}, Removal: m.Removal}
	for _, h := range msg.Heads {
		a.Heads = append(a.Heads, change.ID(h))
	}
	return a, true
}

// verifyAcks has the device's Verify look at the words of a group of
// messages, on every core (54 µs a signature: a first sync of 100,000
// objects brings as many Heads), and returns those it keeps, in order.
func (s *Service) verifyAcks(as []Ack) ([]Ack, error) {
	if len(as) == 0 {
		return nil, nil
	}
	keep := make([]bool, len(as))
	errs := make([]error, len(as))
	workers := min(runtime.GOMAXPROCS(0), len(as))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(as); i += workers {
				keep[i], errs[i] = s.acks.Verify(as[i])
			}
		})
	}
	wg.Wait()
	out := as[:0]
	for i, a := range as {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if keep[i] {
			out = append(out, a)
		}
	}
	return out, nil
}

// verifyPassed has the device's Verify look at words a peer passed on
// (reader): those it keeps.
func (s *Service) verifyPassed(via objsync.PeerID, f *pb.NodeAcks) ([]Ack, error) {
	if s.acks.Verify == nil {
		return nil, nil
	}
	as, err := acksOf(via, f)
	if err != nil {
		return nil, err
	}
	out := as[:0]
	for _, a := range as {
		keep, err := s.acks.Verify(a)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, a)
		}
	}
	return out, nil
}
