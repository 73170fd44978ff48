package objsync

import (
	"errors"
	"fmt"
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
}

type peer struct {
	id        PeerID
	initiator bool // this side starts reconciliations with the peer
	session   uint64
	seq       uint32 // the next Recon message expected (or sent) in the session
	recon     *reconcile.Session
	reconSet  *reconcile.Set // what the session compares: our objects when it began
	lastRecon int
	// heads is what the peer last said its heads of an object are.
	heads map[ID][]ID
	// offered is the heads hash last sent unasked, so pushes do not repeat.
	offered map[ID][32]byte
	// failed holds objects whose changes from the peer were rejected, so
	// the machine does not ask for them again until the next reconciliation.
	failed map[ID]bool
	// held is the hash of the heads the peer is known to hold per object:
	// from its Heads messages, and, after a reconciliation, ours for every
	// object that did not differ.
	held  map[ID][32]byte
	count map[ID]int // how many changes of an object the peer said it holds
	// inflight holds, per object, the changes sent to the peer that it has
	// not shown it holds yet, with their sizes (see sendMissing).
	inflight   map[ID]map[ID]int
	reconciled bool // a reconciliation with the peer has completed
}

// New returns a machine for peer self over store. salt draws a fresh random
// salt for each reconciliation (tests pass a seeded source).
func New(self PeerID, store Storage, cfg Config, salt func() [reconcile.SaltSize]byte) *Machine {
	return &Machine{self: self, store: store, cfg: cfg, salt: salt, peers: map[PeerID]*peer{}}
}

func (m *Machine) send(to PeerID, msg Message) {
	m.ready.Messages = append(m.ready.Messages, Envelope{To: to, Msg: msg})
}

// Ready returns what the driver must do; call Advance when done.
func (m *Machine) Ready() Ready { return m.ready }

// HasReady reports whether there is anything to do.
func (m *Machine) HasReady() bool { return len(m.ready.Messages)+len(m.ready.Received) > 0 }

// Advance acknowledges the last Ready.
func (m *Machine) Advance() { m.ready = Ready{} }

// Connected starts syncing with a peer: the side with the lesser id starts
// a reconciliation at once.
func (m *Machine) Connected(p PeerID) {
	pr := &peer{id: p, initiator: m.self < p, heads: map[ID][]ID{}, offered: map[ID][32]byte{}, failed: map[ID]bool{}, held: map[ID][32]byte{}, count: map[ID]int{}, inflight: map[ID]map[ID]int{}}
	m.peers[p] = pr
	if pr.initiator {
		m.startRecon(pr)
	}
}

// Disconnected forgets a peer's state; what was in flight is lost and the
// next connection starts over with a reconciliation.
func (m *Machine) Disconnected(p PeerID) { delete(m.peers, p) }

// Connected peers, for status.
func (m *Machine) Peers() []PeerID {
	out := make([]PeerID, 0, len(m.peers))
	for p := range m.peers {
		out = append(out, p)
	}
	return out
}

// Tick advances time by one unit: reconciliations repeat every
// cfg.ReconcileEvery ticks with each connected peer, and one that has not
// finished within twice that (a message was lost) starts over.
func (m *Machine) Tick() {
	m.ticks++
	for _, pr := range m.peers {
		if !pr.initiator {
			continue
		}
		idle := m.ticks - pr.lastRecon
		if (pr.recon == nil && idle >= m.cfg.ReconcileEvery) || idle >= 2*m.cfg.ReconcileEvery {
			m.startRecon(pr)
		}
	}
}

