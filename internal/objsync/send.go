package objsync

import "slices"

// sendMissing sends, in causal order and bounded batches, the changes of
// obj this side holds that are not in the closure of the peer's heads. It
// reports whether any are missing there.
//
// Two windows bound what is in flight to a peer, unacknowledged by its
// heads (which it sends after storing each batch, letting the next ones
// go): cfg.Window bytes of one object, so a huge object takes its turn
// with the others rather than filling the connection ahead of them; and
// cfg.PeerWindow bytes of all objects, so the messages queued for a peer
// are bounded whatever the vault's size. An object the peer window stops
// waits in the peer's backlog (see drain).
//
// The bytes are read a slice at a time, as far as the windows let them
// go, not all the peer lacks at once. Every read comes before any change
// to the peer's state, so a read that fails leaves it as it was.
func (m *Machine) sendMissing(pr *peer, obj ID, theirs, mine []ID) (bool, error) {
	order, held, err := m.missing(obj, theirs, mine)
	if err != nil {
		return false, err
	}
	if len(order) == 0 {
		m.setInflight(pr, obj, nil)
		return false, nil
	}
	// What the peer now holds is no longer in flight.
	flying := pr.inflight[obj]
	still := make(map[ID]int, len(flying))
	objAir := 0
	for _, id := range order {
		if n, ok := flying[id]; ok {
			still[id] = n
			objAir += n
		}
	}
	var send []ID
	for _, id := range order {
		if _, ok := still[id]; !ok {
			send = append(send, id)
		}
	}
	others := pr.inAir - sumSizes(flying) // in flight of the other objects
	var batches [][]Change
	var batch []Change
	size, blocked := 0, false
	for lo := 0; lo < len(send) && !blocked; lo += readAhead {
		ids := send[lo:min(lo+readAhead, len(send))]
		raws, err := m.store.Raws(obj, ids)
		if err != nil {
			return false, err
		}
		for i, id := range ids {
			raw := raws[i]
			if raw == nil {
				blocked = true // gone from the store: send what comes before it
				break
			}
			if objAir > 0 && objAir+len(raw) > m.cfg.Window {
				blocked = true
				break
			}
			if others+objAir > 0 && others+objAir+len(raw) > m.cfg.PeerWindow {
				blocked = true
				m.enqueue(pr, obj)
				break
			}
			if size > 0 && size+len(raw) > m.cfg.BatchBytes {
				batches = append(batches, batch)
				batch, size = nil, 0
			}
			batch = append(batch, Change{ID: id, Raw: raw})
			size += len(raw)
			objAir += len(raw)
			still[id] = len(raw)
		}
	}
	if len(batch) > 0 {
		batches = append(batches, batch)
	}
	m.setInflight(pr, obj, still)
	for _, b := range batches {
		m.send(pr.id, Message{Kind: Changes, Object: obj, Heads: mine, Changes: b, Held: held})
	}
	pr.told[obj] = HeadsHash(mine)
	return true, nil
}

// readAhead is how many changes sendMissing reads at a time.
const readAhead = 512

// setInflight sets what of obj is in flight to the peer, keeping the
// peer's total.
func (m *Machine) setInflight(pr *peer, obj ID, sizes map[ID]int) {
	pr.inAir -= sumSizes(pr.inflight[obj])
	if len(sizes) == 0 {
		delete(pr.inflight, obj)
		return
	}
	pr.inflight[obj] = sizes
	pr.inAir += sumSizes(sizes)
}

func sumSizes(sizes map[ID]int) int {
	n := 0
	for _, s := range sizes {
		n += s
	}
	return n
}

// enqueue puts obj in the peer's backlog, once.
func (m *Machine) enqueue(pr *peer, obj ID) {
	if !pr.inBacklog[obj] {
		pr.inBacklog[obj] = true
		pr.backlog = append(pr.backlog, obj)
	}
}

// drain sends what the objects in the peer's backlog lack, first come
// first served, while its window has room: called whenever the peer's
// heads may have acknowledged something. An object that the window
// stops again goes back in the backlog, and the drain ends there.
func (m *Machine) drain(pr *peer) error {
	for len(pr.backlog) > 0 && pr.inAir < m.cfg.PeerWindow {
		obj := pr.backlog[0]
		theirs, known := pr.heads[obj]
		var mine []ID
		if known {
			var err error
			if mine, err = m.store.Heads(obj); err != nil {
				return err
			}
		}
		pr.backlog = pr.backlog[1:]
		delete(pr.inBacklog, obj)
		if !known {
			continue // it was forgotten (see finishRecon): offered again there
		}
		if _, err := m.sendMissing(pr, obj, theirs, mine); err != nil {
			m.enqueue(pr, obj) // tried again at the next drain
			return err
		}
		if pr.inBacklog[obj] {
			return nil // the window is full again
		}
	}
	if len(pr.backlog) == 0 {
		pr.backlog = nil // let the array go
	}
	return nil
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
