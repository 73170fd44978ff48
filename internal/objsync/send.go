package objsync

import "slices"

// sendMissing sends, in causal order and bounded batches, the changes of
// obj this side holds that are not in the closure of the peer's heads. It
// reports whether any are missing there.
//
// At most cfg.Window bytes of one object are in flight to a peer: the
// peer's heads, which it sends after storing each batch, let the next
// ones go. So a huge object takes its turn with the others rather than
// filling the connection ahead of them.
//
// Every read comes before any change to the peer's state, so a read that
// fails leaves it as it was.
func (m *Machine) sendMissing(pr *peer, obj ID, theirs, mine []ID) (bool, error) {
	order, held, err := m.missing(obj, theirs, mine)
	if err != nil {
		return false, err
	}
	if len(order) == 0 {
		delete(pr.inflight, obj)
		return false, nil
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
	var send []ID
	for _, id := range order {
		if _, ok := still[id]; !ok {
			send = append(send, id)
		}
	}
	raws, err := m.store.Raws(obj, send)
	if err != nil {
		return false, err
	}
	pr.inflight[obj] = still
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
	pr.told[obj] = HeadsHash(mine)
	return true, nil
}

// missing lists, parents first, our changes of obj (up to mine) that are
// not in the closure of theirs; and how many changes of obj we hold.
func (m *Machine) missing(obj ID, theirs, mine []ID) ([]ID, int, error) {
	graph, err := m.store.Graph(obj)
	if err != nil {
		return nil, 0, err
	}
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
	return order, len(graph), nil
}

// PeerObject is what this side knows of one object at one connected peer.
type PeerObject struct {
	Peer       PeerID
	Reconciled bool // a reconciliation with the peer has completed
	Known      bool // the peer has said which heads of the object it holds
	// HasMine: the peer said it holds every change of our current heads
	// (its own word, this connection or an earlier one).
	HasMine  bool
	Outgoing int  // changes of ours the peer lacks (when Known)
	Incoming bool // the peer holds changes we lack
	// While Incoming, and once the peer has sent some: how many of its
	// changes we lack, and how many the object has in all, so that a
	// download shows "Have of Total" (exact for a download; with changes
	// on both sides, counted as if the peer held all of ours).
	IncomingCount int
	Have, Total   int
	Failed        bool // changes from the peer were refused
}

// Object reports, for each connected peer in id order, what it holds of
// obj.
func (m *Machine) Object(obj ID) ([]PeerObject, error) {
	mine, err := m.store.Heads(obj)
	if err != nil {
		return nil, err
	}
	myHash := HeadsHash(mine)
	var out []PeerObject
	for _, pr := range m.sorted() {
		po := PeerObject{Peer: pr.id, Reconciled: pr.reconciled, Failed: pr.failed[obj]}
		if h, ok := pr.held[obj]; ok {
			po.Known = true
			if h == myHash {
				po.HasMine = true
			} else if theirs, ok := pr.heads[obj]; ok {
				var missing []ID
				if missing, po.Have, err = m.missing(obj, theirs, mine); err != nil {
					return nil, err
				}
				po.Outgoing = len(missing)
				po.HasMine = po.Outgoing == 0
				for _, t := range theirs {
					have, err := m.store.Has(t)
					if err != nil {
						return nil, err
					}
					if !have {
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
	return out, nil
}