func (m *Machine) startRecon(pr *peer) {
	m.next++
	pr.session = m.next
	pr.lastRecon = m.ticks
	var msg []byte
	pr.reconSet = reconcile.NewSet(m.store.Objects())
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
func (m *Machine) Changed(object ID) {
	for _, pr := range m.peers {
		m.offer(pr, object)
	}
}

// ErrProtocol is wrapped by errors about a peer's messages; the driver
// should drop the connection.
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
		m.stepHeads(pr, msg.Object, msg.Heads)
	case Changes:
		if len(msg.Changes) == 0 {
			return fmt.Errorf("%w: empty changes message", ErrProtocol)
		}
		pr.heads[msg.Object] = msg.Heads
		pr.held[msg.Object] = HeadsHash(msg.Heads)
		pr.count[msg.Object] = msg.Held
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
		pr.session, pr.seq = msg.Session, 0
		pr.reconSet = reconcile.NewSet(m.store.Objects())
		pr.recon = reconcile.Respond(pr.reconSet)
	case msg.Session != pr.session || msg.Seq != pr.seq || pr.recon == nil:
		return nil
	}
	pr.seq++
	if msg.Recon == nil { // the other side is done
		m.finishRecon(pr)
		return nil
	}
	reply, err := pr.recon.Next(msg.Recon)
	if err != nil {
		pr.recon = nil
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	m.sendRecon(pr, reply)
	if reply == nil {
		m.finishRecon(pr)
	}
	return nil
}

// finishRecon offers every object this side learned differs.
func (m *Machine) finishRecon(pr *peer) {
	diff := pr.recon.Differences()
	pr.recon = nil
	pr.reconciled = true
	clear(pr.failed)
	differs := make(map[ID]bool, len(diff))
	for _, obj := range diff {
		differs[obj] = true
	}
	// The objects that did not differ were equal at the peer as they were
	// when the session began (not now: a change made since is not held).
	for _, it := range pr.reconSet.Items() {
		if !differs[it.ID] {
			pr.held[it.ID] = it.Value
		}
	}
	for _, obj := range diff {
		delete(pr.offered, obj)  // a difference: offer even if offered before
		delete(pr.inflight, obj) // and send again what may have been lost
		m.offer(pr, obj)
	}
}

// offer sends a peer what it lacks of an object, if its heads are known,
// and else this side's heads, which prompt the peer to say what it has.
func (m *Machine) offer(pr *peer, obj ID) {
	mine := m.store.Heads(obj)
	if theirs, ok := pr.heads[obj]; ok && m.sendMissing(pr, obj, theirs, mine) {
		return
	}
	h := HeadsHash(mine)
	if last, ok := pr.offered[obj]; ok && last == h {
		return
	}
	pr.offered[obj] = h
	m.send(pr.id, Message{Kind: Heads, Object: obj, Heads: mine})
}

func (m *Machine) stepHeads(pr *peer, obj ID, theirs []ID) {
	pr.heads[obj] = theirs
	pr.held[obj] = HeadsHash(theirs)
	mine := m.store.Heads(obj)
	m.sendMissing(pr, obj, theirs, mine)
	for _, h := range theirs {
		if !m.store.Has(h) {
			if !pr.failed[obj] {
				// Ask: our heads tell the peer what to send.
				m.send(pr.id, Message{Kind: Heads, Object: obj, Heads: mine})
			}
			return
		}
	}
}

// sendMissing sends, in causal order and bounded batches, the changes of
// obj this side holds that are not in the closure of the peer's heads. It
// reports whether any are missing there.
//
// At most cfg.Window bytes of one object are in flight to a peer: the
// peer's heads, which it sends after storing each batch, let the next
// ones go. So a huge object takes its turn with the others rather than
// filling the connection ahead of them.
func (m *Machine) sendMissing(pr *peer, obj ID, theirs, mine []ID) bool {
	order, held := m.missing(obj, theirs, mine)
	if len(order) == 0 {
		delete(pr.inflight, obj)
		return false
	}
	// What the peer now holds is no longer in flight.
	flying := pr.inflight[obj]
	still := make(map[ID]int, len(flying))
	inAir := 0
	for _, id := range order {
		if n, ok := flying[id]; ok {
			still[id] = n
			inAir += n
		}
	}
	pr.inflight[obj] = still
	var send []ID
	for _, id := range order {
		if _, ok := still[id]; !ok {
			send = append(send, id)
		}
	}
	raws := m.store.Raws(obj, send)
	var batch []Change
	size := 0
	flush := func() {
		if len(batch) > 0 {
			m.send(pr.id, Message{Kind: Changes, Object: obj, Heads: mine, Changes: batch, Held: held})
			batch, size = nil, 0
		}
	}
	for i, id := range send {
		raw := raws[i]
		if raw == nil || inAir > 0 && inAir+len(raw) > m.cfg.Window {
			break // gone from the store, or the window is full
		}
		if size > 0 && size+len(raw) > m.cfg.BatchBytes {
			flush()
		}
		batch = append(batch, Change{ID: id, Raw: raw})
		size += len(raw)
		inAir += len(raw)
		still[id] = len(raw)
	}
	flush()
	pr.offered[obj] = HeadsHash(mine)
	return true
}

