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
	ID      change.ID
	Doc     *crdt.Doc
	Heads   []change.ID
	Index   store.Object
	Parked  int // changes received whose parents have not arrived
	Details map[string]string
}

// Title is the object's title ("" when unset).
func (o *Object) Title() string { return o.Details["title"] }

// loaded is an object open inside a transaction.
type loaded struct {
	id         change.ID
	key        [32]byte // the object key: derived once, used for every change
	row        store.Object
	doc        *crdt.Doc
	heads      []change.ID
	sinceSnap  int // changes after the snapshot
	bytesSince int
	snapSize   int
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
		slices.SortFunc(l.heads, func(a, b change.ID) int { return bytes.Compare(a[:], b[:]) })
		e.cache[l.id] = l
	}
}

// cacheSize bounds the objects kept open between writes.
const cacheSize = 16

// load opens an object: its last snapshot, then every change stored after
// it. Each change is checked against its id and its payload authenticated.
func (e *Engine) load(tx store.Tx, id change.ID) (*loaded, error) {
	row, err := tx.Object(id)
	if err != nil {
		return nil, err
	}
	key := e.objectKey(id)
	l := &loaded{id: id, key: key, row: row, doc: crdt.NewDoc()}
	if row.Snapshot != (change.ID{}) {
		raw, err := tx.RawChange(row.Snapshot)
		if err != nil {
			return nil, fmt.Errorf("open %s: snapshot: %w", id.Short(), err)
		}
		c, err := change.Decode(row.Snapshot, raw)
		if err != nil {
			return nil, err
		}
		p, err := c.Open(key)
		if err != nil {
			return nil, err
		}
		if l.doc, err = crdt.UnmarshalState(p.State); err != nil {
			return nil, fmt.Errorf("open %s: snapshot %s: %w", id.Short(), c.ID.Short(), err)
		}
		l.snapSize = len(raw)
	}
	metas, raws, err := tx.ChangesAfter(id, row.SnapshotSeq)
	if err != nil {
		return nil, err
	}
	for i, m := range metas {
		if m.ID == m.Object || m.Snapshot {
			continue
		}
		if err := e.applyStored(l.doc, key, m.ID, raws[i]); err != nil {
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
	c, err := change.Decode(id, raw)
	if err != nil {
		return err
	}
	p, err := c.Open(key)
	if err != nil {
		return err
	}
	if err := doc.Apply(p.CRDT(c)); err != nil {
		return fmt.Errorf("change %s: %w", id.Short(), err)
	}
	return nil
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

// Get opens an object.
func (e *Engine) Get(ctx context.Context, id change.ID) (*Object, error) {
	var o *Object
	err := e.db.View(ctx, func(tx store.Tx) error {
		l, err := e.load(tx, id)
		if err != nil {
			return err
		}
		parked, _, err := tx.Parked(id)
		if err != nil {
			return err
		}
		o = &Object{ID: id, Doc: l.doc, Heads: l.heads, Index: l.row, Parked: len(parked), Details: l.doc.Details()}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no object %s in this vault", id.Short())
	}
	return o, err
}

// List returns the object index, most recently updated first.
func (e *Engine) List(ctx context.Context) ([]store.Object, error) {
	var out []store.Object
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		out, err = tx.Objects()
		return err
	})
	return out, err
}

// Search runs a full-text search over titles and text.
func (e *Engine) Search(ctx context.Context, query string, limit int) ([]store.Hit, error) {
	if err := e.refreshText(ctx); err != nil {
		return nil, err
	}
	var out []store.Hit
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		out, err = tx.Search(query, limit)
		return err
	})
	return out, err
}

// Create makes a new object: its root change and a first change with the
// details and blocks given, in one transaction.
func (e *Engine) Create(ctx context.Context, details map[string]string, blocks []*crdt.Block) (change.ID, error) {
	var id change.ID
	var l *loaded
	err := e.db.Update(ctx, func(tx store.Tx) error {
		now := e.Now()
		root, err := change.NewRoot(e.vault.ID, e.device, now)
		if err != nil {
			return err
		}
		id = root.ID
		if err := e.putRoot(tx, root); err != nil {
			return err
		}
		l, _, err = e.editIn(tx, id, false, func(t *crdt.Tx) error {
			t.ReplaceDetails(details)
			t.Replace(blocks)
			return nil
		})
		return err
	})
	if err == nil {
		e.keep(l)
	}
	return id, err
}

func (e *Engine) putRoot(tx store.Tx, root *change.Change) error {
	if _, _, err := tx.PutChange(store.MetaOf(root), root.Raw); err != nil {
		return err
	}
	if err := tx.SetHeads(root.ID, []change.ID{root.ID}); err != nil {
		return err
	}
	return tx.PutObject(store.Object{ID: root.ID, Type: "page", Created: root.Time, Updated: root.Time, Changes: 1})
}

