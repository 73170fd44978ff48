package device

import (
	"context"
	"slices"

	"mycel/internal/activity"
	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/syncer"
)

// Requests to the backup nodes to remove pages kept off sync from their
// stores, or to take them back (vault.RemoveFromNodes), go to each node
// when the device connects to it and whenever it is poked, until that
// node has carried them out (its answer is recorded per node address).

// sendRemovals sends the node at addr (peer p) the requests it has not
// carried out.
func (d *Device) sendRemovals(ctx context.Context, p objsync.PeerID, addr string) {
	rs, err := d.Engine.NodeRemovals(ctx)
	if err != nil {
		d.cfg.Log.Warn("read the requests to backup nodes", "err", err)
		return
	}
	for _, r := range rs {
		if !slices.Contains(r.Done, addr) {
			d.Service.SendRemove(ctx, p, d.Engine.SignNodeRemoval(r))
		}
	}
}

// sendRemovalsToAll sends the requests to every connected node.
func (d *Device) sendRemovalsToAll() {
	for _, n := range d.Nodes() {
		if n.Connected {
			d.sendRemovals(d.ctx, n.Peer, n.Addr)
		}
	}
}

// removed takes a node's answer. It runs on the sync loop, so nothing of
// it is done there: whoever holds d.mu may be waiting for the loop.
func (d *Device) removed(from objsync.PeerID, reply *pb.RemoveReply) {
	go func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.goTracked(func() { d.recordRemoval(from, reply) })
	}()
}

// recordRemoval records that a node carried out a request (or logs why
// not: the request goes again at the next connection or poke).
func (d *Device) recordRemoval(from objsync.PeerID, reply *pb.RemoveReply) {
	if len(reply.Object) != 32 {
		return
	}
	obj := change.ID(reply.Object)
	if reply.Error != "" {
		reason := syncer.BoundedReason(reply.Error)
		d.cfg.Log.Warn("the backup node did not carry out a request", "node", shortID(from), "object", obj.Short(), "restore", reply.Restore, "err", reason)
		if d.activity != nil {
			// Also in 'mycel log --errors': a warning alone reaches
			// no one who does not read up's output.
			what := "to remove the page from it"
			if reply.Restore {
				what = "to take the page back"
			}
			d.activity.add(activityKey{activity.NotCarriedOut, from, obj, what + ": " + reason}, 0, "")
		}
		return
	}
	addr := ""
	for _, n := range d.Nodes() {
		if n.Peer == from {
			addr = n.Addr
		}
	}
	if addr == "" {
		return
	}
	rs, err := d.Engine.NodeRemovals(d.ctx)
	if err != nil {
		return
	}
	r, ok := rs[obj]
	if !ok || r.Restore != reply.Restore {
		return // asked otherwise since: that goes next
	}
	if err := d.Engine.NodeRemovalDone(d.ctx, obj, r.TimeMs, addr); err != nil {
		d.cfg.Log.Warn("record a node's removal", "err", err)
		return
	}
	what := "removed from"
	if r.Restore {
		what = "restored on"
	}
	d.cfg.Log.Info("page "+what+" the backup node", "node", addr, "object", obj.Short())
}
