package sqlite

import (
	"database/sql"
	"fmt"
)

// schema is the whole of the current format, for a new store. An older
// store gets here through migrations instead; TestMigratedSchemaIsFresh
// checks that both roads end at the same tables.
const schema = `
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	id       BLOB NOT NULL UNIQUE,
	object   BLOB NOT NULL,
	author   BLOB NOT NULL,
	lamport  INTEGER NOT NULL,
	time_ms  INTEGER NOT NULL,
	flags    INTEGER NOT NULL, -- 1 snapshot, 2 starts a new version, 4 local, 8 inert
	parents  BLOB NOT NULL,
	raw      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_by_object ON changes(object, seq);
CREATE TABLE IF NOT EXISTS heads (object BLOB NOT NULL, change BLOB NOT NULL, PRIMARY KEY (object, change)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
	id         BLOB PRIMARY KEY,
	title      TEXT NOT NULL,
	type       TEXT NOT NULL,
	archived   INTEGER NOT NULL, -- 1 archived, 2 in the bin
	created_ms INTEGER NOT NULL,
	updated_ms INTEGER NOT NULL,
	snippet    TEXT NOT NULL,
	changes    INTEGER NOT NULL,
	snap_id    BLOB,
	snap_seq   INTEGER NOT NULL,
	text_stale INTEGER NOT NULL DEFAULT 0,
	fts_rowid  INTEGER -- the object's row in objects_fts and texts
);
CREATE VIRTUAL TABLE IF NOT EXISTS objects_fts USING fts5(title, body, tags, content = '', contentless_delete = 1, prefix = '2 3', tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS texts (rowid INTEGER PRIMARY KEY, id BLOB NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parked (
	id      BLOB PRIMARY KEY,
	object  BLOB NOT NULL,
	author  BLOB NOT NULL,
	lamport INTEGER NOT NULL,
	time_ms INTEGER NOT NULL,
	flags   INTEGER NOT NULL,
	parents BLOB NOT NULL,
	raw     BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS parked_by_object ON parked(object);
CREATE TABLE IF NOT EXISTS members (seq INTEGER PRIMARY KEY AUTOINCREMENT, hash BLOB NOT NULL UNIQUE, raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (object BLOB PRIMARY KEY, seq INTEGER NOT NULL, sealed BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS held (peer TEXT NOT NULL, object BLOB NOT NULL, heads BLOB NOT NULL, PRIMARY KEY (peer, object)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS damaged (
	id      BLOB PRIMARY KEY,
	object  BLOB NOT NULL,
	raw     BLOB NOT NULL,
	reason  TEXT NOT NULL,
	time_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS damaged_by_object ON damaged(object);
CREATE TABLE IF NOT EXISTS links (src BLOB NOT NULL, dst BLOB NOT NULL, PRIMARY KEY (src, dst)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_by_dst ON links(dst);
CREATE TABLE IF NOT EXISTS chunk_refs (chunk BLOB NOT NULL, change BLOB NOT NULL, object BLOB NOT NULL, PRIMARY KEY (chunk, change)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chunk_refs_by_object ON chunk_refs(object, chunk);
CREATE INDEX IF NOT EXISTS chunk_refs_by_change ON chunk_refs(change);
CREATE TABLE IF NOT EXISTS chunk_held (peer TEXT NOT NULL, chunk BLOB NOT NULL, PRIMARY KEY (peer, chunk)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_by_recency ON objects(updated_ms DESC, id);
CREATE INDEX IF NOT EXISTS objects_stale ON objects(id) WHERE text_stale != 0;
CREATE TABLE IF NOT EXISTS node_acks (node TEXT NOT NULL, object BLOB NOT NULL, heads BLOB NOT NULL, time_ms INTEGER NOT NULL, sig BLOB NOT NULL, via TEXT NOT NULL DEFAULT '', lied_ms INTEGER NOT NULL DEFAULT 0, removal BLOB NOT NULL DEFAULT x'', seen_ms INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (node, object)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS node_acks_by_time ON node_acks(time_ms);
CREATE INDEX IF NOT EXISTS node_acks_lied ON node_acks(node, object) WHERE lied_ms != 0;
`

// SchemaVersion is the store format this code writes (PRAGMA user_version).
const SchemaVersion = 9

