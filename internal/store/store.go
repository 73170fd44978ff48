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
	"mycel/internal/store/fts"
)

// ErrNotFound is returned for a missing change or object.
var ErrNotFound = errors.New("not found")

// ErrFull is wrapped by the error of a write that failed because the disk
// is full (or the store could be opened for reading only, for that
// reason). What only tidies up (the search text brought up to date, a
// snapshot) may skip such a write: it is done again later.
var ErrFull = errors.New("the disk is full")

// Store is a transactional store. Every CLI command runs in one Update, so
// a command that fails leaves no trace, and a committed one survives a crash.
type Store interface {
	// Update runs f in a read-write transaction, committed if f returns nil.
	Update(ctx context.Context, f func(Tx) error) error
	// View runs f in a read-only transaction.
	View(ctx context.Context, f func(Tx) error) error
	// CopyTo writes a consistent copy of the whole store to a new file at
	// path, while others go on reading and writing. With CiphertextOnly the
	// copy keeps no plaintext at all: index rows keep ids, types, times and
	// counts but lose titles, snippets and whether the object is archived or
	// in the bin (and are marked text-stale), the
	// search index is empty, and no freed page of the file still holds what
	// was removed.
	CopyTo(ctx context.Context, path string, opt CopyOptions) error
	// IntegrityCheck checks the store's own structure (for SQLite, PRAGMA
	// quick_check); it is for `mycel check`, not for every open.
	IntegrityCheck(ctx context.Context) error
	Close() error
}

// CopyOptions say what a copy of the store (CopyTo) leaves out.
type CopyOptions struct {
	CiphertextOnly bool
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
	// Local: this store wrote the change (its device authored it here),
	// rather than receiving it. Never sent: a device-local fact.
	Local bool
	// Inert: the change is stored and synced but is not part of the
	// object's state (it lost a counter overlap with another change by the
	// same device key, or descends from one that did). Device-local,
	// derived from the set of changes; see SetInert.
	Inert bool
	Size  int
	Seq   int64 // local arrival order, set by the store
	// Chunks are the file chunks the change references in its cleartext
	// (change.Change.Chunks), indexed when the change is stored (see
	// Tx.ChunkRefs); not read back by Meta or Changes.
	Chunks [][32]byte
}

// MetaOf extracts the metadata of a parsed change.
func MetaOf(c *change.Change) ChangeMeta {
	return ChangeMeta{ID: c.ID, Object: c.Object, Parents: c.Parents, Author: c.Author, Lamport: c.Lamport,
		Time: c.Time, Snapshot: c.Snapshot, NewVersion: c.NewVersion, Size: len(c.Raw), Chunks: c.Chunks}
}

// ObjectQuery asks for a page of the object index, most recently updated
// first (ties in id order).
type ObjectQuery struct {
	Archived bool // archived objects too
	Deleted  bool // only the objects in the bin
	All      bool // every object
	// After continues a listing after this object (its Updated and ID);
	// nil: from the start.
	After *Object
	Limit int // 0: no limit
}

// Keeps says whether q's filter lets o in.
func (q ObjectQuery) Keeps(o Object) bool {
	switch {
	case q.All:
		return true
	case q.Deleted:
		return o.Deleted
	}
	return !o.Deleted && (q.Archived || !o.Archived)
}

// Object is a row of the object index.
type Object struct {
	ID       change.ID
	Title    string
	Type     string
	Archived bool
	Deleted  bool // in the bin: hidden from lists and search, kept in history
	Created  time.Time
	Updated  time.Time
	Snippet  string
	Changes  int
	Body     string // indexed for search; not read back
	// Tags are what tag:NAME finds the object by (its tags detail and
	// the #tags of its text), indexed with Body; not read back.
	Tags []string
	// Links are the objects this one links to (mentions, link blocks),
	// indexed with Body (so not when TextStale); not read back: see
	// Tx.Backlinks.
	Links []change.ID
	// TextStale: Body is not given and the text index of this object is
	// out of date until a later PutObject gives it.
	TextStale bool
	// Snapshot is the snapshot change that opening starts from (zero when
	// none) and SnapshotSeq the arrival number up to which every stored
	// change is inside that snapshot; changes after it are replayed.
	Snapshot    change.ID
	SnapshotSeq int64
}

