package syncer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"mycel/internal/change"
	"mycel/internal/objsync"
	"mycel/internal/reconcile"
	"mycel/internal/store"
)

// storeView shows a store.Store to the sync machine. A read that fails
// returns its error, never a made-up answer (no heads, nothing held): the
// machine then acts on nothing it read, and the service reports the error
// in status until a later read works (see failed).
//
// The machine walks an object's graph each time it works out what a peer
// lacks; stored changes never change, so the view keeps each graph it
// read and later reads only the changes stored since. Only the sync loop
// goroutine calls it.
type storeView struct {
	db     store.Store
	tx     store.Tx // while set, the read transaction every read shares (see within)
	graphs map[objsync.ID]*graph
	bytes  int    // what all graphs take (graph.bytes)
	budget int    // of bytes: maxGraphBytes (tests make it smaller)
	recent uint64 // graphs asked for last that stay: recentUses (likewise)
	uses   uint64 // graphs asked for, the clock of graph.used
	// The bytes of the first changes of the graph last read for the first
	// time, for the Raws that follow; each is dropped once given out.
	fresh     objsync.ID
	freshRaws map[objsync.ID][]byte
	// failed is the error of the last read, nil once one worked again.
	failed error
	// keepSet: the store's heads change only when a change is stored (a
	// node's: it never sets a change aside), so the set of objects is
	// kept while the store's last arrival number is the one it was built
	// at (see ObjectSet).
	keepSet bool
	set     *reconcile.Set
	setSeq  int64
	// With keepSet, each object's heads, and whether its graph holds all
	// its changes, are kept from one read transaction to the next until
	// a change of it is stored: within asks the store which objects have
	// changes stored since it last looked (one indexed range of arrival
	// numbers) and forgets those. On a node, relaying one change to the
	// nine other devices of a vault and taking their nine Heads read its
	// object's heads and new changes about eighteen times.
	checked bool  // within's transaction was looked at: the caches hold for it
	primed  bool  // seen is set
	seen    int64 // the caches hold for the changes stored up to this arrival number
	heads   map[objsync.ID][]objsync.ID
	current map[objsync.ID]bool // graphs holding every change stored up to seen
	// stored holds the bytes of the changes a commit just stored, while
	// its outcomes are reported: relaying them to the other peers then
	// reads nothing back (see Service.commitDone).
	stored map[objsync.ID][]byte

	// The objects kept off sync (Config.SyncOff), as of the list's
	// revision offRev, read again at each outermost within when the
	// revision changed; released are those given back since, for the
	// service to offer. offFailed: the list could not be read, so every
	// object is withheld until it can (a page just kept off must not go
	// out because its list was unreadable).
	syncOff   *SyncOff
	off       map[objsync.ID]bool
	offRev    uint64
	offRead   bool
	offFailed bool
	released  []objsync.ID

	// forgotten: objects purged during a read transaction, forgotten
	// again when the next one starts (see forgetObject).
	forgotten []objsync.ID
}

var _ objsync.Withholder = (*storeView)(nil)

// Withheld reports whether an object is kept off sync.
func (s *storeView) Withheld(obj objsync.ID) bool {
	return s.offFailed || (s.syncOff != nil && !s.offRead) || s.off[obj]
}

// readOff brings the list of objects kept off sync up to tx.
func (s *storeView) readOff(tx store.Tx) {
	if s.syncOff == nil {
		return
	}
	rev, err := s.syncOff.Rev(tx)
	if err == nil && s.offRead && rev == s.offRev {
		s.offFailed = false
		return
	}
	var off map[change.ID]bool
	if err == nil {
		off, err = s.syncOff.List(tx)
	}
	if err != nil {
		s.offFailed, s.failed = true, fmt.Errorf("read the pages kept off sync: %w", err)
		return
	}
	for id := range s.off {
		if !off[id] {
			s.released = append(s.released, id)
		}
	}
	next := make(map[objsync.ID]bool, len(off))
	for id := range off {
		next[id] = true
	}
	s.off, s.offRev, s.offRead, s.offFailed = next, rev, true, false
}

// graph is what the view knows of one object's graph.
type graph struct {
	g    objsync.Graph
	seqs []int64 // arrival number of each change
	used uint64  // when it was last asked for (storeView.uses)
	// counted is what storeView.bytes counts of it, while kept.
	counted int
}

// bytes is about what g takes in memory, kept with it (see storeView.bytes).
func (g *graph) bytes() int { return g.g.Bytes() + 8*cap(g.seqs) + 100 }

func (g *graph) last() int64 {
	if len(g.seqs) == 0 {
		return 0
	}
	return g.seqs[len(g.seqs)-1]
}

