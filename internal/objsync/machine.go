package objsync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"mycel/internal/reconcile"
)

// Machine is one peer's sync state toward all the peers it is connected to.
type Machine struct {
	self  PeerID
	store Storage
	cfg   Config
	salt  func() [reconcile.SaltSize]byte
	peers map[PeerID]*peer
	ticks int
	ready Ready
	next  uint64 // session counter
	// sessions is each peer's allowance of reconciliation sessions (see
	// Config.SessionBurst); kept across its connections.
	sessions map[PeerID]*allowance
	// withheld: the store's Withholder, or never.
	withheld func(ID) bool
}

// allowance is a token bucket counted in ticks.
type allowance struct {
	tokens int
	at     int // the tick tokens were last counted at
}

type peer struct {
	id        PeerID
	initiator bool // this side starts reconciliations with the peer
	session   uint64
	seq       uint32 // the next Recon message expected (or sent) in the session
	recon     *reconcile.Session
	reconSet  *reconcile.Set // what the session compares: our objects when it began
	// waiting is a session the peer started that waits for its turn (see
	// Config.SessionBurst); a later one replaces it.
	waiting   *Message
	lastRecon int
	// objects is what this side knows of each object at the peer: one
	// entry an object, made when the peer or this side first says
	// something of it. A node holds one for every object of a vault for
	// every device connected, so it is kept small (see peerObject).
	objects map[ID]*peerObject
	// failed holds objects whose changes from the peer were rejected, so
	// the machine does not ask for them again until the next reconciliation.
	failed map[ID]bool
	// flights holds, per object, the changes sent to the peer that it has
	// not shown it holds yet (see sendMissing); inAir is the sum of their
	// sizes, all objects together. Change it only through setInflight.
	flights map[ID]*inFlight
	inAir   int
	// backlog lists, first come first served, the objects whose missing
	// changes wait for room in the peer's window (Config.PeerWindow);
	// inBacklog is the same set.
	backlog   []ID
	inBacklog map[ID]bool
	// events counts this connection's sends and acknowledgements, the
	// clock of inFlight.sentAt and inFlight.ackedAt (see finishRecon).
	events     int
	reconAt    int  // the last reconciliation's end
	reconciled bool // a reconciliation with the peer has completed
}

// peerObject is what this side knows of one object at a peer.
type peerObject struct {
	// heads is what the peer last said its heads of the object are
	// (when hasHeads).
	heads []ID
	// held is the hash of the heads the peer said it holds (when
	// hasHeld): from its Heads and Changes messages, on this connection
	// or (through Storage.Held) an earlier one. Nothing else sets it.
	held [32]byte
	// told is the hash of the heads this side last sent the peer, in a
	// Heads or a Changes message on this connection (when hasTold):
	// pushes and answers are not repeated. Its first 8 bytes only: it is
	// compared with our own heads' hash, and a match by chance (2^-64)
	// would only hold back a Heads the next reconciliation sends.
	told uint64
	// count is how many changes of the object the peer said it holds.
	count             int
	hasHeads, hasHeld bool
	hasTold           bool
}

// toldOf is the part of a heads hash peerObject.told keeps.
func toldOf(h [32]byte) uint64 { return binary.LittleEndian.Uint64(h[:8]) }

// at is what is known of obj at the peer, nil if nothing.
func (pr *peer) at(obj ID) *peerObject { return pr.objects[obj] }

// entry is what is known of obj at the peer, made empty if need be.
func (pr *peer) entry(obj ID) *peerObject {
	o := pr.objects[obj]
	if o == nil {
		o = &peerObject{}
		pr.objects[obj] = o
	}
	return o
}

// wasTold reports whether the peer was last told heads hashing to h.
func (pr *peer) wasTold(obj ID, h [32]byte) bool {
	o := pr.objects[obj]
	return o != nil && o.hasTold && o.told == toldOf(h)
}

// setTold records that the peer was told heads hashing to h.
func (pr *peer) setTold(obj ID, h [32]byte) {
	o := pr.entry(obj)
	o.told, o.hasTold = toldOf(h), true
}

// forgetTold forgets what the peer was told of obj.
func (pr *peer) forgetTold(obj ID) {
	if o := pr.objects[obj]; o != nil {
		o.hasTold = false
	}
}

// theirHeads is what the peer last said its heads of obj are.
func (pr *peer) theirHeads(obj ID) ([]ID, bool) {
	o := pr.objects[obj]
	if o == nil || !o.hasHeads {
		return nil, false
	}
	return o.heads, true
}

