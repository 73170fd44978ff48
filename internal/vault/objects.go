package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/keys"
	"mycel/internal/store"
)

// Object is the merged state of an object as of now.
type Object struct {
	ID    change.ID
	Doc   *crdt.Doc
	Heads []change.ID // what an edit of what is shown must be based on
	Index store.Object
	// Parked: changes received whose parents have not arrived; Damaged:
	// changes found damaged on this device, waiting for sync to bring
	// them back. Either way the object is incomplete.
	Parked, Damaged int
	// Details are the object's details, with archived and deleted as they
	// hold (see hidden.go): a concurrent edit undoes them.
	Details map[string]string
}

// Title is the object's title ("" when unset).
func (o *Object) Title() string { return o.Details["title"] }

// loaded is an object open inside a transaction.
type loaded struct {
	id    change.ID
	key   [32]byte // the object key: derived once, used for every change
	row   store.Object
	doc   *crdt.Doc
	heads []change.ID
	// What the snapshot policy looks at: changes and bytes applied since
	// the local snapshot the object was opened from, and its size; seq is
	// the arrival number of the last change in doc (what a snapshot of it
	// covers).
	sinceSnap, bytesSince, snapSize int
	seq                             int64
}

func (e *Engine) objectKey(id change.ID) [32]byte { return keys.ObjectKey(e.vault.ReadKey, id[:]) }

// take returns the object for a write: from the cache when its heads are
// still those in the store, else loaded. The entry leaves the cache; a
// successful write puts it back (keep), so a failed one leaves no trace.
func (e *Engine) take(tx store.Tx, id change.ID) (*loaded, error) {
	e.mu.Lock()
	l := e.cache[id]
	delete(e.cache, id)
	e.mu.Unlock()
	if l != nil {
		heads, err := tx.Heads(id)
		if err != nil {
			return nil, err
		}
		if slices.Equal(heads, l.heads) {
			return l, nil
		}
	}
	return e.load(tx, id)
}

// keep caches objects after the transaction that changed them committed.
func (e *Engine) keep(ls ...*loaded) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cache == nil {
		e.cache = map[change.ID]*loaded{}
	}
	for _, l := range ls {
		if l == nil {
			continue
		}
		if len(e.cache) >= cacheSize {
			clear(e.cache)
		}
		slices.SortFunc(l.heads, compareIDs)
		e.cache[l.id] = l
	}
}

// forget drops an object from the cache.
func (e *Engine) forget(id change.ID) {
	e.mu.Lock()
	delete(e.cache, id)
	e.mu.Unlock()
}

// cacheSize bounds the objects kept open between writes.
const cacheSize = 16

// damagedError says a stored change no longer hashes to its id: the
// engine moves it aside (quarantine) and opens the object without it.
type damagedError struct {
	object, change change.ID
	err            error
}

func (e *damagedError) Error() string {
	return fmt.Sprintf("object %s: change %s is damaged: %v", e.object.Short(), e.change.Short(), e.err)
}

