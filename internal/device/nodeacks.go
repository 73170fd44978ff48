package device

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"mycel/internal/change"
	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/nodeack"
	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/store"
	"mycel/internal/syncer"
	"mycel/internal/vault"
)

// NodeLiedReason is an object's status reason once a node was caught
// showing less of it than it had confirmed.
const NodeLiedReason = "the backup node lost or hid changes it had confirmed (this device uploads them again; once the node is fixed: mycel nodes trust ADDR)"

// maxUndecided bounds the words kept in memory until the graph can judge
// them (a node's heads naming changes not stored here yet).
const maxUndecided = 4096

// nodeAcks is what a device does with its nodes' signed words (see
// internal/nodeack): it verifies each one (a node's word it did not sign
// drops the connection), keeps the latest per node and object in the
// store, checks every later word against it, and passes what it keeps to
// the devices it meets, which check what the node shows them against
// it. A node whose word does not hold what it confirmed before lied: the
// object is Not syncing (NodeLiedReason), for good, and the machine,
// which took the node's real heads from that word, sends it again what
// it lacks.
type nodeAcks struct {
	d     *Device
	vault []byte

	mu        sync.Mutex
	lied      map[change.ID]bool
	undecided []undecided // loop goroutine only
	judgedAt  int64       // the store's last arrival number when they were judged
}

func newNodeAcks(ctx context.Context, d *Device) (*nodeAcks, error) {
	id := d.Engine.VaultID()
	n := &nodeAcks{d: d, vault: id[:]}
	var err error
	if n.lied, err = n.readLies(ctx); err != nil {
		return nil, fmt.Errorf("read node acknowledgements: %w", err)
	}
	return n, nil
}

// readLies reads which objects a node was found to lie about.
func (n *nodeAcks) readLies(ctx context.Context) (map[change.ID]bool, error) {
	lied := map[change.ID]bool{}
	err := n.d.Engine.Store().View(ctx, func(tx store.Tx) error {
		lies, err := tx.NodeLies()
		for _, a := range lies {
			lied[a.Object] = true
		}
		return err
	})
	return lied, err
}

// reload re-reads which objects a node lied about: 'mycel nodes trust'
// clears marks in the store, and pokes. The store is read holding mu, so
// a lie check records meanwhile (it sets the map after its commit) is
// not lost.
func (n *nodeAcks) reload() {
	n.mu.Lock()
	defer n.mu.Unlock()
	lied, err := n.readLies(n.d.ctx)
	if err != nil {
		n.d.cfg.Log.Warn("read node acknowledgements", "err", err)
		return
	}
	cleared := 0
	for obj := range n.lied {
		if !lied[obj] {
			cleared++
		}
	}
	n.lied = lied
	if cleared > 0 {
		n.d.cfg.Log.Info("the backup node is trusted again", "pages", cleared)
	}
}

func (n *nodeAcks) hooks() syncer.AckHooks {
	return syncer.AckHooks{Verify: n.verify, Check: n.check, For: n.passOn}
}

// isNode says whether p is one of this device's nodes.
func (n *nodeAcks) isNode(p objsync.PeerID) bool {
	return slices.Contains(n.d.nodePeers(), string(p))
}

// verify keeps the words of this device's nodes that their key signed for
// this vault: a node's own word it did not sign, or a word passed on that
// its node did not sign, is refused (the connection drops).
func (n *nodeAcks) verify(a syncer.Ack) (bool, error) {
	if !n.isNode(a.Node) {
		return false, nil // a device's Heads (unsigned), or a node we do not use
	}
	pub, err := peerKey(a.Node)
	if err == nil {
		err = nodeack.Verify(pub, n.vault, a.Ack)
	}
	if err != nil {
		if a.Via != "" {
			return false, fmt.Errorf("an acknowledgement passed on for node %s: %w", shortID(a.Node), err)
		}
		return false, fmt.Errorf("node %s: %w", shortID(a.Node), err)
	}
	// A removal request the word carries is checked where it is used
	// (excuse): one that does not hold excuses nothing, and the word is
	// judged as any other. Refusing it here would drop every connection
	// to the node over a request its device made before it was removed.
	return true, nil
}