// setHeads records the peer's heads of obj.
func (pr *peer) setHeads(obj ID, heads []ID) {
	o := pr.entry(obj)
	o.heads, o.hasHeads = heads, true
}

// inFlight is what of one object is in flight to a peer.
type inFlight struct {
	sizes map[ID]int // the changes sent and not acknowledged, with their sizes
	// sentAt and ackedAt are when (in the peer's events) changes of the
	// object were last sent, and when its heads last acknowledged some
	// of them (see finishRecon).
	sentAt, ackedAt int
}

// New returns a machine for peer self over store. salt draws a fresh random
// salt for each reconciliation (tests pass a seeded source).
func New(self PeerID, store Storage, cfg Config, salt func() [reconcile.SaltSize]byte) *Machine {
	if cfg.PeerWindow <= 0 {
		cfg.PeerWindow = 4 * cfg.Window
	}
	m := &Machine{self: self, store: store, cfg: cfg, salt: salt, peers: map[PeerID]*peer{}, sessions: map[PeerID]*allowance{}}
	if w, ok := store.(Withholder); ok {
		m.withheld = w.Withheld
	} else {
		m.withheld = func(ID) bool { return false }
	}
	return m
}

// maxAllowances bounds the allowances kept; past it, those of peers not
// connected and full again (no different from a new one) are forgotten.
const maxAllowances = 1024

// mayReconcile spends one of a peer's sessions, if it has one left.
func (m *Machine) mayReconcile(p PeerID) bool {
	if m.cfg.SessionEvery <= 0 || m.cfg.SessionBurst <= 0 {
		return true
	}
	a := m.sessions[p]
	if a == nil {
		if len(m.sessions) >= maxAllowances {
			for q, o := range m.sessions {
				if m.peers[q] == nil && o.tokens+(m.ticks-o.at)/m.cfg.SessionEvery >= m.cfg.SessionBurst {
					delete(m.sessions, q)
				}
			}
		}
		a = &allowance{tokens: m.cfg.SessionBurst, at: m.ticks}
		m.sessions[p] = a
	}
	if n := (m.ticks - a.at) / m.cfg.SessionEvery; n > 0 {
		a.tokens = min(m.cfg.SessionBurst, a.tokens+n)
		a.at += n * m.cfg.SessionEvery
	}
	if a.tokens >= m.cfg.SessionBurst {
		a.at = m.ticks // full: the period starts with the next spend
	}
	if a.tokens == 0 {
		return false
	}
	a.tokens--
	return true
}

// objectSet is our objects, as reconciliation compares them.
func (m *Machine) objectSet() (*reconcile.Set, error) {
	if ss, ok := m.store.(SetStorage); ok {
		return ss.ObjectSet()
	}
	items, err := m.store.Objects()
	if err != nil {
		return nil, err
	}
	return reconcile.NewSet(slices.DeleteFunc(items, func(it reconcile.Item) bool { return m.withheld(it.ID) })), nil
}

func (m *Machine) send(to PeerID, msg Message) {
	m.ready.Messages = append(m.ready.Messages, Envelope{To: to, Msg: msg})
}

// tell sends the peer our heads of obj and remembers that it was told.
func (m *Machine) tell(pr *peer, obj ID, mine []ID) {
	if m.withheld(obj) {
		return // never named (see Withholder)
	}
	pr.setTold(obj, HeadsHash(mine))
	m.send(pr.id, Message{Kind: Heads, Object: obj, Heads: mine})
}

// setHeld records what a peer said it holds, for status and for the driver
// to persist.
func (m *Machine) setHeld(pr *peer, obj ID, heads []ID) {
	h := HeadsHash(heads)
	o := pr.entry(obj)
	if o.hasHeld && o.held == h {
		return
	}
	o.held, o.hasHeld = h, true
	m.ready.Held = append(m.ready.Held, HeldUpdate{Peer: pr.id, Object: obj, Heads: h, Of: heads})
}

// Ready returns what the driver must do; call Advance when done.
func (m *Machine) Ready() Ready { return m.ready }

// HasReady reports whether there is anything to do.
func (m *Machine) HasReady() bool {
	return len(m.ready.Messages)+len(m.ready.Received)+len(m.ready.Held) > 0
}

// Advance acknowledges the last Ready.
func (m *Machine) Advance() { m.ready = Ready{} }