// load opens an object: its local snapshot, then every change stored after
// it. Each change is checked against its id and its payload authenticated;
// one whose bytes no longer hash to its id is a *damagedError.
func (e *Engine) load(tx store.Tx, id change.ID) (*loaded, error) {
	row, err := tx.Object(id)
	if err != nil {
		return nil, err
	}
	key := e.objectKey(id)
	l := &loaded{id: id, key: key, row: row, doc: crdt.NewDoc()}
	if snap, err := tx.Snapshot(id); err == nil {
		// A snapshot that does not open is only lost work: replay instead.
		if doc, err := openSnapshot(key, id, snap.Sealed); err == nil {
			l.doc, l.seq, l.snapSize = doc, snap.Seq, len(snap.Sealed)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	metas, raws, err := tx.ChangesAfter(id, l.seq)
	if err != nil {
		return nil, err
	}
	for i, m := range metas {
		l.seq = max(l.seq, m.Seq)
		if m.ID == m.Object || m.Snapshot || m.Inert {
			continue
		}
		if err := e.applyStored(l.doc, key, m.ID, raws[i]); err != nil {
			var de *damagedError
			if errors.As(err, &de) {
				de.object = id
				return nil, de
			}
			return nil, fmt.Errorf("open %s: %w", id.Short(), err)
		}
		l.sinceSnap++
		l.bytesSince += len(raws[i])
	}
	if l.heads, err = tx.Heads(id); err != nil {
		return nil, err
	}
	return l, nil
}

func (e *Engine) applyStored(doc *crdt.Doc, key [32]byte, id change.ID, raw []byte) error {
	c, p, err := openStored(key, id, raw)
	if err != nil {
		return err
	}
	if err := doc.Apply(p.CRDT(c)); err != nil {
		return fmt.Errorf("change %s: %w", id.Short(), err)
	}
	return nil
}

// view runs f on an object (its own copy) opened in a read transaction; a
// damaged change found on the way is quarantined (sync brings it back) and
// f runs on the object without it.
func (e *Engine) view(ctx context.Context, id change.ID, f func(tx store.Tx, l *loaded) error) error {
	return e.viewWith(ctx, id, func(tx store.Tx) error {
		l, err := e.cached(tx, id)
		if err != nil {
			return err
		}
		return f(tx, l)
	})
}

// peek is view without the copy: f reads the cached object in place,
// under the cache's lock (so no writer changes it meanwhile), and must
// neither change it nor keep any of it. Rendering a page this way costs
// the rendering; a copy of a long page's state costs several times more.
func (e *Engine) peek(ctx context.Context, id change.ID, f func(tx store.Tx, l *loaded) error) error {
	return e.viewWith(ctx, id, func(tx store.Tx) error {
		heads, err := tx.Heads(id)
		if err != nil {
			return err
		}
		e.mu.Lock()
		if l := e.cache[id]; l != nil && slices.Equal(heads, l.heads) {
			defer e.mu.Unlock()
			return f(tx, l)
		}
		e.mu.Unlock()
		l, err := e.load(tx, id)
		if err != nil {
			return err
		}
		if err := f(tx, l); err != nil {
			return err
		}
		// Cached for the next look (a page another process wrote is loaded
		// once, not at every look); a stale entry is never used, its heads
		// being checked against the store's.
		e.keep(l)
		return nil
	})
}

// viewWith runs read in a read transaction, quarantining a damaged change
// it meets and trying again.
func (e *Engine) viewWith(ctx context.Context, id change.ID, read func(tx store.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := e.db.View(ctx, read)
		var de *damagedError
		if !errors.As(err, &de) || attempt > 8 {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no object %s in this vault", id.Short())
			}
			return err
		}
		if err := e.quarantine(ctx, de); err != nil {
			return err
		}
	}
}

// cached returns a copy of the cached object if its heads are still the
// store's, else loads it. The copy is made under the cache's lock: a
// writer takes an object out of the cache (under the same lock) before it
// changes it, so no copy is ever made of an object being changed.
func (e *Engine) cached(tx store.Tx, id change.ID) (*loaded, error) {
	heads, err := tx.Heads(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	var own *loaded
	if l := e.cache[id]; l != nil && slices.Equal(heads, l.heads) {
		c := *l
		c.doc, c.heads = l.doc.Clone(), slices.Clone(l.heads)
		own = &c
	}
	e.mu.Unlock()
	if own != nil {
		return own, nil
	}
	return e.load(tx, id)
}

// Resolve turns a full id or a unique prefix of at least 4 hex characters
// into an object id.
func (e *Engine) Resolve(ctx context.Context, prefix string) (change.ID, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	if id, err := change.ParseID(prefix); err == nil {
		return id, nil
	}
	if len(prefix) < 4 || strings.Trim(prefix, "0123456789abcdef") != "" {
		return change.ID{}, fmt.Errorf("%q is not an object id: give the id, or at least its first 4 hex characters (see `mycel ls`)", prefix)
	}
	var ids []change.ID
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		ids, err = tx.ObjectsWithPrefix(prefix)
		return err
	})
	if err != nil {
		return change.ID{}, err
	}
	switch len(ids) {
	case 0:
		return change.ID{}, fmt.Errorf("no object id starts with %q (see `mycel ls`)", prefix)
	case 1:
		return ids[0], nil
	}
	shown := make([]string, 0, 3)
	for _, id := range ids[:min(3, len(ids))] {
		shown = append(shown, id.Short())
	}
	return change.ID{}, fmt.Errorf("%d objects start with %q (%s…): give more characters", len(ids), prefix, strings.Join(shown, ", "))
}