// Edit runs f on the object's state as one local change and stores it. It
// reports whether anything changed (f may find nothing to do).
func (e *Engine) Edit(ctx context.Context, id change.ID, f func(*crdt.Tx) error) (bool, error) {
	var changed bool
	var l *loaded
	err := e.db.Update(ctx, func(tx store.Tx) (err error) {
		l, changed, err = e.editIn(tx, id, false, f)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("no object %s in this vault", id.Short())
	}
	if err == nil {
		e.keep(l)
	}
	return changed, err
}

// editIn makes one local change inside a transaction. The returned object
// may be cached once the transaction commits.
func (e *Engine) editIn(tx store.Tx, id change.ID, newVersion bool, f func(*crdt.Tx) error) (*loaded, bool, error) {
	l, err := e.take(tx, id)
	if err != nil {
		return nil, false, err
	}
	t := l.doc.Begin(string(e.DeviceKey()))
	if err := f(t); err != nil {
		return nil, false, err
	}
	ch := t.Commit()
	if ch == nil {
		return l, false, nil
	}
	c, err := change.New(change.Draft{Object: id, Parents: l.heads, Lamport: ch.Start, Time: e.Now(), NewVersion: newVersion, Payload: &change.Payload{Ops: ch.Ops}},
		l.key, e.device)
	if err != nil {
		return nil, false, err
	}
	if err := e.putChange(tx, l, c); err != nil {
		return nil, false, err
	}
	l.sinceSnap++
	l.bytesSince += len(c.Raw)
	if e.Policy.Due(l.sinceSnap, l.bytesSince, l.snapSize) {
		if err := e.snapshot(tx, l); err != nil {
			return nil, false, err
		}
	}
	return l, true, e.save(tx, l)
}

// save writes what putChange and snapshot left in memory: the object's
// heads and its index row. A batch of changes to one object saves once.
func (e *Engine) save(tx store.Tx, l *loaded) error {
	if err := tx.SetHeads(l.id, l.heads); err != nil {
		return err
	}
	return e.index(tx, l)
}

// putChange stores a change whose effect is already in l.doc and makes it
// replace its parents among l's heads; save writes those.
func (e *Engine) putChange(tx store.Tx, l *loaded, c *change.Change) error {
	if _, _, err := tx.PutChange(store.MetaOf(c), c.Raw); err != nil {
		return err
	}
	parents := map[change.ID]bool{}
	for _, p := range c.Parents {
		parents[p] = true
	}
	heads := []change.ID{c.ID}
	for _, h := range l.heads {
		if !parents[h] {
			heads = append(heads, h)
		}
	}
	l.heads = heads
	l.row.Changes++
	if c.Time.After(l.row.Updated) {
		l.row.Updated = c.Time
	}
	return nil
}

// snapshot writes a snapshot change at the current heads (in memory; save
// writes them). Every change stored so far is in it, so opening starts
// there.
func (e *Engine) snapshot(tx store.Tx, l *loaded) error {
	state := l.doc.MarshalState()
	c, err := change.New(change.Draft{Object: l.id, Parents: l.heads, Lamport: max(l.doc.MaxCounter(), 1), Time: e.Now(), Snapshot: true,
		Payload: &change.Payload{State: state}}, l.key, e.device)
	if err != nil {
		return err
	}
	seq, _, err := tx.PutChange(store.MetaOf(c), c.Raw)
	if err != nil {
		return err
	}
	l.heads = []change.ID{c.ID}
	l.row.Changes++
	l.row.Snapshot, l.row.SnapshotSeq = c.ID, seq
	l.sinceSnap, l.bytesSince, l.snapSize = 0, 0, len(c.Raw)
	return nil
}

// snippetLen is how much text the object list shows.
const snippetLen = 160

// textIndexEvery bounds how often one object's full text is reindexed while
// it is being edited; in between, its row says the text index is stale, and
// Close or the next search brings it up to date.
const textIndexEvery = 2 * time.Second

// index refreshes the object's row in the index (title, type, snippet) and,
// unless it was done less than textIndexEvery ago, its full text.
func (e *Engine) index(tx store.Tx, l *loaded) error {
	d := l.doc.Details()
	l.row.Title = d["title"]
	l.row.Type = d["type"]
	if l.row.Type == "" {
		l.row.Type = "page"
	}
	l.row.Archived = d["archived"] == "true"
	l.row.Snippet = l.doc.Preview(snippetLen)
	now := time.Now()
	e.mu.Lock()
	last, seen := e.textIndexed[l.id]
	due := !seen || now.Sub(last) >= textIndexEvery
	if due {
		if e.textIndexed == nil {
			e.textIndexed = map[change.ID]time.Time{}
		}
		e.textIndexed[l.id] = now
	}
	e.mu.Unlock()
	l.row.TextStale = !due
	l.row.Body = ""
	if due {
		l.row.Body = PlainText(l.doc.Blocks())
	}
	return tx.PutObject(l.row)
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
	return e.db.Update(ctx, func(tx store.Tx) error {
		for _, id := range stale {
			l, err := e.load(tx, id)
			if err != nil {
				return err
			}
			l.row.TextStale = false
			l.row.Body = PlainText(l.doc.Blocks())
			if err := tx.PutObject(l.row); err != nil {
				return err
			}
		}
		return nil
	})
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