// sorted lists the connected peers in id order: every loop over peers
// whose output is sent goes through it, so output does not depend on map
// order.
func (m *Machine) sorted() []*peer {
	out := make([]*peer, 0, len(m.peers))
	for _, id := range slices.Sorted(maps.Keys(m.peers)) {
		out = append(out, m.peers[id])
	}
	return out
}

// Connected starts syncing with a peer, from what it said it held before:
// the side with the lesser id starts a reconciliation at once. On a storage
// error the peer is not connected (the driver drops the connection).
func (m *Machine) Connected(p PeerID) error {
	held, err := m.store.Held(p)
	if err != nil {
		return fmt.Errorf("read what %s holds: %w", p, err)
	}
	pr := &peer{id: p, initiator: m.self < p, objects: make(map[ID]*peerObject, len(held)), failed: map[ID]bool{},
		flights: map[ID]*inFlight{}, inBacklog: map[ID]bool{}}
	// One allocation for all that the peer held before, not one each.
	known := make([]peerObject, len(held))
	for id, h := range held {
		o := &known[0]
		known = known[1:]
		o.held, o.hasHeld = h, true
		pr.objects[id] = o
	}
	if pr.initiator {
		if !m.mayReconcile(p) {
			// A peer reconnecting in a loop: its session waits for its
			// turn (Tick starts it).
			pr.lastRecon = m.ticks - m.cfg.ReconcileEvery
			m.peers[p] = pr
			return nil
		}
		set, err := m.objectSet()
		if err != nil {
			return err
		}
		m.peers[p] = pr
		m.beginRecon(pr, set)
		return nil
	}
	m.peers[p] = pr
	return nil
}

// Disconnected forgets a peer's state; what was in flight is lost and the
// next connection starts over with a reconciliation.
func (m *Machine) Disconnected(p PeerID) { delete(m.peers, p) }

// Peers lists the connected peers, in order.
func (m *Machine) Peers() []PeerID { return slices.Sorted(maps.Keys(m.peers)) }

// Reconciled reports whether a reconciliation with a connected peer has
// completed on this connection.
func (m *Machine) Reconciled(p PeerID) bool {
	pr := m.peers[p]
	return pr != nil && pr.reconciled
}

// Tick advances time by one unit: reconciliations repeat every
// cfg.ReconcileEvery ticks with each connected peer, and one that has not
// finished within twice that (a message was lost) starts over. On a
// storage error the peers not reached yet wait for the next tick.
func (m *Machine) Tick() error {
	m.ticks++
	// What waits in the peers' backlogs goes first, if there is room; a
	// read that fails for one peer's keeps neither that peer's
	// reconciliation nor the other peers waiting.
	var drainErr error
	for _, pr := range m.sorted() {
		if err := m.drain(pr); err != nil && drainErr == nil {
			drainErr = err
		}
	}
	for _, pr := range m.sorted() {
		if !pr.initiator {
			if pr.waiting != nil && m.mayReconcile(pr.id) {
				msg := *pr.waiting
				pr.waiting = nil
				if err := m.joinRecon(pr, msg); err != nil {
					return err
				}
			}
			continue
		}
		idle := m.ticks - pr.lastRecon
		if (pr.recon == nil && idle >= m.cfg.ReconcileEvery) || idle >= 2*m.cfg.ReconcileEvery {
			if !m.mayReconcile(pr.id) {
				continue // its turn comes at a later tick
			}
			set, err := m.objectSet()
			if err != nil {
				return err
			}
			m.beginRecon(pr, set)
		}
	}
	return drainErr
}

// beginRecon starts a reconciliation session over set (our objects).
func (m *Machine) beginRecon(pr *peer, set *reconcile.Set) {
	m.next++
	pr.session = m.next
	pr.lastRecon = m.ticks
	var msg []byte
	pr.reconSet = set
	pr.recon, msg = reconcile.Initiate(pr.reconSet, m.salt())
	pr.seq = 0
	m.sendRecon(pr, msg)
}

func (m *Machine) sendRecon(pr *peer, msg []byte) {
	m.send(pr.id, Message{Kind: Recon, Session: pr.session, Seq: pr.seq, Recon: msg})
	pr.seq++
}

// Changed tells the machine the local store has new changes of object
// (made on this device): they are offered to every connected peer at once.
func (m *Machine) Changed(object ID) error {
	mine, err := m.store.Heads(object)
	if err != nil {
		return err
	}
	for _, pr := range m.sorted() {
		if err := m.offer(pr, object, mine); err != nil {
			return err
		}
	}
	return nil
}