// Get opens an object. The returned Doc is the caller's.
func (e *Engine) Get(ctx context.Context, id change.ID) (*Object, error) {
	var o *Object
	err := e.view(ctx, id, func(tx store.Tx, l *loaded) error {
		parked, _, err := tx.Parked(id)
		if err != nil {
			return err
		}
		damaged, err := tx.Damaged(id)
		if err != nil {
			return err
		}
		h, err := e.hiddenIn(tx, l)
		if err != nil {
			return err
		}
		o = &Object{ID: id, Doc: l.doc, Heads: slices.Clone(l.heads), Index: l.row, Parked: len(parked), Damaged: len(damaged),
			Details: h.details(l.doc.Details())}
		return nil
	})
	return o, err
}

// Page is an object as an editor shows it: its blocks and details at
// Heads, without its state.
type Page struct {
	ID      change.ID
	Heads   []change.ID
	Details map[string]string // as Object.Details
	Blocks  []*crdt.Block
	Parked  int
	Damaged int
}

// Page renders an object for showing. It costs the rendering alone (Get
// copies the object's whole state first).
func (e *Engine) Page(ctx context.Context, id change.ID) (*Page, error) {
	var p *Page
	var key [32]byte
	var stamps map[string]crdt.ID
	err := e.peek(ctx, id, func(tx store.Tx, l *loaded) error {
		// Under the cache's lock: only what is read of the state.
		p = &Page{ID: id, Heads: slices.Clone(l.heads), Details: l.doc.Details(), Blocks: l.doc.Blocks()}
		key, stamps = l.key, hideStamps(l.doc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The store's part outside it (receiving and editing wait for the
	// lock): whether archiving or the bin hold, what is incomplete.
	err = e.db.View(ctx, func(tx store.Tx) error {
		h, err := e.hiddenBy(tx, id, key, stamps)
		if err != nil {
			return err
		}
		p.Details = h.details(p.Details)
		parked, _, err := tx.Parked(id)
		if err != nil {
			return err
		}
		damaged, err := tx.Damaged(id)
		p.Parked, p.Damaged = len(parked), len(damaged)
		return err
	})
	return p, err
}

// ListOptions say which objects List returns.
type ListOptions struct {
	Archived bool // include archived objects
	Deleted  bool // only the objects in the bin
	All      bool // every object: archived, in the bin or not
	// Limit bounds the objects returned (0: all); After continues a
	// listing after that object (zero: from the start).
	Limit int
	After change.ID
}

// List returns the object index, most recently updated first: objects not
// in the bin (and not archived, unless asked), or only those in the bin.
func (e *Engine) List(ctx context.Context, opt ListOptions) ([]store.Object, error) {
	var out []store.Object
	q := store.ObjectQuery{Archived: opt.Archived, Deleted: opt.Deleted, All: opt.All, Limit: opt.Limit}
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		if opt.After != (change.ID{}) {
			after, err := tx.Object(opt.After)
			if err != nil {
				return fmt.Errorf("list after object %s: %w", opt.After.Short(), err)
			}
			q.After = &after
		}
		out, err = tx.ObjectsPage(q)
		return err
	})
	return out, err
}

// CountObjects is how many objects the vault holds, in the bin and
// archived ones included: what a summary shows, without reading them.
func (e *Engine) CountObjects(ctx context.Context) (int, error) {
	var n int
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		n, err = tx.CountObjects()
		return err
	})
	return n, err
}

// snippetLen is how much text the object list shows.
const snippetLen = 160

// textIndexEvery bounds how often one object's full text is reindexed while
// it is being edited; in between, its row says the text index is stale, and
// Close or the next search brings it up to date. For a huge object the
// wait grows with what indexing it took (textIndexShare): reindexing a
// text of 30 MB at every batch of a sync would cost more than the sync.
const (
	textIndexEvery = 2 * time.Second
	textIndexShare = 10
)

// textIndexing is when an object's text was last indexed, and what that
// took.
type textIndexing struct {
	at   time.Time
	took time.Duration
}

// index refreshes the object's row in the index (title, type, whether it
// is archived or in the bin, snippet) and marks its full text stale:
// tokenizing a long page's text is left out of the transaction that
// stores a local edit (see indexText); a received batch writes the text
// that is due in its own (indexWithText, batch.Finish).
func (e *Engine) index(tx store.Tx, l *loaded) error {
	if err := e.refreshRow(tx, l); err != nil {
		return err
	}
	return tx.PutObject(l.row)
}

