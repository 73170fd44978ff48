package device

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"mycel/internal/change"
	"mycel/internal/chunkstore"
	"mycel/internal/files"
	"mycel/internal/objsync"
	"mycel/internal/p2p"
	"mycel/internal/pb"
	"mycel/internal/vault"
)

// How the device moves file chunks to and from nodes.
const (
	// smallFile: a file with at most this much left goes on the small
	// lane, so a photo never waits behind a 200 MB file.
	smallFile = 4 << 20
	// recheckEvery: how often an idle uploader looks again (for chunks a
	// node lost, and after a refusal), besides at every local write.
	recheckEvery = 20 * time.Second
)

// Lanes: each node gets two chunk streams.
const (
	laneSmall = iota
	laneLarge
	lanes
)

// fileMover uploads the chunks the vault's changes reference to every
// connected node, and fetches a file's chunks on demand. What a node said
// it holds is persisted per chunk (chunk_held) before it counts, so an
// upload killed midway resumes where it stopped: at most the chunks in
// flight (one a lane) are sent again.
type fileMover struct {
	d *Device

	mu    sync.Mutex
	nodes map[objsync.PeerID]*nodeLink
	// uploading is what each object's files have left to upload, as the
	// last pass found (for status).
	uploading map[change.ID]map[string]*fileUpload
	wanted    map[change.ID]bool    // pages whose files are being fetched
	lan       map[peer.ID]*nodeLink // devices nearby, by LAN id (lanfiles.go)
	// linked is closed (and replaced) when a node connects: a fetch that
	// found none waits for one a while (a connection being redialed).
	linked chan struct{}
}

// nodeLink is a connected peer's chunk streams: a node's, or a device's
// on the LAN (lanfiles.go).
type nodeLink struct {
	peer objsync.PeerID
	id   peer.ID
	addr string
	// dial opens a chunk stream to it (nil: a node, by DialNodeChunks).
	dial func(ctx context.Context) (*p2p.ChunkClient, error)
	// wake (buffered 1) and dirty: a local write happened (poke).
	wake  chan struct{}
	dirty atomic.Bool

	mu      sync.Mutex
	clients [lanes]*p2p.ChunkClient
	dialing [lanes]sync.Mutex // a lane's stream dialed once, however many wait for it
	refused string            // the node's whole reason, when it refused an upload
	usage   p2p.Usage         // as the node's last reply said
	// refusedAt is the usage when it refused: uploads wait until it shows
	// room (less used, another limit), so a refused chunk is not sent
	// again at every pass.
	refusedAt p2p.Usage
}

func (l *nodeLink) setUsage(u p2p.Usage) {
	l.mu.Lock()
	l.usage = u
	l.mu.Unlock()
}

// fileUpload is one file's upload to a node.
type fileUpload struct {
	name       string
	size, done int64
	fileID     string
	object     change.ID
	left       []files.Address // chunks still to put, in order
	sizes      map[files.Address]int64
	// partial: some chunk of it is neither on the node nor here (another
	// device has it): uploading the rest does not pin the file.
	partial bool
}

func newFileMover(d *Device) *fileMover {
	return &fileMover{d: d, nodes: map[objsync.PeerID]*nodeLink{}, uploading: map[change.ID]map[string]*fileUpload{}, linked: make(chan struct{})}
}

// poke wakes the uploaders (a local write may reference new chunks).
func (m *fileMover) poke() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.nodes {
		l.poke()
	}
}

// poke wakes the link's uploader; one uploading stops at its next chunk
// boundary and plans again, so a photo added during a 200 MB upload
// takes the small lane at once.
func (l *nodeLink) poke() {
	l.dirty.Store(true)
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// errReplan ends a pass early: something new may go first.
var errReplan = errors.New("new chunks to plan")

// watchStored wakes the uploaders whenever this process stores a change
// (writes by other processes poke the device through the API).
func (d *Device) watchStored() {
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.Engine.Stored():
			d.files.poke()
		}
	}
}