// ErrProtocol is wrapped by errors about a peer's messages; the driver
// should drop the connection. Other errors from Step are the store's.
var ErrProtocol = errors.New("sync protocol error")

// Step handles a message from a connected peer.
func (m *Machine) Step(from PeerID, msg Message) error {
	pr := m.peers[from]
	if pr == nil {
		return nil // from a peer since disconnected: ignore
	}
	switch msg.Kind {
	case Recon:
		return m.stepRecon(pr, msg)
	case Heads:
		if err := m.stepHeads(pr, msg.Object, msg.Heads); err != nil {
			return err
		}
		return m.drain(pr) // the heads may have made room in its window
	case Changes:
		if len(msg.Changes) == 0 {
			return fmt.Errorf("%w: empty changes message", ErrProtocol)
		}
		if m.withheld(msg.Object) {
			return nil // none taken (see Withholder)
		}
		pr.setHeads(msg.Object, msg.Heads)
		m.setHeld(pr, msg.Object, msg.Heads)
		pr.entry(msg.Object).count = msg.Held
		for _, c := range msg.Changes {
			m.ready.Received = append(m.ready.Received, Incoming{From: from, Object: msg.Object, Change: c})
		}
	default:
		return fmt.Errorf("%w: unknown message kind %d", ErrProtocol, msg.Kind)
	}
	return nil
}

// stepRecon runs a reconciliation message. Messages of an older session, or
// out of sequence (duplicated, reordered), are ignored: a session that
// loses one stalls, and the initiator starts a new one (see Tick).
func (m *Machine) stepRecon(pr *peer, msg Message) error {
	switch {
	case !pr.initiator && msg.Session > pr.session && msg.Seq == 0 && msg.Recon != nil:
		if pr.waiting != nil && pr.waiting.Session >= msg.Session {
			return nil // a duplicate of the session waiting
		}
		if !m.mayReconcile(pr.id) {
			pr.waiting = &msg
			return nil
		}
		pr.waiting = nil
		return m.joinRecon(pr, msg)
	case msg.Session != pr.session || msg.Seq != pr.seq || pr.recon == nil:
		return nil
	}
	return m.nextRecon(pr, msg)
}

// joinRecon joins a session the peer started with msg (its first message).
func (m *Machine) joinRecon(pr *peer, msg Message) error {
	set, err := m.objectSet()
	if err != nil {
		return err // the session is not joined; the initiator retries
	}
	pr.session, pr.seq = msg.Session, 0
	pr.reconSet = set
	pr.recon = reconcile.Respond(pr.reconSet)
	return m.nextRecon(pr, msg)
}