// indexWithText writes the object's row as index does, with its full
// text (search's, links and tags) in the same put: what a received batch
// does for the objects whose text is due (see batch.Finish).
func (e *Engine) indexWithText(tx store.Tx, l *loaded) (store.Object, error) {
	if err := e.refreshRow(tx, l); err != nil {
		return store.Object{}, err
	}
	row := textRow(l)
	return row, tx.PutObject(row)
}

// refreshRow sets l's index row from its state, its text marked stale.
func (e *Engine) refreshRow(tx store.Tx, l *loaded) error {
	d := l.doc.Details()
	h, err := e.hiddenIn(tx, l)
	if err != nil {
		return err
	}
	l.row.Title = d["title"]
	l.row.Type = d["type"]
	if l.row.Type == "" {
		l.row.Type = "page"
	}
	l.row.Archived, l.row.Deleted = h.archived, h.deleted
	l.row.Snippet = l.doc.Preview(snippetLen)
	l.row.TextStale = true
	l.row.Body = ""
	return nil
}

// textRow is l's index row with its full text, links and tags: a copy,
// so that the object kept open (and cached) holds no second copy of its
// text.
func textRow(l *loaded) store.Object {
	blocks := l.doc.Blocks()
	row := l.row
	row.TextStale, row.Body = false, PlainText(blocks)
	row.Links, row.Tags = LinksOf(blocks), tagsOf(l.doc.Details(), blocks)
	return row
}

// textDue picks the objects of ls whose full text is due to be indexed
// at now, at most every textIndexEvery each (or ten times what indexing
// it took), and notes them as indexed at now.
func (e *Engine) textDue(now time.Time, ls []*loaded) []*loaded {
	var due []*loaded
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range ls {
		if l == nil {
			continue
		}
		if last, seen := e.textIndexed[l.id]; !seen || now.Sub(last.at) >= max(textIndexEvery, textIndexShare*last.took) {
			if e.textIndexed == nil {
				e.textIndexed = map[change.ID]textIndexing{}
			}
			e.textIndexed[l.id] = textIndexing{at: now, took: last.took}
			due = append(due, l)
		}
	}
	if n := len(e.textIndexed); n >= max(textSweepMin, 2*e.textSwept) {
		// An object whose wait is over is due as if never indexed: its
		// entry can go. Swept as the map doubles, so the map holds about
		// the objects indexed in the last wait, not every object this
		// engine ever indexed (a first sync of 100,000: 9 MB).
		for id, ti := range e.textIndexed {
			if now.Sub(ti.at) >= max(textIndexEvery, textIndexShare*ti.took) {
				delete(e.textIndexed, id)
			}
		}
		e.textSwept = len(e.textIndexed)
	}
	return due
}

// textSweepMin is the size of Engine.textIndexed below which it is not
// swept.
const textSweepMin = 1024

// forgetText forgets when the text of ls was indexed, when that write
// did not commit.
func (e *Engine) forgetText(ls []*loaded) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range ls {
		delete(e.textIndexed, l.id)
	}
}

// textTook charges each object of ls, whose text (rows[i]) was indexed
// from now until this call, the time of the whole indexing by its share
// of the text.
func (e *Engine) textTook(now time.Time, ls []*loaded, rows []store.Object) {
	took, total := time.Since(now), 0
	for _, r := range rows {
		total += len(r.Body)
	}
	if total == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, r := range rows {
		// Swept meanwhile (it took more than its wait): noted again.
		ti, ok := e.textIndexed[ls[i].id]
		if !ok {
			ti.at = now
		}
		ti.took = took * time.Duration(len(r.Body)) / time.Duration(total)
		e.textIndexed[ls[i].id] = ti
	}
}

// indexText brings the full text of objects just written up to date, each
// at most every textIndexEvery, in a transaction of its own.
func (e *Engine) indexText(ctx context.Context, ls ...*loaded) error {
	now := time.Now()
	due := e.textDue(now, ls)
	if len(due) == 0 {
		return nil
	}
	rows := make([]store.Object, len(due))
	for i, l := range due {
		rows[i] = textRow(l)
	}
	defer e.textTook(now, due, rows)
	return e.db.Update(ctx, func(tx store.Tx) error {
		for i, row := range rows {
			heads, err := tx.Heads(due[i].id)
			if err != nil {
				return err
			}
			if !sameIDs(heads, due[i].heads) {
				continue // changed since: its next write indexes it
			}
			if err := tx.PutObject(row); err != nil {
				return err
			}
		}
		return nil
	})
}

