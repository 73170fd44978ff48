package objsync

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
// Which changes fit in the windows is told by the sizes the graph knows,
// and only their bytes are read, not all the peer lacks. Every read comes
// before any change to the peer's state, so a read that fails leaves it
// as it was.
func (m *Machine) sendMissing(pr *peer, obj ID, theirs, mine []ID) (bool, error) {
	if len(mine) == 0 || m.withheld(obj) {
		// We hold none of it: nothing to send, and no graph to read (a
		// fresh device is told the heads of every object of the vault;
		// it read, and kept, an empty graph for each).
		m.setInflight(pr, obj, nil)
		return false, nil
	}
	g, lack, n, err := m.missing(obj, theirs, mine)
	if err != nil {
		return false, err
	}
	if n == 0 {
		m.setInflight(pr, obj, nil)
		return false, nil
	}
	// What the peer now holds is no longer in flight.
	var flying map[ID]int
	if f := pr.flights[obj]; f != nil {
		flying = f.sizes
	}
	still := make(map[ID]int, len(flying))
	objAir := 0
	for id, size := range flying {
		if i, ok := g.Position(id); ok && lack.has(i) {
			still[id] = size
			objAir += size
		}
	}
	acked := len(still) < len(flying)
	// The changes that fit in the windows, by the sizes the graph knows;
	// the bytes of those only are read.
	others := pr.inAir - sumSizes(flying) // in flight of the other objects
	var send []ID
	air := objAir
	full := false
	lack.each(func(i int) bool {
		id := g.ID(i)
		if _, ok := still[id]; ok {
			return true
		}
		size := g.Size(i)
		if air > 0 && air+size > m.cfg.Window {
			return false
		}
		if others+air > 0 && others+air+size > m.cfg.PeerWindow {
			full = true
			return false
		}
		send = append(send, id)
		air += size
		return true
	})
	raws, err := m.store.Raws(obj, send)
	if err != nil {
		return false, err
	}
	if full {
		m.enqueue(pr, obj)
	}
	var batch []Change
	size := 0
	flush := func() {
		if len(batch) > 0 {
			m.send(pr.id, Message{Kind: Changes, Object: obj, Heads: mine, Changes: batch, Held: g.Len()})
			batch, size = nil, 0
		}
	}
	for i, id := range send {
		raw := raws[i]
		if raw == nil {
			break // gone from the store: send what comes before it
		}
		if size > 0 && size+len(raw) > m.cfg.BatchBytes {
			flush()
		}
		batch = append(batch, Change{ID: id, Raw: raw})
		size += len(raw)
		still[id] = len(raw)
	}
	flush()
	m.setInflight(pr, obj, still)
	if f := pr.flights[obj]; f != nil {
		if acked {
			pr.events++
			f.ackedAt = pr.events
		}
		if len(send) > 0 {
			pr.events++
			f.sentAt = pr.events
		}
	}
	pr.setTold(obj, HeadsHash(mine))
	return true, nil
}

// setInflight sets what of obj is in flight to the peer, keeping the
// peer's total.
func (m *Machine) setInflight(pr *peer, obj ID, sizes map[ID]int) {
	f := pr.flights[obj]
	if f != nil {
		pr.inAir -= sumSizes(f.sizes)
	}
	if len(sizes) == 0 {
		delete(pr.flights, obj)
		return
	}
	if f == nil {
		f = &inFlight{}
		pr.flights[obj] = f
	}
	f.sizes = sizes
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
		// An object waits only once its peer's heads are known
		// (sendMissing, and stepHeads for a peer that holds none of it,
		// put it here), and they are never forgotten.
		obj := pr.backlog[0]
		mine, err := m.store.Heads(obj)
		if err != nil {
			return err
		}
		pr.backlog = pr.backlog[1:]
		delete(pr.inBacklog, obj)
		theirs, _ := pr.theirHeads(obj)
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

// missing marks, in obj's graph, our changes (up to mine) that are not in
// the closure of theirs, and counts them.
func (m *Machine) missing(obj ID, theirs, mine []ID) (*Graph, bitset, int, error) {
	g, err := m.store.Graph(obj)
	if err != nil {
		return nil, nil, 0, err
	}
	if g == nil {
		g = &Graph{}
	}
	lack, n := g.lacking(mine, theirs)
	return g, lack, n, nil
}

// PeerObject is what this side knows of one object at one connected peer.
type PeerObject struct {
	Peer       PeerID
	Reconciled bool // a reconciliation with the peer has completed
	Known      bool // the peer has said which heads of the object it holds
	// HasMine: the peer said it holds every change of our current heads
	// (its own word, this connection or an earlier one).
	HasMine  bool
	Outgoing int // changes of ours the peer lacks (when Known)
	// OutgoingBytes is what those changes take, as stored.
	OutgoingBytes int64
	Incoming      bool // the peer holds changes we lack
	// While Incoming, and once the peer has sent some: how many of its
	// changes we lack, and how many the object has in all, so that a
	// download shows "Have of Total" (exact for a download; with changes
	// on both sides, counted as if the peer held all of ours).
	IncomingCount int
	Have, Total   int
	Failed        bool // changes from the peer were refused
}

// Lacks says how many changes of ours, and how many bytes, a peer that
// holds theirs lacks of obj: for a peer not connected, by the heads it
// last said it holds.
// With mine nil, our heads are read; else they are mine (read by the
// caller for many objects at once).
func (m *Machine) Lacks(obj ID, theirs, mine []ID) (int, int64, error) {
	if mine == nil {
		var err error
		if mine, err = m.store.Heads(obj); err != nil {
			return 0, 0, err
		}
	}
	g, lack, n, err := m.missing(obj, theirs, mine)
	if err != nil || n == 0 {
		return 0, 0, err
	}
	var b int64
	lack.each(func(i int) bool { b += int64(g.Size(i)); return true })
	return n, b, nil
}

// Object reports, for each connected peer in id order, what it holds of
// obj.
func (m *Machine) Object(obj ID) ([]PeerObject, error) {
	mine, err := m.store.Heads(obj)
	if err != nil {
		return nil, err
	}
	return m.ObjectAt(obj, mine)
}

// ObjectAt is Object with our heads of obj given (read by the caller, for
// many objects at once: a vault's status).
func (m *Machine) ObjectAt(obj ID, mine []ID) ([]PeerObject, error) {
	myHash := HeadsHash(mine)
	var out []PeerObject
	for _, pr := range m.sorted() {
		po := PeerObject{Peer: pr.id, Reconciled: pr.reconciled, Failed: pr.failed[obj]}
		if o := pr.at(obj); o != nil && o.hasHeld {
			po.Known = true
			if o.held == myHash {
				po.HasMine = true
			} else if o.hasHeads {
				theirs := o.heads
				g, lack, n, err := m.missing(obj, theirs, mine)
				if err != nil {
					return nil, err
				}
				po.Outgoing, po.Have = n, g.Len()
				if n > 0 {
					lack.each(func(i int) bool { po.OutgoingBytes += int64(g.Size(i)); return true })
				}
				po.HasMine = po.Outgoing == 0
				for _, t := range theirs {
					have, err := m.store.Has(obj, t)
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
				if n := o.count; po.Incoming && n > 0 {
					po.IncomingCount = max(n-po.Have, 1)
					po.Total = po.Have + po.IncomingCount
				}
			}
		}
		out = append(out, po)
	}
	return out, nil
}