var _ objsync.SetStorage = (*storeView)(nil)

// maxRemembered bounds the objects whose heads the view keeps, and
// maxGraphBytes the memory of the graphs it keeps (some 70 bytes a
// change, a few hundred an object: 200,000 changes, or 15,000 small
// objects). What a sync works on at a time is what is in flight, a peer
// window's worth of changes for each peer, well within it: an object
// waiting its turn is read when its turn comes (not when its heads are
// told, nor at each reconciliation), and heads equal to ours need no
// graph, so a first sync reads each object's graph about once. (With
// 48 MB, what it took before those, a first sync of 100,000 objects
// ran no faster, 2 min 30 s against 2 min 24 s, and the node's peak RSS
// was 18 MB more.) A graph bigger than it all is kept alone.
const (
	maxRemembered = 1 << 20
	maxGraphBytes = 16 << 20
	// recentUses is how many of the last graphs asked for stay, whatever
	// the budget: more than the objects a peer window holds in flight.
	recentUses = 4096
)

func newStoreView(db store.Store) *storeView {
	return &storeView{db: db, graphs: map[objsync.ID]*graph{}, budget: maxGraphBytes, recent: recentUses, heads: map[objsync.ID][]objsync.ID{}, current: map[objsync.ID]bool{}}
}

// view runs a read in the shared transaction, or one of its own, and
// remembers whether it worked.
func (s *storeView) view(f func(store.Tx) error) error {
	var err error
	if s.tx != nil {
		err = f(s.tx)
	} else {
		err = s.db.View(context.Background(), f)
	}
	s.failed = err
	return err
}

// within runs f with the view's reads in one read transaction: the machine
// reads a little at a time, and a transaction for each read would cost
// more than the read. f must not write to the store (what it reads would
// not show the write).
func (s *storeView) within(f func()) {
	if s.tx != nil {
		f()
		return
	}
	ran := false
	err := s.db.View(context.Background(), func(tx store.Tx) error {
		s.tx, ran = nil, true
		for _, obj := range s.forgotten {
			s.forgetObject(obj)
		}
		s.forgotten = s.forgotten[:0]
		s.tx = tx
		s.checked = s.keepSet && s.catchUp(tx)
		s.readOff(tx)
		defer func() { s.tx, s.checked = nil, false }()
		f()
		return nil
	})
	if !ran { // no transaction to be had: each read tries on its own
		s.failed = err
		// Without a read of the list kept off sync: every object is
		// withheld meanwhile.
		was := s.offFailed
		s.offFailed = was || s.syncOff != nil
		f()
		s.offFailed = was
	}
}

// catchUp forgets what it kept of the objects with changes stored since
// it last looked, and says whether the rest holds for tx. The first look
// only notes where the store is: nothing is kept yet.
func (s *storeView) catchUp(tx store.Tx) bool {
	if !s.primed {
		last, err := tx.LastSeq()
		if err != nil {
			return false
		}
		s.seen, s.primed, s.failed = last, true, nil
		return true
	}
	objs, last, err := tx.ChangedBy(nil, s.seen)
	if err != nil {
		return false
	}
	s.failed = nil // the store reads: what is kept holds
	for _, o := range objs {
		delete(s.heads, o)
		delete(s.current, o)
	}
	s.seen = last
	return true
}