func shortID(p objsync.PeerID) string {
	if len(p) > 12 {
		return string(p[len(p)-12:])
	}
	return string(p)
}

// check judges the words received since the last call, and the pairs of
// words the graph could not judge before (loop goroutine).
func (n *nodeAcks) check(as []syncer.Ack) {
	if len(as) == 0 {
		// Pairs not judged yet are judged again once changes were
		// stored since (the graph grew), not every tick.
		if len(n.undecided) == 0 {
			return
		}
		var seq int64
		if err := n.d.Engine.Store().View(n.d.ctx, func(tx store.Tx) (err error) {
			seq, err = tx.LastSeq()
			return err
		}); err != nil || seq == n.judgedAt {
			return
		}
	}
	// The vault's devices, for the removal requests words carry: read
	// here, not in the transaction below (a read inside it would be a
	// second transaction of the same store).
	var devs []vault.DeviceInfo
	if slices.ContainsFunc(as, func(a syncer.Ack) bool { return a.Removal != nil }) {
		var err error
		if devs, err = n.d.Engine.Devices(n.d.ctx); err != nil {
			n.d.cfg.Log.Warn("read the vault's devices", "err", err) // then no request excuses
		}
	}
	var lied []syncer.Ack
	// The marks found are set in the map before mu is let go: reload,
	// which reads the store holding mu, never misses or revives one.
	n.mu.Lock()
	defer n.mu.Unlock()
	err := n.d.Engine.Store().Update(context.WithoutCancel(n.d.ctx), func(tx store.Tx) error {
		lied = lied[:0]
		parents := func(id change.ID) ([]change.ID, bool, error) {
			m, err := tx.Meta(id)
			if errors.Is(err, store.ErrNotFound) {
				return nil, false, nil
			}
			return m.Parents, err == nil, err
		}
		tell := func(a syncer.Ack) error {
			if len(lied) == 0 || lied[len(lied)-1].Node != a.Node || lied[len(lied)-1].Object != a.Object {
				lied = append(lied, a) // (told once per node and object)
			}
			return n.markLied(tx, a)
		}
		var still []undecided
		for _, u := range n.undecided {
			v, _, err := verdict(parents, u.kept, u.next)
			switch {
			case err != nil:
				return err
			case v == nodeack.Lie:
				if err := tell(u.next); err != nil {
					return err
				}
			case v == nodeack.Unknown:
				still = append(still, u)
			}
		}
		for _, a := range as {
			if a.Removal != nil {
				excused, err := n.excuse(tx, a, devs)
				if err != nil {
					return err
				}
				if excused {
					continue
				}
			}
			v, u, err := n.judge(tx, parents, a)
			switch {
			case err != nil:
				return err
			case v == nodeack.Lie:
				if err := tell(a); err != nil {
					return err
				}
			case v == nodeack.Unknown && len(still) < maxUndecided:
				still = append(still, u)
			}
		}
		n.undecided = still
		var err error
		n.judgedAt, err = tx.LastSeq()
		return err
	})
	if err != nil {
		n.d.cfg.Log.Warn("check node acknowledgements", "err", err)
		return
	}
	for _, a := range lied {
		n.d.cfg.Log.Warn("the backup node lost or hid changes it had confirmed; uploading them again",
			"node", shortID(a.Node), "object", a.Object.Short(), "via", shortID(a.Via))
		n.lied[a.Object] = true
	}
}

// removalSkew is how far apart two devices' clocks may be: a removal
// request (its device's time) excuses a word only if it is later than
// when that word reached this device (this device's time), by that much
// at most. Not the node's times: it sets them.
const removalSkew = 5 * time.Minute

