package device

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"mycel/internal/change"
	"mycel/internal/nodeack"
	"mycel/internal/objsync"
	"mycel/internal/store"
	"mycel/internal/syncer"
)

// NodeLiedReason is an object's status reason once a node was caught
// showing less of it than it had confirmed.
const NodeLiedReason = "the backup node lost or hid changes it had confirmed"

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
	undecided map[undecidedKey]syncer.Ack // loop goroutine only
}

type undecidedKey struct {
	node, via objsync.PeerID
	obj       change.ID
}

func newNodeAcks(ctx context.Context, d *Device) (*nodeAcks, error) {
	id := d.Engine.VaultID()
	n := &nodeAcks{d: d, vault: id[:], lied: map[change.ID]bool{}, undecided: map[undecidedKey]syncer.Ack{}}
	err := d.Engine.Store().View(ctx, func(tx store.Tx) error {
		lies, err := tx.NodeLies()
		for _, a := range lies {
			n.lied[a.Object] = true
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read node acknowledgements: %w", err)
	}
	return n, nil
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
	return true, nil
}

func shortID(p objsync.PeerID) string {
	if len(p) > 12 {
		return string(p[len(p)-12:])
	}
	return string(p)
}

// check judges the words received since the last call, and those the
// graph could not judge before (loop goroutine).
func (n *nodeAcks) check(as []syncer.Ack) {
	// Words not judged before came before these: first.
	todo := make([]syncer.Ack, 0, len(n.undecided)+len(as))
	for _, a := range n.undecided {
		todo = append(todo, a)
	}
	syncer.SortAcks(todo)
	todo = append(todo, as...)
	syncer.SortAcks(todo)
	clear(n.undecided)
	// A word not judged yet is kept for later only if it is its sender's
	// last about the object: judged after a later one, it would look
	// like a step back.
	last := map[undecidedKey]int{}
	for i, a := range todo {
		last[undecidedKey{a.Node, a.Via, a.Object}] = i
	}
	var lied []syncer.Ack
	err := n.d.Engine.Store().Update(context.WithoutCancel(n.d.ctx), func(tx store.Tx) error {
		lied = lied[:0]
		parents := func(id change.ID) ([]change.ID, bool, error) {
			m, err := tx.Meta(id)
			if errors.Is(err, store.ErrNotFound) {
				return nil, false, nil
			}
			return m.Parents, err == nil, err
		}
		clear(n.undecided) // (a retried transaction starts over)
		for i, a := range todo {
			v, err := n.judge(tx, parents, a)
			if err != nil {
				return err
			}
			switch k := (undecidedKey{a.Node, a.Via, a.Object}); v {
			case nodeack.Unknown:
				if last[k] == i && len(n.undecided) < maxUndecided {
					n.undecided[k] = a
				}
			case nodeack.Lie:
				if len(lied) == 0 || lied[len(lied)-1].Node != a.Node || lied[len(lied)-1].Object != a.Object {
					lied = append(lied, a) // (told once per node and object)
				}
			}
		}
		return nil
	})
	if err != nil {
		n.d.cfg.Log.Warn("check node acknowledgements", "err", err)
		return
	}
	for _, a := range lied {
		n.d.cfg.Log.Warn("the backup node lost or hid changes it had confirmed; uploading them again",
			"node", shortID(a.Node), "object", a.Object.Short(), "via", shortID(a.Via))
		n.mu.Lock()
		n.lied[a.Object] = true
		n.mu.Unlock()
	}
}

// judge checks one word against the one kept and keeps what wins.
func (n *nodeAcks) judge(tx store.Tx, parents nodeack.Parents, a syncer.Ack) (nodeack.Verdict, error) {
	next := store.NodeAck{Node: string(a.Node), Object: a.Object, Heads: a.Heads, Time: a.Time, Sig: a.Sig, Via: string(a.Via)}
	kept, err := tx.NodeAck(next.Node, next.Object)
	if errors.Is(err, store.ErrNotFound) {
		return nodeack.Consistent, tx.PutNodeAck(next)
	}
	if err != nil {
		return nodeack.Unknown, err
	}
	k := nodeack.Ack{Object: kept.Object, Heads: kept.Heads, Time: kept.Time, Sig: kept.Sig}
	var v nodeack.Verdict
	var adopt bool
	if a.Via == "" && kept.Via == "" && a.Time < kept.Time {
		// Both words came from the node to this device, in this order:
		// the later one must hold the earlier, whatever time it claims
		// (a node cannot hide a rollback by dating its word back).
		v, err = nodeack.Contains(parents, a.Heads, kept.Heads)
	} else {
		v, adopt, err = nodeack.Check(parents, k, a.Ack)
	}
	if err != nil {
		return nodeack.Unknown, err
	}
	switch {
	case v == nodeack.Lie:
		if kept.Lied == 0 {
			kept.Lied = time.Now().UnixMilli()
			return v, tx.PutNodeAck(kept) // the confirmed word stays: it is the evidence
		}
	case adopt:
		next.Lied = kept.Lied
		return v, tx.PutNodeAck(next)
	}
	return v, nil
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
	out := make([]syncer.Ack, len(kept))
	for i, a := range kept {
		out[i] = syncer.Ack{Node: objsync.PeerID(a.Node), Ack: nodeack.Ack{Object: a.Object, Heads: a.Heads, Time: a.Time, Sig: a.Sig}}
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