func (s *storeView) Objects() ([]reconcile.Item, error) {
	var out []reconcile.Item
	err := s.view(func(tx store.Tx) error {
		all, err := tx.AllHeads()
		if err != nil {
			return err
		}
		out = make([]reconcile.Item, 0, len(all))
		for obj, hs := range all {
			if s.Withheld(obj) {
				continue // never named to a peer (objsync.Withholder)
			}
			out = append(out, reconcile.Item{ID: obj, Value: objsync.HeadsHash(ids(hs))})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read every object's heads: %w", err)
	}
	return out, nil
}

// ObjectSet is the set of objects reconciliation compares. With keepSet,
// it is built once per state of the store, not once per session: a peer
// starting sessions in a loop would make each read every object's heads
// and hash them all again.
func (s *storeView) ObjectSet() (*reconcile.Set, error) {
	if !s.keepSet {
		items, err := s.Objects()
		if err != nil {
			return nil, err
		}
		return reconcile.NewSet(items), nil
	}
	var last int64
	if err := s.view(func(tx store.Tx) (err error) {
		last, err = tx.LastSeq()
		return err
	}); err != nil {
		return nil, fmt.Errorf("read the store's last change: %w", err)
	}
	if s.set != nil && last == s.setSeq {
		return s.set, nil
	}
	items, err := s.Objects()
	if err != nil {
		return nil, err
	}
	s.set, s.setSeq = reconcile.NewSet(items), last
	return s.set, nil
}

func (s *storeView) Heads(obj objsync.ID) ([]objsync.ID, error) {
	if hs, ok := s.heads[obj]; ok && s.checked {
		return slices.Clone(hs), nil
	}
	var out []objsync.ID
	err := s.view(func(tx store.Tx) error {
		hs, err := tx.Heads(change.ID(obj))
		out = ids(hs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the heads of %s: %w", change.ID(obj).Short(), err)
	}
	if s.checked {
		if len(s.heads) >= maxRemembered {
			clear(s.heads)
		}
		s.heads[obj] = slices.Clone(out)
	}
	return out, nil
}

// Has answers from obj's graph when the view knows it current (a node's:
// it never deletes a change), else from the store: a device's graph only
// grows, and may still hold changes set aside since.
func (s *storeView) Has(obj, id objsync.ID) (bool, error) {
	if g := s.graphs[obj]; g != nil && s.checked && s.current[obj] {
		if _, ok := g.g.Position(id); ok {
			return true, nil
		}
	}
	var have bool
	err := s.view(func(tx store.Tx) (err error) {
		have, err = tx.HasChange(change.ID(id))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("look for change %s: %w", change.ID(id).Short(), err)
	}
	return have, nil
}

func (s *storeView) Held(p objsync.PeerID) (map[objsync.ID][32]byte, error) {
	var out map[objsync.ID][32]byte
	err := s.view(func(tx store.Tx) error {
		held, err := tx.Held(string(p))
		if err != nil {
			return err
		}
		out = make(map[objsync.ID][32]byte, len(held))
		for obj, h := range held {
			out[obj] = h
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read what %s holds: %w", shortPeer(p), err)
	}
	return out, nil
}

// A graph is read a page at a time, so that a huge object's is never
// held as rows; the first read of one also brings the bytes of its first
// freshMax changes (freshBytes at most): a graph read for the first time
// is most often read to send it all (to a peer that has none of it), and
// a small object's bytes then come in the same read.
const (
	freshMax   = 1024
	freshBytes = 4 << 20
	graphPage  = 8192
)

func (s *storeView) Graph(obj objsync.ID) (*objsync.Graph, error) {
	g := s.graphs[obj]
	s.uses++
	if g != nil {
		g.used = s.uses
	}
	if g != nil && s.checked && s.current[obj] {
		if obj != s.fresh {
			s.fresh, s.freshRaws = obj, nil
		}
		return &g.g, nil
	}
	for attempt := 0; ; attempt++ {
		if g == nil {
			g = &graph{}
		}
		fresh, added, again, err := s.readGraph(obj, g)
		if s.graphs[obj] == g && added > 0 {
			// Grown: graphs kept since they were small (a device's,
			// as their changes arrive) count what they take now.
			s.bytes -= g.counted
			g.counted = g.bytes()
			s.bytes += g.counted
			s.makeRoom(0)
		}
		if err != nil {
			return nil, fmt.Errorf("read the changes of %s: %w", change.ID(obj).Short(), err)
		}
		if again && attempt == 0 {
			// A change it holds was stored again (removed, as a damaged
			// one is, then brought back): its positions no longer match
			// the arrival numbers. Read it whole again.
			s.forgetGraph(obj)
			g = nil
			continue
		}
		if fresh != nil || obj != s.fresh {
			s.fresh, s.freshRaws = obj, fresh
		}
		if s.graphs[obj] == nil {
			g.used = s.uses
			s.remember(obj, g)
		}
		if s.checked {
			s.current[obj] = true
		}
		return &g.g, nil
	}
}

// readGraph adds to g the object's changes stored since g's last, a page
// at a time, and returns the bytes read with the first page of a graph
// read for the first time (up to freshBytes of them); again reports a
// change stored twice.
func (s *storeView) readGraph(obj objsync.ID, g *graph) (fresh map[objsync.ID][]byte, added int, again bool, err error) {
	first := g.g.Len() == 0
	err = s.view(func(tx store.Tx) error {
		kept := 0
		for page, withRaw := freshMax, first; ; page, withRaw = graphPage, false {
			metas, raws, err := tx.ChangeRange(change.ID(obj), g.last(), page, withRaw)
			if err != nil {
				return err
			}
			for i, m := range metas {
				if withRaw && kept < freshBytes {
					if fresh == nil {
						fresh = make(map[objsync.ID][]byte, len(metas))
					}
					fresh[m.ID] = raws[i]
					kept += len(raws[i])
				}
				if !g.g.Add(m.ID, ids(m.Parents), m.Size) {
					again = true
					return nil
				}
				g.seqs = append(g.seqs, m.Seq)
				added++
			}
			if len(metas) < page {
				return nil
			}
		}
	})
	return fresh, added, again, err
}

// remember keeps g as obj's graph, making room if need be: the graphs
// used longest ago go, down to three quarters of the budget (so that the
// next ones read do not each make room again), but never one of those
// used in the last recentUses asks. What is in use is what is in flight
// to some peer, used again at each of its acknowledgements: a huge object
// being sent, bigger than the budget itself, is used at each window, with
// the graphs of the other objects acknowledged in between read beside it,
// and it stays.
func (s *storeView) remember(obj objsync.ID, g *graph) {
	need := g.bytes()
	s.makeRoom(need)
	s.graphs[obj] = g
	g.counted = need
	s.bytes += need
}

// makeRoom forgets the graphs used least recently, of those not among the
// last recent, until need more bytes fit in the budget (with a quarter of
// it to spare, so that it is not done at every graph).
func (s *storeView) makeRoom(need int) {
	if s.bytes+need > s.budget {
		type use struct {
			obj  objsync.ID
			used uint64
		}
		byUse := make([]use, 0, len(s.graphs))
		for o, h := range s.graphs {
			if s.uses-h.used >= s.recent {
				byUse = append(byUse, use{o, h.used})
			}
		}
		slices.SortFunc(byUse, func(a, b use) int { return cmp.Compare(a.used, b.used) })
		for _, u := range byUse {
			if s.bytes+need <= s.budget*3/4 {
				break
			}
			s.forgetGraph(u.obj)
		}
	}
}

// forgetGraph drops what the view keeps of obj's graph.
// forgetObject drops what the view kept of an object the store no longer
// holds (a node that purged it): its heads, its graph, and the set.
//
// The read transaction under way may be older than the purge: what it
// reads again is forgotten once more at the start of the next one.
func (s *storeView) forgetObject(obj objsync.ID) {
	delete(s.heads, obj)
	delete(s.current, obj)
	s.forgetGraph(obj)
	s.set = nil
	if s.tx != nil {
		s.forgotten = append(s.forgotten, obj)
	}
}

func (s *storeView) forgetGraph(obj objsync.ID) {
	if h := s.graphs[obj]; h != nil {
		s.bytes -= h.counted
		delete(s.graphs, obj)
	}
	delete(s.current, obj)
	if obj == s.fresh {
		s.freshRaws = nil
	}
}

// Raws gives the bytes kept from the graph's first read, and reads the
// rest in one range when they are most of it: what a peer lacks is most
// often a run of the graph.
func (s *storeView) Raws(obj objsync.ID, cs []objsync.ID) ([][]byte, error) {
	out := make([][]byte, len(cs))
	var rest []int // of cs, those still to read
	for i, id := range cs {
		if raw, ok := s.stored[id]; ok {
			out[i] = raw
		} else if raw, ok := s.freshRaws[id]; ok && obj == s.fresh {
			out[i] = raw
			delete(s.freshRaws, id)
		} else {
			rest = append(rest, i)
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	g := s.graphs[obj]
	lo, hi := -1, -1
	if g != nil {
		for _, i := range rest {
			p, ok := g.g.Position(cs[i])
			if !ok {
				lo = -1
				break
			}
			if lo < 0 || p < lo {
				lo = p
			}
			hi = max(hi, p)
		}
		if lo >= 0 && hi-lo+1 > 2*len(rest) {
			lo = -1 // most of the range is not wanted
		}
	}
	err := s.view(func(tx store.Tx) error {
		if lo < 0 {
			for _, i := range rest {
				var err error
				if out[i], err = rawAlone(tx, cs[i]); err != nil {
					return err
				}
			}
			return nil
		}
		metas, raws, err := tx.ChangeRange(change.ID(obj), g.seqs[lo]-1, hi-lo+1, true)
		if err != nil {
			return err
		}
		byID := make(map[objsync.ID][]byte, len(metas))
		for i, m := range metas {
			byID[m.ID] = raws[i]
		}
		for _, i := range rest {
			if out[i] = byID[cs[i]]; out[i] != nil {
				continue
			}
			// Not in the range (the graph kept is out of step with the
			// store): looked up alone.
			if out[i], err = rawAlone(tx, cs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read changes of %s: %w", change.ID(obj).Short(), err)
	}
	return out, nil
}

// rawAlone reads one change's bytes; nil for one gone from the store (the
// machine then sends what comes before it).
func rawAlone(tx store.Tx, id objsync.ID) ([]byte, error) {
	raw, err := tx.RawChange(change.ID(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return raw, err
}

func ids(cs []change.ID) []objsync.ID {
	out := make([]objsync.ID, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out
}