// excuse takes a node's word that carries a member's removal request as
// the reason the node shows less than it had confirmed, if the request
// may be that: newer than any taken before for this node and object (a
// node that replays it cannot hide a later rollback by it); later than
// when the word kept reached this device (less the clocks' skew: a word
// confirmed after the request was made cannot be excused by it); the
// word later than the one kept; and the request signed by one of devs
// (a device of the vault, then or since removed) for this object,
// checked last as it costs a signature check. Else it excuses nothing
// and the word is judged as any other. Then the word is kept whatever
// it shows. The node sends the request with every word of the object
// from the removal on (a device offline meanwhile learns of it once the
// object is back; one that met a device which took it, from that
// device), and while the object is removed its words name no heads.
func (n *nodeAcks) excuse(tx store.Tx, a syncer.Ack, devs []vault.DeviceInfo) (bool, error) {
	kept, err := tx.NodeAck(string(a.Node), a.Object)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return false, err
	case a.Time <= kept.Time || !excuses(kept, a.Removal.TimeMs):
		return false, nil
	}
	if !n.requestHolds(a, devs) {
		return false, nil
	}
	raw, err := proto.Marshal(a.Removal)
	if err != nil {
		return false, err
	}
	next := store.NodeAck{Node: string(a.Node), Object: a.Object, Heads: a.Heads, Time: a.Time, Sig: a.Sig, Via: string(a.Via),
		Lied: kept.Lied, Removal: raw, Seen: seen(a)} // (a lie found before stays found)
	return true, tx.PutNodeAck(next)
}

// excuses says whether a removal request of that time may explain a node
// dropping what the word kept confirmed (see excuse).
func excuses(kept store.NodeAck, requestMs int64) bool {
	return requestMs > requestTime(kept.Removal) && requestMs > kept.Seen-removalSkew.Milliseconds()
}

// requestHolds says whether the removal request a word carries is one of
// devs' (the vault's devices), for the word's object.
func (n *nodeAcks) requestHolds(a syncer.Ack, devs []vault.DeviceInfo) bool {
	r := a.Removal
	if r.Restore || change.ID(r.Object) != a.Object || member.VerifyRemoval(r.Device, keys.VaultID(n.vault), r) != nil {
		return false
	}
	return slices.ContainsFunc(devs, func(d vault.DeviceInfo) bool { return d.Key.Equal(ed25519.PublicKey(r.Device)) })
}

// seen is when a word reached this device, for store.NodeAck.Seen.
func seen(a syncer.Ack) int64 {
	now := time.Now().UnixMilli()
	if a.Via != "" {
		return min(now, a.Time)
	}
	return now
}

// keptRequest decodes a kept removal request (nil: none).
func keptRequest(raw []byte) *pb.RemoveObject {
	var r pb.RemoveObject
	if len(raw) == 0 || proto.Unmarshal(raw, &r) != nil {
		return nil
	}
	return &r
}

// requestTime is the time of a kept removal request (0: none).
func requestTime(raw []byte) int64 { return keptRequest(raw).GetTimeMs() }

// undecided is a pair of a node's words the graph could not judge yet:
// the one kept then, and the next.
type undecided struct {
	kept store.NodeAck
	next syncer.Ack
}

// verdict judges a node's next word against the one kept before it: the
// later must hold the earlier (adopt: next is the later, and it does).
func verdict(parents nodeack.Parents, kept store.NodeAck, next syncer.Ack) (v nodeack.Verdict, adopt bool, err error) {
	if next.Via == "" && kept.Via == "" && next.Time < kept.Time {
		// Both words came from the node to this device, in this order:
		// the later one must hold the earlier, whatever time it claims
		// (a node cannot hide a rollback by dating its word back).
		v, err = nodeack.Contains(parents, next.Heads, kept.Heads)
		return v, false, err
	}
	return nodeack.Check(parents, nodeack.Ack{Object: kept.Object, Heads: kept.Heads, Time: kept.Time, Sig: kept.Sig}, next.Ack)
}