// Snapshot is a device's own copy of an object's state: sealed with the
// object key, covering every change of the object stored up to arrival
// number Seq. Snapshots are never synced: each device writes its own.
type Snapshot struct {
	Seq    int64
	Sealed []byte
}

// Damaged is a stored change whose bytes no longer hash to its id: moved
// aside (Quarantine) until sync brings the change back.
type Damaged struct {
	ID     change.ID
	Object change.ID
	Raw    []byte // the damaged bytes, kept for diagnosis
	Reason string
	Time   time.Time
}

// Hit is a search result.
type Hit struct {
	Object
	Match string  // text around the match
	Rank  float64 // bm25 as FTS5 ranks: lower first
}

// SearchQuery asks for a page of a search: the objects Query finds (not
// those in the bin), ranked by bm25 (FTS5's rank, lowest first; then
// by id, so that the order is total and pages neither repeat nor skip
// a hit), from the first after After (nil: the first of all), at most
// Limit of them (0: all).
type SearchQuery struct {
	Query fts.Query
	Limit int
	After *SearchAfter
}

// SearchAfter is where a page of search hits starts: after the hit of
// rank Rank and id ID (a hit before, whether or not it still matches).
type SearchAfter struct {
	Rank float64
	ID   change.ID
}

// NodeAck is a backup node's signed word that at Time (its clock, Unix
// ms) it durably held an object's changes up to Heads (see
// internal/nodeack), as a device keeps it: the latest per node and object.
type NodeAck struct {
	Node   string // the node's peer id
	Object change.ID
	Heads  []change.ID // sorted
	Time   int64
	Sig    []byte
	// Via is the device that passed it on (its peer id); empty when the
	// node gave it to this device itself.
	Via string
	// Lied is when this device found that the node later showed less
	// than it had confirmed (Unix ms; 0: it never did).
	Lied int64
	// Removal is the member's signed request to remove the object from
	// the node (a marshalled pb.RemoveObject, its device set) that this
	// device last took as the reason the node showed less than it had
	// confirmed (nil: none). Each request excuses that once.
	Removal []byte
	// Seen is when the word reached this device (its clock, Unix ms;
	// a word passed on: that or the word's own time, the earlier): a
	// removal request must be later than what it excuses, by a clock
	// the node does not set.
	Seen int64
}