// migrations[v] brings a store of version v to v+1. Each is written out as
// it was when its format was current: a later format changes the schema
// with a migration of its own, never by editing an earlier one.
var migrations = map[int]string{
	// Version 1 found an object's search row by its id, which FTS5 cannot
	// index: every update scanned the whole search table. Rows are now
	// found by rowid; the search table is rebuilt from the objects, whose
	// text is reindexed when the vault opens (text_stale).
	1: `ALTER TABLE objects ADD COLUMN fts_rowid INTEGER;
DELETE FROM objects_fts;
UPDATE objects SET text_stale = 1;`,
	// Version 3 adds the device-local tables: snapshots sealed by this
	// device (never synced), the heads each peer said it holds (hashed),
	// and changes found damaged, kept aside until sync brings them back.
	// Existing changes keep flags 1 and 2; bits 4 (local) and 8 (inert)
	// start clear, as a format-2 store never recorded either.
	2: `CREATE TABLE snapshots (object BLOB PRIMARY KEY, seq INTEGER NOT NULL, sealed BLOB NOT NULL);
CREATE TABLE held (peer TEXT NOT NULL, object BLOB NOT NULL, heads BLOB NOT NULL, PRIMARY KEY (peer, object)) WITHOUT ROWID;
CREATE TABLE damaged (
	id      BLOB PRIMARY KEY,
	object  BLOB NOT NULL,
	raw     BLOB NOT NULL,
	reason  TEXT NOT NULL,
	time_ms INTEGER NOT NULL
);
CREATE INDEX damaged_by_object ON damaged(object);`,
	// Version 4 comes with Fugue text: a local snapshot now records each
	// run's origins, which a format-3 snapshot (state format 2) lacks.
	// Snapshots are derived data: dropped, every object replays from its
	// changes once and is snapshotted again. It also indexes the links
	// between objects, filled as every object's text is indexed again.
	3: `DELETE FROM snapshots;
CREATE TABLE links (src BLOB NOT NULL, dst BLOB NOT NULL, PRIMARY KEY (src, dst)) WITHOUT ROWID;
CREATE INDEX links_by_dst ON links(dst);
UPDATE objects SET text_stale = 1;`,
	// Version 5 indexes the file chunks each stored change references
	// (from its cleartext), and which of them each node said it holds.
	// Changes stored before name no chunks: files came with this format.
	4: `CREATE TABLE chunk_refs (chunk BLOB NOT NULL, change BLOB NOT NULL, object BLOB NOT NULL, PRIMARY KEY (chunk, change)) WITHOUT ROWID;
CREATE INDEX chunk_refs_by_object ON chunk_refs(object, chunk);
CREATE INDEX chunk_refs_by_change ON chunk_refs(change);
CREATE TABLE chunk_held (peer TEXT NOT NULL, chunk BLOB NOT NULL, PRIMARY KEY (peer, chunk)) WITHOUT ROWID;`,
	// Version 6 indexes objects by recency: ls pages through them (a
	// page costs what it shows, not a sort of every object); and those
	// whose search text is stale, which every command's Close looks for
	// (a scan of every object: 60 ms at 100,000).
	5: `CREATE INDEX objects_by_recency ON objects(updated_ms DESC, id);
CREATE INDEX objects_stale ON objects(id) WHERE text_stale != 0;`,
	// Version 7 finds CJK words inside a sentence, emoji and tags: the
	// search table indexes the words package fts makes of a text
	// (fts.IndexText: a CJK character or a symbol is a word), no longer
	// the text itself, which it therefore does not keep (contentless);
	// texts keeps it, for snippets. Its new column tags holds what
	// tag:NAME finds. Prefixes of 2 and 3 characters are indexed: the
	// last word of a query is a prefix, and one of 2 letters took 230 ms
	// at 10,000 pages, merging every word that starts so. The old search rows are dropped, and every object's
	// text is indexed again from its changes (text_stale) when the vault
	// next opens: nothing is lost, search finds it all once that is done.
	6: `DROP TABLE objects_fts;
CREATE VIRTUAL TABLE objects_fts USING fts5(title, body, tags, content = '', contentless_delete = 1, prefix = '2 3', tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE texts (rowid INTEGER PRIMARY KEY, id BLOB NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL);
UPDATE objects SET fts_rowid = NULL, text_stale = 1;`,
	// Version 8 keeps the latest signed acknowledgement of each node per
	// object (device-local: heads concatenated, sorted), and whether the
	// node was found to have lied about it since (internal/nodeack).
	7: `CREATE TABLE node_acks (node TEXT NOT NULL, object BLOB NOT NULL, heads BLOB NOT NULL, time_ms INTEGER NOT NULL, sig BLOB NOT NULL, via TEXT NOT NULL DEFAULT '', lied_ms INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (node, object)) WITHOUT ROWID;
CREATE INDEX node_acks_by_time ON node_acks(time_ms);
CREATE INDEX node_acks_lied ON node_acks(node, object) WHERE lied_ms != 0;`,
	// Version 9 remembers, with each kept word of a node, the member's
	// removal request this device last took as the reason the node showed
	// less (internal/device/nodeacks.go: each request excuses that once),
	// and when the word reached this device.
	8: `ALTER TABLE node_acks ADD COLUMN removal BLOB NOT NULL DEFAULT x'';
ALTER TABLE node_acks ADD COLUMN seen_ms INTEGER NOT NULL DEFAULT 0;`,
}

// migrate creates the schema in a new store or brings an older one up to
// SchemaVersion, in one transaction: a store is at one format or the next,
// never in between.
// migrate brings the store to SchemaVersion; one opened read only must be
// there already.
func migrate(db *sql.DB, readOnly bool) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	switch {
	case v > SchemaVersion:
		return fmt.Errorf("the store has format %d, newer than this mycel understands (%d): upgrade mycel", v, SchemaVersion)
	case v == SchemaVersion:
		return nil
	case readOnly:
		return fmt.Errorf("the store has format %d and must be upgraded, which needs some free space", v)
	case v == 0:
		if _, err := tx.Exec(schema); err != nil {
			return err
		}
	default:
		for ; v < SchemaVersion; v++ {
			m, ok := migrations[v]
			if !ok {
				return fmt.Errorf("the store has format %d, which this mycel cannot upgrade", v)
			}
			if _, err := tx.Exec(m); err != nil {
				return fmt.Errorf("upgrade the store from format %d: %w", v, err)
			}
		}
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}