// judge checks one word against the one kept, and keeps what wins. A word
// later than the one kept that the graph cannot judge yet (it names
// changes not here) is kept all the same, so that every word after it is
// checked against it, and the pair is judged again later.
func (n *nodeAcks) judge(tx store.Tx, parents nodeack.Parents, a syncer.Ack) (nodeack.Verdict, undecided, error) {
	next := store.NodeAck{Node: string(a.Node), Object: a.Object, Heads: a.Heads, Time: a.Time, Sig: a.Sig, Via: string(a.Via)}
	kept, err := tx.NodeAck(next.Node, next.Object)
	if errors.Is(err, store.ErrNotFound) {
		next.Seen = seen(a)
		return nodeack.Consistent, undecided{}, tx.PutNodeAck(next)
	}
	if err != nil {
		return nodeack.Unknown, undecided{}, err
	}
	if r := requestTime(kept.Removal); a.Via != "" && r != 0 && a.Time < r+removalSkew.Milliseconds() {
		// A word passed on from before a removal this device took as
		// the reason the node dropped what it confirmed: nothing to
		// judge (by the node's time: a node that dates its words back
		// hides only its own history before the removal).
		return nodeack.Consistent, undecided{}, nil
	}
	v, adopt, err := verdict(parents, kept, a)
	if err != nil {
		return v, undecided{}, err
	}
	if v == nodeack.Unknown && a.Time > kept.Time {
		adopt = true
	}
	if adopt {
		next.Lied, next.Removal, next.Seen = kept.Lied, kept.Removal, seen(a)
		if err := tx.PutNodeAck(next); err != nil {
			return v, undecided{}, err
		}
	}
	return v, undecided{kept: kept, next: a}, nil
}

// markLied records that the node lied about the object: the word kept
// stays (signed: the evidence), with the time it was found out.
func (n *nodeAcks) markLied(tx store.Tx, a syncer.Ack) error {
	kept, err := tx.NodeAck(string(a.Node), a.Object)
	if err != nil || kept.Lied != 0 {
		return err
	}
	kept.Lied = time.Now().UnixMilli()
	return tx.PutNodeAck(kept)
}

// passOn gives the words to pass to a device (none to a node).
func (n *nodeAcks) passOn(p objsync.PeerID) []syncer.Ack {
	if n.isNode(p) {
		return nil
	}
	var kept []store.NodeAck
	err := n.d.Engine.Store().View(n.d.ctx, func(tx store.Tx) error {
		var err error
		kept, err = tx.NodeAcks(syncer.MaxPassed)
		return err
	})
	if err != nil {
		n.d.cfg.Log.Warn("read node acknowledgements", "err", err)
		return nil
	}
	out := make([]syncer.Ack, 0, len(kept))
	for _, a := range kept {
		if len(a.Heads) == 0 {
			continue // removed at a request: the node itself says why, not this word
		}
		// With the request by which this device let the node drop what
		// it had confirmed (if any): the device it meets may not know.
		out = append(out, syncer.Ack{Node: objsync.PeerID(a.Node), Ack: nodeack.Ack{Object: a.Object, Heads: a.Heads, Time: a.Time, Sig: a.Sig},
			Removal: keptRequest(a.Removal)})
	}
	return out
}

// nodeLied is the failure that makes an object Not syncing: failure
// when there is one, else NodeLiedReason if a node lied about it.
func (d *Device) nodeLied(obj change.ID, failure string) string {
	if failure != "" || d.acks == nil {
		return failure
	}
	d.acks.mu.Lock()
	defer d.acks.mu.Unlock()
	if d.acks.lied[obj] {
		return NodeLiedReason
	}
	return ""
}

// NodeLied says whether a node was caught lying about obj.
func (d *Device) NodeLied(obj change.ID) bool { return d.nodeLied(obj, "") != "" }