// missing lists, parents first, our changes of obj (up to mine) that are
// not in the closure of theirs; and how many changes of obj we hold.
func (m *Machine) missing(obj ID, theirs, mine []ID) ([]ID, int) {
	graph := m.store.Graph(obj)
	parents := make(map[ID][]ID, len(graph))
	for _, n := range graph {
		parents[n.ID] = n.Parents
	}
	// Mark the closures of theirs and of mine by walking back; an id not
	// in the graph (theirs that we lack) has no known ancestors.
	closure := func(from []ID) map[ID]bool {
		in := map[ID]bool{}
		stack := slices.Clone(from)
		for len(stack) > 0 {
			id := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			ps, ok := parents[id]
			if !ok || in[id] {
				continue
			}
			in[id] = true
			stack = append(stack, ps...)
		}
		return in
	}
	have, want := closure(theirs), closure(mine)
	var order []ID
	for _, n := range graph {
		if want[n.ID] && !have[n.ID] {
			order = append(order, n.ID)
		}
	}
	return order, len(graph)
}

// Applied reports what became of the changes of one Changes message from a
// peer (in order). The machine acknowledges with its heads, asks for what
// is still missing, and relays new changes to its other peers.
func (m *Machine) Applied(from PeerID, obj ID, outcomes []Outcome) {
	stored, rejected := 0, 0
	for _, o := range outcomes {
		switch o {
		case Stored:
			stored++
		case Rejected:
			rejected++
		}
	}
	if pr := m.peers[from]; pr != nil {
		if rejected > 0 {
			// Asking again would bring the same changes back; the next
			// reconciliation retries.
			pr.failed[obj] = true
		} else {
			m.send(from, Message{Kind: Heads, Object: obj, Heads: m.store.Heads(obj)})
		}
	}
	if stored > 0 {
		for id, pr := range m.peers {
			if id != from {
				m.offer(pr, obj)
			}
		}
	}
}

// PeerObject is what this side knows of one object at one connected peer.
type PeerObject struct {
	Peer       PeerID
	Reconciled bool // a reconciliation with the peer has completed
	Known      bool // the peer's heads of the object are known
	HasMine    bool // the peer holds every change of our current heads
	Outgoing   int  // changes of ours the peer lacks (when Known)
	Incoming   bool // the peer holds changes we lack
	// While Incoming, and once the peer has sent some: how many of its
	// changes we lack, and how many the object has in all, so that a
	// download shows "Have of Total" (exact for a download; with changes
	// on both sides, counted as if the peer held all of ours).
	IncomingCount int
	Have, Total   int
	Failed        bool // changes from the peer were refused
}

// Object reports, for each connected peer, what it holds of obj.
func (m *Machine) Object(obj ID) []PeerObject {
	mine := m.store.Heads(obj)
	myHash := HeadsHash(mine)
	var out []PeerObject
	for _, pr := range m.peers {
		po := PeerObject{Peer: pr.id, Reconciled: pr.reconciled, Failed: pr.failed[obj]}
		if h, ok := pr.held[obj]; ok {
			po.Known = true
			if h == myHash {
				po.HasMine = true
			} else if theirs, ok := pr.heads[obj]; ok {
				var missing []ID
				missing, po.Have = m.missing(obj, theirs, mine)
				po.Outgoing = len(missing)
				po.HasMine = po.Outgoing == 0
				for _, t := range theirs {
					if !m.store.Has(t) {
						po.Incoming = true
					}
				}
				// They hold n changes. Which of ours are among them cannot
				// be told from heads we do not have; counted as if all (a
				// download, the usual case, is exact).
				if n := pr.count[obj]; po.Incoming && n > 0 {
					po.IncomingCount = max(n-po.Have, 1)
					po.Total = po.Have + po.IncomingCount
				}
			}
		}
		out = append(out, po)
	}
	return out
}