// refreshText reindexes the full text of every object whose text index is
// stale.
func (e *Engine) refreshText(ctx context.Context) error {
	var stale []change.ID
	if err := e.db.View(ctx, func(tx store.Tx) (err error) {
		stale, err = tx.StaleText()
		return err
	}); err != nil || len(stale) == 0 {
		return err
	}
	for _, id := range stale {
		var body string
		var heads, links []change.ID
		var tags []string
		err := e.view(ctx, id, func(tx store.Tx, l *loaded) error {
			blocks := l.doc.Blocks()
			body, heads, links, tags = PlainText(blocks), slices.Clone(l.heads), LinksOf(blocks), tagsOf(l.doc.Details(), blocks)
			return nil
		})
		if err != nil {
			return err
		}
		err = e.db.Update(ctx, func(tx store.Tx) error {
			row, err := tx.Object(id)
			if err != nil {
				return err
			}
			now, err := tx.Heads(id)
			if err != nil || !sameIDs(now, heads) {
				return err // changed since: the next refresh has it
			}
			row.TextStale, row.Body, row.Links, row.Tags = false, body, links, tags
			return tx.PutObject(row)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// PlainText is the text of blocks, one block per line.
func PlainText(blocks []*crdt.Block) string {
	var b strings.Builder
	var walk func([]*crdt.Block)
	walk = func(bs []*crdt.Block) {
		for _, x := range bs {
			b.WriteString(x.Text)
			b.WriteByte('\n')
			walk(x.Children)
		}
	}
	walk(blocks)
	return b.String()
}

// ParkedCount is how many received changes of an object wait for parents.
func (e *Engine) ParkedCount(ctx context.Context, id change.ID) (int, error) {
	var n int
	err := e.db.View(ctx, func(tx store.Tx) error {
		ms, _, err := tx.Parked(id)
		n = len(ms)
		return err
	})
	return n, err
}

// DamagedCount is how many changes of an object were found damaged (their
// bytes no longer hash to their id) and wait for sync to bring them back.
func (e *Engine) DamagedCount(ctx context.Context, id change.ID) (int, error) {
	var n int
	err := e.db.View(ctx, func(tx store.Tx) error {
		ds, err := tx.Damaged(id)
		n = len(ds)
		return err
	})
	return n, err
}

func sameIDs(a, b []change.ID) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, compareIDs)
	slices.SortFunc(b, compareIDs)
	return slices.EqualFunc(a, b, func(x, y change.ID) bool { return bytes.Equal(x[:], y[:]) })
}

// Changed lists the objects a change of was stored after arrival number
// seq (by this device, another process on its data folder, or sync), with
// their heads now, and the last arrival number: a front end that shows
// pages follows the store with it, from the number the previous call
// gave. A negative seq lists nothing and gives the number to start from.
func (e *Engine) Changed(ctx context.Context, seq int64) (map[change.ID][]change.ID, int64, error) {
	out := map[change.ID][]change.ID{}
	var last int64
	err := e.db.View(ctx, func(tx store.Tx) error {
		if seq < 0 {
			var err error
			last, err = tx.LastSeq()
			return err
		}
		objs, l, err := tx.ChangedBy(nil, seq)
		if err != nil {
			return err
		}
		last = l
		for _, id := range objs {
			if out[id], err = tx.Heads(id); err != nil {
				return err
			}
		}
		return nil
	})
	return out, last, err
}

// TitleLookup gives the title of an object named by its hex id ("" when
// it is not here), each read once: for showing logs that hold ids only.
func (e *Engine) TitleLookup(ctx context.Context) func(hexID string) string {
	titles := map[string]string{}
	return func(hexID string) string {
		if hexID == "" {
			return ""
		}
		t, ok := titles[hexID]
		if !ok {
			if id, err := change.ParseID(hexID); err == nil {
				if o, err := e.Get(ctx, id); err == nil {
					t = o.Title()
				}
			}
			titles[hexID] = t
		}
		return t
	}
}