// nodeUp starts uploading to a node just connected; the returned function
// stops it (the connection ended) and waits.
func (m *fileMover) nodeUp(ctx context.Context, p objsync.PeerID, addr string) func() {
	id, err := peer.Decode(string(p))
	if err != nil {
		return func() {}
	}
	l := &nodeLink{peer: p, id: id, addr: addr, wake: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(ctx)
	m.mu.Lock()
	m.nodes[p] = l
	close(m.linked)
	m.linked = make(chan struct{})
	m.mu.Unlock()
	done := make(chan struct{})
	m.d.mu.Lock()
	started := m.d.goTracked(func() { defer close(done); m.uploadLoop(ctx, l) })
	m.d.mu.Unlock()
	if !started {
		close(done)
	}
	return func() {
		cancel()
		<-done
		m.mu.Lock()
		if m.nodes[p] == l {
			delete(m.nodes, p)
		}
		m.mu.Unlock()
		l.mu.Lock()
		for _, c := range l.clients {
			if c != nil {
				c.Close()
			}
		}
		l.mu.Unlock()
	}
}

// client is the node's chunk stream for a lane, dialed on first use and
// again once it failed. Several callers may use it at once: the stream
// carries their requests in order.
func (m *fileMover) client(ctx context.Context, l *nodeLink, lane int) (*p2p.ChunkClient, error) {
	l.dialing[lane].Lock()
	defer l.dialing[lane].Unlock()
	l.mu.Lock()
	c := l.clients[lane]
	l.mu.Unlock()
	if c != nil && c.Err() == nil {
		return c, nil
	}
	var err error
	if l.dial != nil {
		c, err = l.dial(ctx)
	} else {
		var recs [][]byte
		if recs, err = m.d.Engine.MemberRecords(ctx); err == nil {
			c, err = p2p.DialNodeChunks(ctx, m.d.Host, l.id, m.d.Engine.VaultID(), recs)
		}
	}
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if old := l.clients[lane]; old != nil {
		old.Close()
	}
	l.clients[lane] = c
	l.mu.Unlock()
	return c, nil
}

// onLane runs f, one request, with the lane's client. A stream that
// broke under f (libp2p closed a duplicate connection, say) is dialed
// again and f tried once more: every request is idempotent.
func (m *fileMover) onLane(ctx context.Context, l *nodeLink, lane int, f func(*p2p.ChunkClient) error) error {
	var err error
	for try := 0; try < 2; try++ {
		var c *p2p.ChunkClient
		if c, err = m.client(ctx, l, lane); err != nil {
			return err
		}
		if err = f(c); err == nil || c.Err() == nil || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// uploadLoop runs upload passes while the node is connected: at once, at
// every local write, and every recheckEvery.
func (m *fileMover) uploadLoop(ctx context.Context, l *nodeLink) {
	log := m.d.cfg.Log
	t := time.NewTimer(0)
	defer t.Stop()
	lost := true // look for chunks the node lost once per connection
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			lost = true
		case <-l.wake:
		}
		if lost {
			if err := m.relist(ctx, l); err != nil && ctx.Err() == nil {
				log.Info("ask the node which chunks it lacks", "node", l.addr, "err", err)
			}
			lost = false
		}
		l.dirty.Store(false)
		if err := m.pass(ctx, l); err != nil && ctx.Err() == nil && !errors.Is(err, errReplan) {
			log.Info("upload files", "node", l.addr, "err", err)
		}
		t.Reset(recheckEvery)
	}
}

// relist asks the node which referenced chunks it does not hold, and
// forgets that it held them: those this device has are uploaded again.
func (m *fileMover) relist(ctx context.Context, l *nodeLink) error {
	var after files.Address
	for {
		var page []files.Address
		var more bool
		err := m.onLane(ctx, l, laneSmall, func(c *p2p.ChunkClient) error {
			var err error
			page, after, more, err = c.Missing(ctx, after)
			return err
		})
		if err != nil {
			return err
		}
		if err := m.d.Engine.SetChunkHeld(ctx, string(l.peer), page, false); err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
}

// pass asks the node about every referenced chunk it has not confirmed
// (Has, in batches), persists its word, then puts those this device
// holds, file by file: small files on their own lane, files in order of
// size.
func (m *fileMover) pass(ctx context.Context, l *nodeLink) error {
	e := m.d.Engine

	cs, err := e.Chunks()
	if err != nil {
		return err
	}
	var notHeld []files.Address
	var after files.Address
	for {
		page, err := e.ChunksNotHeld(ctx, string(l.peer), after, p2p.MaxChunkBatch)
		if err != nil {
			return err
		}
		notHeld = append(notHeld, page...)
		if len(page) < p2p.MaxChunkBatch {
			break
		}
		after = page[len(page)-1]
	}
	if notHeld, err = e.Shareable(ctx, notHeld); err != nil {
		return err
	}
	// Has first: it finds the Puts that landed before a kill -9, and the
	// chunks another device uploaded.
	for batch := range slices.Chunk(notHeld, p2p.MaxChunkBatch) {
		var have []bool
		err := m.onLane(ctx, l, laneSmall, func(c *p2p.ChunkClient) error {
			var u p2p.Usage
			var err error
			have, u, err = c.Has(ctx, batch)
			l.setUsage(u)
			return err
		})
		if err != nil {
			return err
		}
		var held []files.Address
		for i, h := range have {
			if h {
				held = append(held, batch[i])
			}
		}
		if err := e.SetChunkHeld(ctx, string(l.peer), held, true); err != nil {
			return err
		}
	}
	left := map[files.Address]bool{}
	for _, a := range notHeld {
		if cs.Has(a) {
			left[a] = true
		}
	}
	held, err := e.ChunkHeld(ctx, string(l.peer), notHeld)
	if err != nil {
		return err
	}
	missing := map[files.Address]bool{} // neither on the node nor here
	for i, a := range notHeld {
		if held[i] {
			delete(left, a)
		} else if !left[a] {
			missing[a] = true
		}
	}
	l.mu.Lock()
	refused := l.refused
	if refused != "" && (l.usage.Quota != l.refusedAt.Quota || l.usage.Used < l.refusedAt.Used) {
		// The limit moved, or the vault holds less than when refused:
		// there may be room now. (A reconnection starts afresh too.)
		refused, l.refused = "", ""
	}
	l.mu.Unlock()
	if len(left) == 0 || refused != "" {
		m.setUploads(nil)
		return nil
	}
	ups, err := m.plan(ctx, left, missing)
	if err != nil {
		return err
	}
	m.setUploads(ups)
	var small, large []*fileUpload
	for _, u := range ups {
		if u.size-u.done <= smallFile {
			small = append(small, u)
		} else {
			large = append(large, u)
		}
	}
	if len(small) == 0 {
		// No small file waits: the large ones take both lanes, their
		// chunks dealt alternately (a small file added meanwhile stops
		// this pass at the next chunk and gets its lane back).
		for _, u := range large {
			v := &fileUpload{name: u.name, size: u.size, fileID: u.fileID, object: u.object, sizes: u.sizes, partial: u.partial}
			var mine []files.Address
			for i, a := range u.left {
				if i%2 == 0 {
					mine = append(mine, a)
				} else {
					v.left = append(v.left, a)
				}
			}
			u.left = mine
			if len(v.left) > 0 {
				small = append(small, v)
			}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, lanes)
	for lane, list := range [][]*fileUpload{small, large} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A refusal or a failure stops both lanes; a replan lets the
			// other finish its chunk (a cancel would break its stream).
			if errs[lane] = m.putFiles(ctx, l, lane, list); errs[lane] != nil && !errors.Is(errs[lane], errReplan) {
				cancel()
			}
		}()
	}
	wg.Wait()
	m.setUploads(nil)
	err = errors.Join(errs...)
	if err == nil {
		m.d.activity.pinned(l.peer, ups) // every chunk of them confirmed
	}
	return err
}

// plan groups the chunks left to upload by file, smallest first; chunks
// no file of a page's current state names (history's) go last.
func (m *fileMover) plan(ctx context.Context, left, missing map[files.Address]bool) ([]*fileUpload, error) {
	e := m.d.Engine
	cs, _ := e.Chunks()
	objs, err := e.List(ctx, vault.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	placed := map[files.Address]bool{}
	var ups []*fileUpload
	for _, o := range objs {
		refs, err := e.ObjectChunks(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(refs, func(a files.Address) bool { return left[a] }) {
			continue
		}
		fs, err := e.Files(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			if f.Manifest == nil {
				continue
			}
			u := &fileUpload{name: f.Manifest.Name, size: int64(f.Manifest.Size), fileID: f.Manifest.ID(), object: o.ID, sizes: map[files.Address]int64{}}
			var all []files.Ref
			if f.Manifest.Index != nil {
				all = append(all, *f.Manifest.Index)
			}
			rs, err := e.FileKeys().Refs(f.Manifest, cs.Get)
			if err != nil {
				continue // its list is not here: another device uploads it
			}
			all = append(all, rs...)
			for _, r := range all {
				n := int64(r.Size)
				if f.Manifest.Index != nil && r.Address == f.Manifest.Index.Address {
					n = 0 // the list itself is not the file's bytes
				}
				if !left[r.Address] || placed[r.Address] {
					u.done += n
					u.partial = u.partial || missing[r.Address]
					continue
				}
				placed[r.Address] = true
				u.sizes[r.Address] += n
				u.left = append(u.left, r.Address)
			}
			if len(u.left) > 0 {
				ups = append(ups, u)
			}
		}
	}
	var rest []files.Address
	for a := range left {
		if !placed[a] {
			rest = append(rest, a)
		}
	}
	if len(rest) > 0 {
		slices.SortFunc(rest, func(x, y files.Address) int { return bytes.Compare(x[:], y[:]) })
		ups = append(ups, &fileUpload{name: "earlier versions' files", left: rest, sizes: map[files.Address]int64{}, size: 1 << 62})
	}
	slices.SortStableFunc(ups, func(a, b *fileUpload) int { return cmp.Compare(a.size-a.done, b.size-b.done) })
	return ups, nil
}

// putFiles uploads files' chunks on one lane, taking turns chunk by
// chunk, so no file waits for all of another; several chunks are in
// flight at once (lanePipe). What the node confirmed is persisted in
// groups (heldBatch): a kill -9 loses at most a group's confirmations,
// and the next pass's Has finds those chunks held without sending them.
func (m *fileMover) putFiles(ctx context.Context, l *nodeLink, lane int, list []*fileUpload) error {
	e := m.d.Engine
	cs, _ := e.Chunks()
	type sent struct {
		u *fileUpload
		a files.Address
	}
	p := newPipe[sent](m, l, lane)
	var acked []files.Address
	lastFlush := time.Now()
	flush := func() error {
		if len(acked) == 0 {
			return nil
		}
		// Kept even when the pass is cancelled: the node holds them.
		err := e.SetChunkHeld(context.WithoutCancel(ctx), string(l.peer), acked, true)
		acked, lastFlush = acked[:0], time.Now()
		return err
	}
	settle := func() error {
		s, err := p.pop(ctx)
		var r *p2p.ChunkRefusal
		if errors.As(err, &r) && (r.Code == pb.ChunkReply_QUOTA || r.Code == pb.ChunkReply_REFUSED) {
			l.mu.Lock()
			l.refused, l.refusedAt = r.Reason, l.usage
			l.mu.Unlock()
		}
		if err != nil {
			return err
		}
		acked = append(acked, s.a)
		m.mu.Lock()
		s.u.done += s.u.sizes[s.a]
		m.mu.Unlock()
		if len(acked) >= heldBatch || time.Since(lastFlush) >= heldEvery {
			return flush()
		}
		return nil
	}
	err := func() error {
		put := 0
		for len(list) > 0 {
			var next []*fileUpload
			for _, u := range list {
				if len(u.left) == 0 {
					continue
				}
				if put > 0 && l.dirty.Load() { // at least a chunk a pass: no livelock under many writes
					return errReplan
				}
				m.mu.Lock()
				a := u.left[0]
				u.left = u.left[1:]
				m.mu.Unlock()
				if len(u.left) > 0 {
					next = append(next, u)
				}
				sealed, err := cs.Get(a)
				if err != nil { // removed meanwhile: nothing to send
					continue
				}
				for p.full() {
					if err := settle(); err != nil {
						return err
					}
				}
				err = p.push(ctx, &laneReq[sent]{what: sent{u, a}, size: len(sealed), send: func(ctx context.Context, c *p2p.ChunkClient) func(context.Context) error {
					call := c.SendPut(ctx, a, sealed)
					return func(ctx context.Context) error {
						u, err := call.Wait(ctx)
						l.setUsage(u)
						return err
					}
				}})
				if err != nil {
					return err
				}
				put++
			}
			list = next
		}
		return nil
	}()
	// What was sent is settled either way: a replan lets the chunks in
	// flight land (a cancel would break the stream), a failure keeps
	// what the node confirmed before it.
	for p.busy() && (err == nil || errors.Is(err, errReplan)) {
		err = cmp.Or(settle(), err)
	}
	return cmp.Or(flush(), err)
}

// Confirmations are persisted every heldBatch chunks or heldEvery,
// whichever comes first (status reads them).
const (
	heldBatch = 32
	heldEvery = 250 * time.Millisecond
)

func (m *fileMover) setUploads(ups []*fileUpload) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uploading = map[change.ID]map[string]*fileUpload{}
	for _, u := range ups {
		if m.uploading[u.object] == nil {
			m.uploading[u.object] = map[string]*fileUpload{}
		}
		m.uploading[u.object][u.fileID] = u
	}
}

// refusal is a connected node's reason for refusing uploads ("" if none).
func (m *fileMover) refusal() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.nodes {
		l.mu.Lock()
		r := l.refused
		l.mu.Unlock()
		if r != "" {
			return r
		}
	}
	return ""
}

// filesAtOnce is how many files FetchFiles fetches at once: a photo of
// four chunks cannot fill a lane's pipe by itself.
const filesAtOnce = 4

// FetchFiles fetches several files, smallest first, up to filesAtOnce at
// once (they share the lanes' streams). Every file is tried; the errors
// of those that failed are joined.
func (d *Device) FetchFiles(ctx context.Context, ms []*files.Manifest) error {
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b *files.Manifest) int { return cmp.Compare(a.Size, b.Size) })
	var g errgroup.Group
	g.SetLimit(filesAtOnce)
	var mu sync.Mutex
	var errs []error
	for _, m := range ms {
		g.Go(func() error {
			if err := d.FetchFile(ctx, m); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	g.Wait()
	return errors.Join(errs...)
}

// ErrNoHolder is a file chunk no connected node or device holds.
var ErrNoHolder = errors.New("no connected device or node holds it")

// FetchFile brings the chunks of a file this device lacks from devices
// nearby or a connected node, each checked against its address before it
// is stored; it returns once the whole file is here. A small file takes
// the small lane only, so it is not stuck behind a large one; a large one
// takes both, and a small file's request waits for one chunk at most.
func (d *Device) FetchFile(ctx context.Context, fm *files.Manifest) error {
	e := d.Engine
	failures := 0
	for {
		h, err := e.Here(fm)
		if err != nil {
			return err
		}
		if h.Complete() {
			return nil
		}
		links, err := d.fetchLinks(ctx)
		if err != nil {
			return err
		}
		if len(links) == 0 {
			return fmt.Errorf("%s: %w (no backup node or device nearby is connected)", fm.Name, ErrNoHolder)
		}
		all := make([]chunkWant, len(h.Missing))
		for i, a := range h.Missing {
			all[i] = chunkWant{a: a, size: int(h.MissingSizes[i]) + files.Overhead}
		}
		parts := [][]chunkWant{all}
		if fm.Size > smallFile && len(all) > 1 {
			var even, odd []chunkWant
			for i, w := range all {
				if i%2 == 0 {
					even = append(even, w)
				} else {
					odd = append(odd, w)
				}
			}
			parts = [][]chunkWant{even, odd}
		}
		errs := make([]error, len(parts))
		var wg sync.WaitGroup
		for i, part := range parts {
			lane := laneSmall
			if len(parts) > 1 {
				lane = i
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = d.fetchChunks(ctx, fm, links, lane, part, h.Have)
			}()
		}
		wg.Wait()
		err = errors.Join(errs...)
		if err == nil {
			continue // Here again: a large file's list is read once its index is here
		}
		if errors.Is(err, ErrNoHolder) || errors.Is(err, chunkstore.ErrFull) {
			return err
		}
		// A connection that dropped is redialed: look again for whom to
		// ask, a few times.
		if failures++; failures >= 3 || ctx.Err() != nil {
			return fmt.Errorf("fetch %s: %w", fm.Name, err)
		}
	}
}

// chunkWant is a chunk to fetch and its sealed size.
type chunkWant struct {
	a    files.Address
	size int
}

// fetchChunks fetches chunks on one lane, several in flight (lanePipe),
// from the first of links; a chunk it lacks, or one that failed there, is
// asked of the others in turn. Each is stored as it comes while the next
// ones cross.
func (d *Device) fetchChunks(ctx context.Context, fm *files.Manifest, links []*nodeLink, lane int, ws []chunkWant, had int) error {
	cs, err := d.Engine.Chunks()
	if err != nil {
		return err
	}
	store := func(a files.Address, sealed []byte) error {
		// Checked as it arrived (GetCall.Wait): not hashed again.
		if _, err := cs.PutChecked(a, sealed); errors.Is(err, chunkstore.ErrFull) {
			return fmt.Errorf("fetch %s: this device's disk is full: free some space and get it again (the %d chunks here are kept): %w", fm.Name, had, err)
		} else if err != nil {
			return fmt.Errorf("fetch %s: %w", fm.Name, err)
		}
		return nil
	}
	// elsewhere asks the other links for a chunk, one request at a time.
	elsewhere := func(a files.Address, last error) ([]byte, error) {
		for _, l := range links[1:] {
			var sealed []byte
			last = d.files.onLane(ctx, l, lane, func(c *p2p.ChunkClient) error {
				var err error
				sealed, err = c.Get(ctx, a)
				return err
			})
			if last == nil {
				return sealed, nil
			}
		}
		if errors.Is(last, p2p.ErrChunkNotFound) {
			return nil, fmt.Errorf("%s: chunk %s: %w", fm.Name, a.Short(), ErrNoHolder)
		}
		return nil, last
	}
	// Chunks are stored while the next ones cross, a few at once (a
	// durable write is mostly waiting for the disk).
	var stores errgroup.Group
	stores.SetLimit(storesAtOnce)
	var storeFailed atomic.Bool // a full disk stops the fetch at once
	storeLater := func(a files.Address, sealed []byte) {
		stores.Go(func() error {
			err := store(a, sealed)
			if err != nil {
				storeFailed.Store(true)
			}
			return err
		})
	}
	type got struct {
		a      files.Address
		sealed []byte
	}
	p := newPipe[*got](d.files, links[0], lane)
	settle := func() error {
		g, err := p.pop(ctx)
		if err != nil && ctx.Err() == nil {
			g.sealed, err = elsewhere(g.a, err)
		}
		if err != nil {
			return err
		}
		storeLater(g.a, g.sealed)
		return nil
	}
	for _, w := range ws {
		if storeFailed.Load() {
			break
		}
		for p.full() {
			if err := settle(); err != nil {
				stores.Wait()
				return err
			}
		}
		g := &got{a: w.a}
		err := p.push(ctx, &laneReq[*got]{what: g, size: w.size, send: func(ctx context.Context, c *p2p.ChunkClient) func(context.Context) error {
			call := c.SendGet(ctx, g.a)
			return func(ctx context.Context) (err error) {
				g.sealed, err = call.Wait(ctx)
				return err
			}
		}})
		if err != nil {
			// The first link is gone: this chunk, and the rest, from the
			// others.
			sealed, err := elsewhere(w.a, err)
			if err != nil {
				stores.Wait()
				return err
			}
			storeLater(w.a, sealed)
		}
	}
	for p.busy() {
		if err := settle(); err != nil {
			stores.Wait()
			return err
		}
	}
	return stores.Wait()
}

// storesAtOnce is how many fetched chunks a lane writes at once.
const storesAtOnce = 3

// fetchWait is how long a fetch waits for a node to connect when none is:
// a connection dropped is redialed within the backoff's first steps.
const fetchWait = 10 * time.Second

// fetchLinks are the peers to fetch chunks from: devices nearby first (a
// LAN is faster than the way to a node, and works with none), then the
// nodes; with none at all, it waits fetchWait for one.
func (d *Device) fetchLinks(ctx context.Context) ([]*nodeLink, error) {
	deadline := time.NewTimer(fetchWait)
	defer deadline.Stop()
	for {
		m := d.files
		m.mu.Lock()
		var nodes []*nodeLink
		for _, l := range m.nodes {
			nodes = append(nodes, l)
		}
		linked := m.linked
		m.mu.Unlock()
		slices.SortFunc(nodes, func(a, b *nodeLink) int { return cmp.Compare(a.peer, b.peer) })
		links := append(d.lanLinks(), nodes...)
		if len(links) > 0 {
			return links, nil
		}
		// A device nearby may be between two connections (two that
		// dialed each other keep one): look again shortly.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, nil
		case <-linked:
		case <-time.After(100 * time.Millisecond):
		}
	}
}
