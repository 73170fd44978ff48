// Package objsync decides what peers send each other so that every object
// ends up with the same changes everywhere: reconciliation to find the
// objects that differ, then per object an exchange of heads and of the
// changes the other side lacks, in causal order and bounded batches, and a
// push of new local changes. It is a pure state machine in the style of
// etcd-io/raft: the driver reports events (Connected, Step, Tick, Changed,
// Applied) and takes a Ready (messages to send, received changes to verify
// and store). It does no I/O, starts no goroutines and reads no clock, so a
// whole network of devices and nodes runs deterministically in one test.
//
// It never verifies changes (the driver's store does, and reports back with
// Applied), so devices and nodes, which cannot read content, run the same
// machine.
//
// Three rules keep it honest and repeatable:
//
//   - A storage error is never a fact. Every method that reads the store
//     returns the store's error, and builds no message from a read that
//     failed: a failed Heads is not "no heads".
//   - Same inputs, same outputs: every map the output depends on is walked
//     in sorted order, so a transcript (testdata/*.txt) is exact.
//   - What a peer holds is only what it said. A peer's held heads of an
//     object come from its own Heads and Changes messages (kept across
//     connections through Storage.Held and Ready.Held), never from a
//     reconciliation's fingerprints matching. After a reconciliation, each
//     object found equal whose held heads are not the compared ones gets
//     our Heads once; a Heads message equal to ours is answered with ours
//     unless that peer was already told them. So an equal object is
//     acknowledged after one message each way, and a node's Heads, sent
//     only after it durably stored what they name, is what Synced means.
package objsync

import (
	"bytes"
	"crypto/sha256"
	"slices"

	"mycel/internal/reconcile"
)

// ID names a change or an object (an object's id is its root change's).
type ID = [32]byte

// PeerID names a peer (its libp2p peer id, say).
type PeerID string

// Storage is what the machine reads of the local store. It must reflect
// every change the driver has stored (see Applied). Every read returns the
// store's error when it fails; the machine then acts on nothing it read
// in that call and hands the error back.
type Storage interface {
	// Objects lists every object with the hash of its heads.
	Objects() ([]reconcile.Item, error)
	// Heads are the object's changes that no other change names as parent.
	Heads(object ID) ([]ID, error)
	// Has says whether a change of object is stored.
	Has(object, change ID) (bool, error)
	// Graph is the object's stored changes with their parents and sizes,
	// in a causal order: what the machine walks to find what a peer
	// lacks, kept by the store's view rather than read change by change.
	// The machine only reads it.
	Graph(object ID) (*Graph, error)
	// Raws are the exact bytes of stored changes of object (nil for one
	// not stored), asked for in Graph's order: most often a run of it, of
	// no more than a window's bytes.
	Raws(object ID, changes []ID) ([][]byte, error)
	// Held is what a peer said it holds, per object (the hash of its
	// heads), as persisted from earlier connections (see Ready.Held).
	Held(peer PeerID) (map[ID][32]byte, error)
}

// HeadsHash is the value reconciliation compares for an object.
func HeadsHash(heads []ID) [32]byte {
	hs := slices.Clone(heads)
	slices.SortFunc(hs, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, x := range hs {
		h.Write(x[:])
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Kind is the kind of a Message.
type Kind uint8

// Message kinds.
const (
	// Recon carries a reconciliation message of session Session.
	Recon Kind = iota + 1
	// Heads tells the sender's heads of Object; it asks for what the
	// sender lacks and acknowledges what it holds.
	Heads
	// Changes carries changes of Object in causal order, then the sender's
	// heads.
	Changes
)

// Change is a change on the wire.
type Change struct {
	ID  ID
	Raw []byte
}

// Message is what peers exchange.
type Message struct {
	Kind    Kind
	Session uint64 // Recon: sessions of a connection only grow
	Seq     uint32 // Recon: 0, 1, 2… within a session; others are ignored
	Recon   []byte // Recon; nil ends a session
	Object  ID     // Heads, Changes
	Heads   []ID   // Heads, Changes: the sender's heads after this message
	Changes []Change
	Held    int // Changes: how many changes of Object the sender holds
}

// Envelope is a message to send.
type Envelope struct {
	To  PeerID
	Msg Message
}

// Incoming is a received change for the driver to verify and store.
type Incoming struct {
	From   PeerID
	Object ID
	Change Change
}

// Outcome is what storing an Incoming came to.
type Outcome uint8

// Outcomes.
const (
	Stored   Outcome = iota // verified and stored (also: was already there)
	Waiting                 // verified, parked until its parents arrive
	Rejected                // refused: not stored
)

// Ready is what the driver must do next: store the received changes (and
// report with Applied), persist the held updates, send the messages, then
// call Advance. The messages never depend on the received changes being
// stored: acknowledgements of those come from Applied, in a later Ready.
type Ready struct {
	Received []Incoming
	Messages []Envelope
	// Held lists what peers just said they hold, in the order they said
	// it (a later entry for the same peer and object wins): the driver
	// persists it so that the next connection starts from it (see
	// Storage.Held) and an object acknowledged once stays Synced across
	// restarts while its heads do not change.
	Held []HeldUpdate
}

// HeldUpdate is a peer's word on which heads of an object it holds.
type HeldUpdate struct {
	Peer   PeerID
	Object ID
	Heads  [32]byte // HeadsHash of the peer's heads
	Of     []ID     // the heads themselves (the message's: not to be changed)
}

// Config tunes a machine.
type Config struct {
	// ReconcileEvery is how many ticks pass between reconciliations with
	// each connected peer.
	ReconcileEvery int
	// BatchBytes bounds the changes in one Changes message.
	BatchBytes int
	// Window bounds the bytes of one object's changes sent to a peer and
	// not yet acknowledged by its heads (at least one change is sent).
	Window int
	// PeerWindow bounds the bytes of all objects' changes sent to one peer
	// and not yet acknowledged (at least one change is sent): objects past
	// it wait their turn, first come first served. So what a sender holds
	// in its queues for a peer is bounded whatever the vault's size, and
	// a peer that reads slowly slows the sender down instead of filling
	// its memory. 0: Window × 4.
	PeerWindow int
	// SessionBurst and SessionEvery bound the reconciliation sessions with
	// one peer, started or joined: SessionBurst at once, then one every
	// SessionEvery ticks, across its connections (0: unbounded). A
	// session past the bound waits for its turn (of a peer's waiting
	// sessions only the latest is kept), so a peer that floods sessions
	// makes this side read and compare its whole set no more often than
	// that, and its other peers are served meanwhile.
	SessionBurst, SessionEvery int
}

// Withholder is a Storage that keeps some objects to itself (a page whose
// sync is off on this device). The machine never names one to a peer —
// not in reconciliation, not in heads, not in changes — and takes none of
// its changes, so a peer learns nothing of an object it did not have; a
// Withheld that turns false is an object like any other, offered at the
// next Changed or reconciliation. (A store without objects to withhold
// need not implement it.)
type Withholder interface {
	Withheld(object ID) bool
}

// SetStorage is a Storage that builds the set reconciliation compares
// itself, and may keep it from one session to the next while its objects
// do not change (a node's set changes only when it stores a change).
type SetStorage interface {
	Storage
	ObjectSet() (*reconcile.Set, error)
}

// DefaultConfig: with a 1 s tick, reconcile every 20 s; 1 MiB batches, up
// to 4 MiB of one object and 8 MiB in all in flight to a peer.
var DefaultConfig = Config{ReconcileEvery: 20, BatchBytes: 1 << 20, Window: 4 << 20, PeerWindow: 8 << 20}
