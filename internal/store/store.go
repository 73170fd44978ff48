// Package store declares what the engine needs from persistence: changes
// kept as exact bytes, heads, an object index with full-text search, parked
// changes waiting for parents, the membership log and settings, all inside
// transactions. Implementations live in subpackages (sqlite now; PostgreSQL
// for scaled-out nodes later) and are held to one contract test suite.
package store

import (
	"context"
	"errors"
	"time"

	"mycel/internal/change"
)

// ErrNotFound is returned for a missing change or object.
var ErrNotFound = errors.New("not found")

// Store is a transactional store. Every CLI command runs in one Update, so
// a command that fails leaves no trace, and a committed one survives a crash.
type Store interface {
	// Update runs f in a read-write transaction, committed if f returns nil.
	Update(ctx context.Context, f func(Tx) error) error
	// View runs f in a read-only transaction.
	View(ctx context.Context, f func(Tx) error) error
	// CopyTo writes a consistent copy of the whole store to a new file at
	// path, while others go on reading and writing.
	CopyTo(ctx context.Context, path string) error
	Close() error
}

// ChangeMeta is the cleartext of a stored change, for building the DAG
// without reading or decrypting bytes.
type ChangeMeta struct {
	ID       change.ID
	Object   change.ID
	Parents  []change.ID
	Author   []byte
	Lamport  uint64
	Time     time.Time
	Snapshot bool
	// NewVersion: history starts a new version here.
	NewVersion bool
	Size       int
	Seq        int64 // local arrival order, set by the store
}

// MetaOf extracts the metadata of a parsed change.
func MetaOf(c *change.Change) ChangeMeta {
	return ChangeMeta{ID: c.ID, Object: c.Object, Parents: c.Parents, Author: c.Author, Lamport: c.Lamport,
		Time: c.Time, Snapshot: c.Snapshot, NewVersion: c.NewVersion, Size: len(c.Raw)}
}

// Object is a row of the object index.
type Object struct {
	ID       change.ID
	Title    string
	Type     string
	Archived bool
	Created  time.Time
	Updated  time.Time
	Snippet  string
	Changes  int
	Body     string // indexed for search; not read back
	// TextStale: Body is not given and the text index of this object is
	// out of date until a later PutObject gives it.
	TextStale bool
	// Snapshot is the snapshot change that opening starts from (zero when
	// none) and SnapshotSeq the arrival number up to which every stored
	// change is inside that snapshot; changes after it are replayed.
	Snapshot    change.ID
	SnapshotSeq int64
}

// Hit is a search result.
type Hit struct {
	Object
	Match string // text around the match
}

// Tx is one transaction.
type Tx interface {
	Setting(key string) ([]byte, error) // nil when unset
	SetSetting(key string, value []byte) error

	// PutChange stores a verified change and returns its arrival number;
	// stored is false (and seq 0) if it was already there.
	PutChange(m ChangeMeta, raw []byte) (seq int64, stored bool, err error)
	HasChange(id change.ID) (bool, error)
	// StoredOf returns those of ids that are stored, in one read.
	StoredOf(ids []change.ID) (map[change.ID]bool, error)
	RawChange(id change.ID) ([]byte, error)
	// Changes lists an object's changes stored after arrival number seq
	// (0: all of them) in the order they were stored (a causal order: a
	// change is stored only after its parents).
	Changes(object change.ID, seq int64) ([]ChangeMeta, error)
	// ChangesAfter lists, with their bytes, an object's changes stored
	// after arrival number seq, in order.
	ChangesAfter(object change.ID, seq int64) ([]ChangeMeta, [][]byte, error)
	Heads(object change.ID) ([]change.ID, error)
	// AllHeads returns the heads of every object, in one read.
	AllHeads() (map[change.ID][]change.ID, error)
	// CountChanges counts every stored change.
	CountChanges() (int, error)
	// LastSeq is the arrival number of the last change stored (0: none);
	// cheaper than counting, for watching a store fill.
	LastSeq() (int64, error)
	// ChangedBy lists the objects with changes by author stored after
	// arrival number seq, and the last arrival number (seq when none).
	ChangedBy(author []byte, seq int64) ([]change.ID, int64, error)
	// Meta returns a stored change's metadata (ErrNotFound if absent).
	Meta(id change.ID) (ChangeMeta, error)
	SetHeads(object change.ID, heads []change.ID) error

	PutObject(o Object) error
	Object(id change.ID) (Object, error)
	Objects() ([]Object, error) // most recently updated first
	Search(query string, limit int) ([]Hit, error)
	// StaleText lists objects whose text index is out of date.
	StaleText() ([]change.ID, error)
	// IndexedText is an object's title and text as the search index holds
	// them (ok false: not indexed, or its text is marked stale).
	IndexedText(id change.ID) (title, body string, ok bool, err error)
	// ChangeObjects lists every object that has stored changes, whether or
	// not it has an index row.
	ChangeObjects() ([]change.ID, error)
	// ObjectsWithPrefix lists objects whose hex id starts with prefix.
	ObjectsWithPrefix(prefix string) ([]change.ID, error)

	// Park keeps a verified change whose parents have not arrived.
	Park(m ChangeMeta, raw []byte) error
	Parked(object change.ID) ([]ChangeMeta, [][]byte, error)
	Unpark(id change.ID) error
	// ParkedObjects lists the objects that have parked changes.
	ParkedObjects() ([]change.ID, error)

	// MemberRecords lists the membership records in the order stored;
	// PutMemberRecord stores one, ignoring a record already there.
	MemberRecords() ([][]byte, error)
	PutMemberRecord(raw []byte) error
}