// nextRecon answers the next message of the session joined.
func (m *Machine) nextRecon(pr *peer, msg Message) error {
	pr.seq++
	if msg.Recon == nil { // the other side is done
		return m.finishRecon(pr)
	}
	reply, err := pr.recon.Next(msg.Recon)
	if err != nil {
		pr.recon = nil
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	m.sendRecon(pr, reply)
	if reply == nil {
		return m.finishRecon(pr)
	}
	return nil
}

// finishRecon offers every object this side learned differs, in id order,
// and tells the peer our heads of each object found equal that it has not
// acknowledged at the compared heads: equal fingerprints (3 salted bytes)
// are a hint, not the peer's word, and only its word makes Synced.
func (m *Machine) finishRecon(pr *peer) error {
	diff := pr.recon.Differences() // sorted
	pr.recon = nil
	pr.reconciled = true
	clear(pr.failed)
	for _, obj := range diff {
		pr.forgetTold(obj) // a difference: offer even if offered before
		// And send again what is in flight, unless the peer acknowledged
		// some of it since it was last sent and since the previous
		// reconciliation: then the rest is most likely on its way, and
		// sending it again would double what is in flight to the peer.
		// Refused or lost, it is sent again by this reconciliation or the
		// next.
		if f := pr.flights[obj]; f != nil && (f.ackedAt <= f.sentAt || f.ackedAt <= pr.reconAt) {
			m.setInflight(pr, obj, nil)
		}
	}
	pr.events++
	pr.reconAt = pr.events
	for _, obj := range diff {
		mine, err := m.store.Heads(obj)
		if err != nil {
			return err
		}
		if err := m.offer(pr, obj, mine); err != nil {
			return err
		}
	}
	// Both sorted by id: the differences are skipped in step, without a
	// set of them (a first sync differs in every object).
	rest := diff
	for _, it := range pr.reconSet.Items() {
		for len(rest) > 0 && bytes.Compare(rest[0][:], it.ID[:]) < 0 {
			rest = rest[1:]
		}
		if len(rest) > 0 && rest[0] == it.ID {
			continue
		}
		// What was told is forgotten at each reconciliation, on both
		// sides: a Heads lost on the way is then sent, and answered,
		// again, as everything else lost is repaired by the next one.
		o := pr.at(it.ID)
		if o != nil {
			o.hasTold = false
			if o.hasHeld && o.held == it.Value {
				continue // it said so already
			}
		}
		mine, err := m.store.Heads(it.ID)
		if err != nil {
			return err
		}
		m.tell(pr, it.ID, mine)
	}
	return m.drain(pr) // what was in flight was forgotten: there may be room
}

// offer sends a peer what it lacks of an object, if its heads are known,
// and else this side's heads (mine), which prompt the peer to say what it
// has.
func (m *Machine) offer(pr *peer, obj ID, mine []ID) error {
	if m.withheld(obj) {
		return nil
	}
	if pr.inBacklog[obj] {
		// Its turn comes (drain reads its heads and sends what the peer
		// lacks then): a reconciliation during a long first sync finds
		// every object still waiting different, and offering each read
		// all their graphs again.
		return nil
	}
	if theirs, ok := pr.theirHeads(obj); ok {
		sent, err := m.sendMissing(pr, obj, theirs, mine)
		if err != nil || sent {
			return err
		}
	}
	if pr.wasTold(obj, HeadsHash(mine)) {
		return nil
	}
	m.tell(pr, obj, mine)
	return nil
}

// stepHeads handles a peer's heads: send what it lacks; ask for what we
// lack; and if they equal ours, say so once (see the package comment).
func (m *Machine) stepHeads(pr *peer, obj ID, theirs []ID) error {
	if m.withheld(obj) {
		return nil // not answered: a reply would say we know it
	}
	pr.setHeads(obj, theirs)
	theirHash := HeadsHash(theirs)
	m.setHeld(pr, obj, theirs)
	mine, err := m.store.Heads(obj)
	if err != nil {
		return err
	}
	myHash := HeadsHash(mine)
	if len(theirs) == 0 && len(mine) > 0 && len(pr.backlog) > 0 && pr.flights[obj] == nil {
		// The peer holds none of it, and its window is full (objects
		// wait for room: drain left them): the object waits its turn
		// behind them, as sendMissing would have it, without its graph
		// being read now. A first sync of many objects answers the heads
		// of all of them at once: reading each graph here, then again
		// when its turn comes (evicted by the others since), read them
		// all twice. (Not in sendMissing: drain calls it for the objects
		// of the backlog, which is not empty then.)
		m.enqueue(pr, obj)
		pr.setTold(obj, myHash)
		return nil
	}
	if theirHash == myHash {
		// The peer holds just what we hold: it lacks nothing, and all in
		// flight to it arrived. Said without a look at the graph: in a
		// first sync each object ends so, on both sides, and reading
		// each graph to learn it filled the cache of a device with them.
		m.setInflight(pr, obj, nil)
		if !pr.wasTold(obj, myHash) {
			m.tell(pr, obj, mine) // the answer that acknowledges: we hold them too
		}
		return nil
	}
	lacking := false
	for _, h := range theirs {
		have, err := m.store.Has(obj, h)
		if err != nil {
			return err
		}
		if !have {
			lacking = true
			break
		}
	}
	if _, err := m.sendMissing(pr, obj, theirs, mine); err != nil {
		return err
	}
	if lacking && !pr.failed[obj] {
		// Ask: our heads tell the peer what to send.
		m.tell(pr, obj, mine)
	}
	return nil
}

// Applied reports what became of the changes of one Changes message from a
// peer (in order). The machine acknowledges with its heads, asks for what
// is still missing, and relays new changes to its other peers.
func (m *Machine) Applied(from PeerID, obj ID, outcomes []Outcome) error {
	stored, rejected := 0, 0
	for _, o := range outcomes {
		switch o {
		case Stored:
			stored++
		case Rejected:
			rejected++
		}
	}
	mine, err := m.store.Heads(obj)
	if err != nil {
		return err
	}
	if pr := m.peers[from]; pr != nil {
		if rejected > 0 {
			// Asking again would bring the same changes back; the next
			// reconciliation retries.
			pr.failed[obj] = true
		} else {
			m.tell(pr, obj, mine)
		}
	}
	if stored > 0 {
		for _, pr := range m.sorted() {
			if pr.id != from {
				if err := m.offer(pr, obj, mine); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
