// Package memstore is the in-memory reference implementation of
// store.Store, as etcd-raft's MemoryStorage is of its Storage: what a store
// must do, without SQL in the way, for tests of the engine and of sync
// that need many stores and no disk.
//
// Its state is a set of persistent sorted trees (tree.go). A View reads the
// trees committed when it began, whatever is committed meanwhile; an Update
// builds new trees beside them, sharing every node it does not write, and
// commits by publishing them at once, or drops them on an error or a
// panic. Updates run one at a time. Neither copies the store.
//
// It keeps what the SQLite store keeps, with the same meaning, order and
// search (package fts), and holds to the same contract (storetest). CopyTo
// writes a file that Load reads back.
package memstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/fts"
)

var _ store.Store = (*Store)(nil)

var (
	errClosed   = errors.New("store is closed")
	errTxDone   = errors.New("the transaction has ended")
	errReadOnly = errors.New("a View cannot write")
)

// Store is a store in memory.
type Store struct {
	// writer holds a token while an Update runs: a channel rather than a
	// mutex, so that waiting for it ends with the context.
	writer chan struct{}
	cur    atomic.Pointer[state]
	closed atomic.Bool
	gen    uint64 // the last Update's generation (tree.go), under writer
}

// New returns an empty store.
func New() *Store {
	s := &Store{writer: make(chan struct{}, 1)}
	s.cur.Store(&state{})
	return s
}

// state is the whole store: one value per committed transaction, never
// changed once published.
type state struct {
	settings tree[[]byte]

	changes  tree[*changeRec]  // by id
	bySeq    tree[*changeRec]  // by seqKey(seq)
	byObject tree[*changeRec]  // by object ‖ seqKey(seq)
	heads    tree[[]change.ID] // by object: sorted, once each, never empty

	objects tree[*objectRec] // by id

	parked   tree[*parkedRec] // by id
	parkedBy tree[*parkedRec] // by object ‖ seqKey(order)

	members    tree[[]byte]   // by seqKey(order)
	memberHash tree[struct{}] // by SHA-256 of the record

	snapshots tree[store.Snapshot] // by object
	held      tree[[32]byte]       // by heldKey(peer, object)
	nodeAcks  tree[store.NodeAck]  // by heldKey(node, object)
	damaged   tree[*damagedRec]    // by id
	damagedBy tree[*damagedRec]    // by object ‖ seqKey(order)

	refs      tree[change.ID] // chunk ‖ change → object (chunks.go)
	refsBy    tree[struct{}]  // object ‖ chunk ‖ change
	chunkHeld tree[struct{}]  // heldPrefix(peer) ‖ chunk

	// lastSeq is the last arrival number given (never given again, as
	// SQLite's AUTOINCREMENT), lastOrder the last number that orders
	// parked changes, member records and damaged changes.
	lastSeq, lastOrder int64
}

// changeRec is a stored change. Records are never changed: a write makes
// a new one.
type changeRec struct {
	meta store.ChangeMeta // Seq and Size set; Parents and Author the store's own
	raw  []byte
}

type parkedRec struct {
	meta  store.ChangeMeta
	raw   []byte
	order int64
}

type damagedRec struct {
	d     store.Damaged
	order int64
}

// objectRec is an index row and its search text.
type objectRec struct {
	row store.Object // Body empty
	// text is what search finds the object by (nil: not indexed); a stale
	// put leaves it as it was.
	text  *indexed
	links []change.ID // the objects it links to, as last indexed with its text
}

type indexed struct {
	title, body string
	tags        []string
	doc         fts.Doc // the words of title, body and tags
}

// newIndexed is an object's search text, tokenized once for every search.
func newIndexed(title, body string, tags []string) *indexed {
	return &indexed{title, body, slices.Clone(tags), fts.Doc{Title: fts.Tokenize(title), Body: fts.Tokenize(body), Tags: fts.Tokenize(fts.TagText(tags))}}
}

func seqKey(n int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return string(b[:])
}

func idKey(id change.ID) string { return string(id[:]) }

func keyID(k string) change.ID { return change.ID([]byte(k[:32])) }

// heldKey is heldPrefix(peer) ‖ object.
func heldKey(peer string, object change.ID) string { return heldPrefix(peer) + idKey(object) }

// heldPrefix starts with the peer's length, so that no peer's prefix is
// the start of another's ("p" and "p1").
func heldPrefix(peer string) string {
	return string(binary.AppendUvarint(nil, uint64(len(peer)))) + peer
}

// uvarint reads the length heldPrefix starts with: it and its own length.
func uvarint(k string) (int, int) {
	n, l := binary.Uvarint([]byte(k))
	return int(n), l
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, f func(store.Tx) error) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("begin: %w", ctx.Err())
	}
	defer func() { <-s.writer }()
	if s.closed.Load() {
		return errClosed
	}
	s.gen++
	gen := s.gen
	// The working state: the committed trees' roots, copied; the trees
	// themselves are shared until written. Left unpublished on an error, a
	// panic or runtime.Goexit, it is simply dropped.
	work := *s.cur.Load()
	t := &tx{st: &work, gen: gen}
	defer t.end()
	if err := f(t); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.cur.Store(&work)
	return nil
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, f func(store.Tx) error) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	t := &tx{st: s.cur.Load(), readOnly: true}
	defer t.end()
	return f(t)
}

func (s *Store) usable(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return nil
}

// IntegrityCheck implements store.Store: a store in memory has no
// structure to damage.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	return nil
}

// Close implements store.Store. An Update running goes on to its end.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

// tx is one transaction, for one goroutine.
type tx struct {
	st       *state
	gen      uint64 // the Update's generation; 0 in a View
	readOnly bool
	done     bool
}

func (t *tx) end() { t.done = true }

// r is the state to read, w the state to write.
func (t *tx) r() (*state, error) {
	if t.done {
		return nil, errTxDone
	}
	return t.st, nil
}

func (t *tx) w() (*state, error) {
	if t.done {
		return nil, errTxDone
	}
	if t.readOnly {
		return nil, errReadOnly
	}
	return t.st, nil
}

// clone is a copy of b that is the caller's (nil stays nil).
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// ms is t as the SQLite store keeps it: milliseconds, UTC.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

func (t *tx) Setting(key string) ([]byte, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	v, ok := st.settings.get(key)
	if !ok {
		return nil, nil
	}
	return append([]byte{}, v...), nil // set to nothing is not nil
}

func (t *tx) SettingsWithPrefix(prefix string, limit int) (map[string][]byte, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	st.settings.ascend(prefix, func(k string, v []byte) bool {
		if !strings.HasPrefix(k, prefix) || limit > 0 && len(out) == limit {
			return false
		}
		out[k] = append([]byte{}, v...)
		return true
	})
	return out, nil
}

func (t *tx) SetSetting(key string, value []byte) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	st.settings.put(t.gen, key, append([]byte{}, value...))
	return nil
}