// Tx is one transaction.
type Tx interface {
	Setting(key string) ([]byte, error) // nil when unset
	SetSetting(key string, value []byte) error
	// SettingsWithPrefix gives every setting whose key starts with
	// prefix (at most limit of them, the first by key; limit <= 0: all).
	SettingsWithPrefix(prefix string, limit int) (map[string][]byte, error)

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
	// ChangeRange lists the first limit (0: all) of an object's changes
	// stored after arrival number seq, in order, with their bytes if
	// withRaw (else raws is nil): a read of a huge object a page at a
	// time, for walking its graph. Each meta holds only ID, Object,
	// Parents, Size and Seq (the rest is left zero): sync reads every row
	// this way, and decoding the rest was a third of its cost.
	ChangeRange(object change.ID, seq int64, limit int, withRaw bool) (metas []ChangeMeta, raws [][]byte, err error)
	Heads(object change.ID) ([]change.ID, error)
	// AllHeads returns the heads of every object, in one read.
	AllHeads() (map[change.ID][]change.ID, error)
	// CountChanges counts every stored change.
	CountChanges() (int, error)
	// LastSeq is the arrival number of the last change stored (0: none);
	// cheaper than counting, for watching a store fill.
	LastSeq() (int64, error)
	// ChangedBy lists the objects with changes by author (nil: anyone)
	// stored after arrival number seq, and the last arrival number (seq
	// when none).
	ChangedBy(author []byte, seq int64) ([]change.ID, int64, error)
	// Meta returns a stored change's metadata (ErrNotFound if absent).
	Meta(id change.ID) (ChangeMeta, error)
	SetHeads(object change.ID, heads []change.ID) error

	PutObject(o Object) error
	// Backlinks lists the objects whose indexed links name id, sorted.
	Backlinks(id change.ID) ([]change.ID, error)
	Object(id change.ID) (Object, error)
	Objects() ([]Object, error) // most recently updated first
	// ObjectsPage is a page of the object index in the order of Objects,
	// filtered: what ls shows, at the cost of the page.
	ObjectsPage(q ObjectQuery) ([]Object, error)
	// CountObjects is the number of rows of the object index.
	CountObjects() (int, error)
	// Search finds a page of hits (see SearchQuery), each with its
	// snippet made from a bounded window of its text (fts.Snippets).
	Search(q SearchQuery) ([]Hit, error)
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
	// ParkedBytes is the size of the parked changes of object, or of all
	// of them for the zero id.
	ParkedBytes(object change.ID) (int64, error)
	// DropOldestParked drops the parked change parked first that is not
	// this store's own (Local), and says which; ok is false when there is
	// none.
	DropOldestParked() (id change.ID, ok bool, err error)

	// MemberRecords lists the membership records in the order stored;
	// PutMemberRecord stores one, ignoring a record already there.
	MemberRecords() ([][]byte, error)
	PutMemberRecord(raw []byte) error

	// SetInert marks a stored change as inert or not (ErrNotFound if it
	// is not stored).
	SetInert(id change.ID, inert bool) error
	// PurgeObject removes everything the store holds of an object: its
	// changes (their chunk references with them), heads, index row and
	// text, links, parked and damaged changes, snapshot, and what peers
	// said they hold of it; it returns how many changes went. (A node
	// does it when a device asks it to forget a page.)
	PurgeObject(object change.ID) (int, error)
	// DeleteChange removes a stored change (its bytes go with it; the
	// caller parks or quarantines them first). Heads are the caller's.
	DeleteChange(id change.ID) error

	// PutSnapshot replaces the object's local snapshot; Snapshot reads it
	// (ErrNotFound when there is none); DeleteSnapshot drops it.
	PutSnapshot(object change.ID, s Snapshot) error
	Snapshot(object change.ID) (Snapshot, error)
	DeleteSnapshot(object change.ID) error

	// PutHeld records the hash of the heads a peer said it holds of an
	// object (the last word wins); Held lists them for one peer.
	PutHeld(peer string, object change.ID, heads [32]byte) error
	Held(peer string) (map[change.ID][32]byte, error)

	// PutNodeAck keeps a node's signed acknowledgement of an object
	// (device-local, like Held), replacing the one kept for that node and
	// object; NodeAck reads it (ErrNotFound when none), NodeAcks lists the
	// newest (by the node's time) first, at most limit (0: all), and
	// NodeLies those the device found the node lied about (Lied set).
	PutNodeAck(a NodeAck) error
	NodeAck(node string, object change.ID) (NodeAck, error)
	NodeAcks(limit int) ([]NodeAck, error)
	NodeLies() ([]NodeAck, error)

	// Quarantine moves a stored change aside as damaged (it is no longer
	// a stored change: HasChange is false); Damaged lists an object's
	// quarantined changes, DamagedObjects the objects with any, and
	// ClearDamaged forgets one (sync brought it back).
	Quarantine(d Damaged) error
	Damaged(object change.ID) ([]Damaged, error)
	DamagedObjects() ([]change.ID, error)
	IsDamaged(id change.ID) (bool, error)
	ClearDamaged(id change.ID) error

	// The index of file chunks. PutChange records the chunks of m.Chunks
	// as referenced by the change; DeleteChange forgets them. A change
	// moved aside as damaged keeps its references: it is expected back,
	// and its chunks must not look unneeded meanwhile.
	//
	// ChunkRefs lists the distinct referenced chunks above after
	// (ascending), at most limit of them; ObjectChunks those an object's
	// changes reference, ascending; ChunkObjects the objects whose
	// changes reference a chunk, ascending.
	ChunkRefs(after [32]byte, limit int) ([][32]byte, error)
	ObjectChunks(object change.ID) ([][32]byte, error)
	ChunkObjects(chunk [32]byte) ([]change.ID, error)
	// IndexChunks records the chunks a stored change references, for a
	// store from before the index (format 4) whose changes name some.
	IndexChunks(id, object change.ID, chunks [][32]byte) error
	// What a peer (a node) said it durably holds, device-local like Held:
	// ChunksNotHeld lists referenced chunks above after that peer has not
	// confirmed (ascending, at most limit), ChunkHeld says for each of cs
	// whether it has, PutChunkHeld and DropChunkHeld record its word (a
	// chunk it said it lost is dropped).
	ChunksNotHeld(peer string, after [32]byte, limit int) ([][32]byte, error)
	ChunkHeld(peer string, cs [][32]byte) ([]bool, error)
	PutChunkHeld(peer string, cs [][32]byte) error
	DropChunkHeld(peer string, cs [][32]byte) error
}
