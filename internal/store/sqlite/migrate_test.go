package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/fts"
)

// format2Schema is the schema of store format 2, as mycel wrote it: the
// tests make real format-2 (and, without fts_rowid, format-1) stores from
// it rather than trimming a store of the current format.
const format2Schema = `
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	id       BLOB NOT NULL UNIQUE,
	object   BLOB NOT NULL,
	author   BLOB NOT NULL,
	lamport  INTEGER NOT NULL,
	time_ms  INTEGER NOT NULL,
	flags    INTEGER NOT NULL, -- 1 snapshot, 2 starts a new version
	parents  BLOB NOT NULL,
	raw      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_by_object ON changes(object, seq);
CREATE TABLE IF NOT EXISTS heads (object BLOB NOT NULL, change BLOB NOT NULL, PRIMARY KEY (object, change)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
	id         BLOB PRIMARY KEY,
	title      TEXT NOT NULL,
	type       TEXT NOT NULL,
	archived   INTEGER NOT NULL,
	created_ms INTEGER NOT NULL,
	updated_ms INTEGER NOT NULL,
	snippet    TEXT NOT NULL,
	changes    INTEGER NOT NULL,
	snap_id    BLOB,
	snap_seq   INTEGER NOT NULL,
	text_stale INTEGER NOT NULL DEFAULT 0,
	fts_rowid  INTEGER -- the object's row in objects_fts
);
CREATE VIRTUAL TABLE IF NOT EXISTS objects_fts USING fts5(id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2');
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
`

var (
	oldObj  = change.ID{0x0b}
	oldHead = change.ID{0x0c}
	// oldParked waits for oldMissing.
	oldParked, oldMissing = change.ID{0x0d}, change.ID{0x0e}
)

// makeOldStore writes a store of format 1 or 2 at path, with a root and
// a second change (flags snapshot and new version), heads, an index row
// with search text, a parked change, a member record and a setting.
func makeOldStore(t *testing.T, path string, version int, extra ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	stmts := []string{format2Schema}
	if version == 1 {
		stmts = append(stmts, `ALTER TABLE objects DROP COLUMN fts_rowid`)
	}
	stmts = append(stmts, extra...)
	stmts = append(stmts, fmt.Sprintf(`PRAGMA user_version = %d`, version))
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO changes(id, object, author, lamport, time_ms, flags, parents, raw) VALUES (?, ?, 'me', 0, 1000, 0, x'', 'root bytes')`, oldObj[:], oldObj[:])
	exec(`INSERT INTO changes(id, object, author, lamport, time_ms, flags, parents, raw) VALUES (?, ?, 'me', 1, 2000, 3, ?, 'second bytes')`, oldHead[:], oldObj[:], oldObj[:])
	exec(`INSERT INTO heads(object, change) VALUES (?, ?)`, oldObj[:], oldHead[:])
	exec(`INSERT INTO parked(id, object, author, lamport, time_ms, flags, parents, raw) VALUES (?, ?, 'me', 5, 3000, 0, ?, 'parked bytes')`,
		oldParked[:], oldObj[:], oldMissing[:])
	exec(`INSERT INTO members(hash, raw) VALUES (x'01', 'record')`)
	exec(`INSERT INTO settings(key, value) VALUES ('vault_id', x'0102')`)
	exec(`INSERT INTO objects_fts(rowid, id, title, body) VALUES (7, ?, 'Old', 'ancient words')`, oldObj[:])
	if version == 1 {
		exec(`INSERT INTO objects(id, title, type, archived, created_ms, updated_ms, snippet, changes, snap_id, snap_seq) VALUES (?, 'Old', 'page', 0, 1000, 2000, 'ancient', 2, NULL, 0)`, oldObj[:])
	} else {
		exec(`INSERT INTO objects(id, title, type, archived, created_ms, updated_ms, snippet, changes, snap_id, snap_seq, fts_rowid) VALUES (?, 'Old', 'page', 0, 1000, 2000, 'ancient', 2, NULL, 0, 7)`, oldObj[:])
	}
}

func userVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// checkOldData checks that what makeOldStore wrote reads back through the
// store.
func checkOldData(t *testing.T, db *DB) {
	t.Helper()
	err := db.View(context.Background(), func(tx store.Tx) error {
		ms, raws, err := tx.ChangesAfter(oldObj, 0)
		if err != nil || len(ms) != 2 || string(raws[1]) != "second bytes" {
			return fmt.Errorf("changes = %+v, %v", ms, err)
		}
		m := ms[1]
		if !m.Snapshot || !m.NewVersion || m.Local || m.Inert || m.Parents[0] != oldObj || !m.Time.Equal(time.UnixMilli(2000)) {
			return fmt.Errorf("an old change reads back as %+v", m)
		}
		if heads, err := tx.Heads(oldObj); err != nil || len(heads) != 1 || heads[0] != oldHead {
			return fmt.Errorf("heads = %v, %v", heads, err)
		}
		if ps, _, err := tx.Parked(oldObj); err != nil || len(ps) != 1 {
			return fmt.Errorf("parked = %v, %v", ps, err)
		}
		if recs, err := tx.MemberRecords(); err != nil || len(recs) != 1 || string(recs[0]) != "record" {
			return fmt.Errorf("members = %q, %v", recs, err)
		}
		if v, err := tx.Setting("vault_id"); err != nil || string(v) != "\x01\x02" {
			return fmt.Errorf("setting = %q, %v", v, err)
		}
		if o, err := tx.Object(oldObj); err != nil || o.Title != "Old" || o.Changes != 2 {
			return fmt.Errorf("object = %+v, %v", o, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A store of format 2 opens as format 3: its data as it was (no change
// local or inert), its search text marked for reindexing (format 7), and
// the new tables there.
func TestOpenUpgradesFormat2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	makeOldStore(t, path, 2)
	db := open(t, path)
	defer db.Close()
	if v := userVersion(t, db.db); v != SchemaVersion {
		t.Fatalf("format %d after opening, want %d", v, SchemaVersion)
	}
	checkOldData(t, db)
	err := db.Update(context.Background(), func(tx store.Tx) error {
		if stale, err := tx.StaleText(); err != nil || len(stale) != 1 || stale[0] != oldObj {
			return fmt.Errorf("stale text %v, %v; want the object", stale, err)
		}
		if err := reindex(tx, "ancient words"); err != nil {
			return err
		}
		if hits, err := searchText(tx, "ancient"); err != nil || len(hits) != 1 || hits[0].ID != oldObj {
			return fmt.Errorf("search after upgrading = %v, %v", hits, err)
		}
		if err := tx.PutSnapshot(oldObj, store.Snapshot{Seq: 2, Sealed: []byte("s")}); err != nil {
			return err
		}
		if err := tx.PutHeld("peer", oldObj, [32]byte{1}); err != nil {
			return err
		}
		if err := tx.SetInert(oldHead, true); err != nil {
			return err
		}
		if err := tx.Quarantine(store.Damaged{ID: oldObj, Reason: "test", Time: time.UnixMilli(1)}); err != nil {
			return err
		}
		if ds, err := tx.Damaged(oldObj); err != nil || len(ds) != 1 || string(ds[0].Raw) != "root bytes" {
			return fmt.Errorf("damaged = %+v, %v", ds, err)
		}
		if m, err := tx.Meta(oldHead); err != nil || !m.Inert || !m.Snapshot || !m.NewVersion {
			return fmt.Errorf("meta after set inert = %+v, %v", m, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A store of format 1 (search rows found by object id) goes through both
// migrations: its search rows are dropped and its objects marked for
// reindexing, after which search finds them again.
func TestOpenUpgradesFormat1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	makeOldStore(t, path, 1)
	db := open(t, path)
	defer db.Close()
	if v := userVersion(t, db.db); v != SchemaVersion {
		t.Fatalf("format %d after opening, want %d", v, SchemaVersion)
	}
	checkOldData(t, db)
	err := db.Update(context.Background(), func(tx store.Tx) error {
		stale, err := tx.StaleText()
		if err != nil || len(stale) != 1 || stale[0] != oldObj {
			return fmt.Errorf("stale text %v, %v; want the object", stale, err)
		}
		if hits, _ := searchText(tx, "ancient"); len(hits) != 0 {
			return fmt.Errorf("search found %d rows of the old format", len(hits))
		}
		o, err := tx.Object(oldObj)
		if err != nil {
			return err
		}
		o.Body, o.TextStale = "ancient words", false
		if err := tx.PutObject(o); err != nil {
			return err
		}
		if err := tx.PutObject(o); err != nil { // a second time: replaces its row
			return err
		}
		if hits, _ := searchText(tx, "ancient"); len(hits) != 1 || hits[0].ID != oldObj {
			return fmt.Errorf("search after reindexing: %v", hits)
		}
		return tx.PutSnapshot(oldObj, store.Snapshot{Seq: 1, Sealed: []byte("s")})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// searchText runs query as typed, its first 10 hits.
func searchText(tx store.Tx, query string) ([]store.Hit, error) {
	q, err := fts.Parse(query)
	if err != nil {
		return nil, err
	}
	return tx.Search(store.SearchQuery{Query: q, Limit: 10})
}

// reindex gives the old object its text, as a vault opening the store
// does for every object whose text is stale.
func reindex(tx store.Tx, body string) error {
	o, err := tx.Object(oldObj)
	if err != nil {
		return err
	}
	o.Body, o.TextStale = body, false
	return tx.PutObject(o)
}

// A store of format 6, the last to index a text as FTS5's tokenizer read
// it (a run of CJK characters one word, emoji none), keeps everything but
// its search rows: its objects are reindexed, and found then by a word
// inside a Japanese sentence, an emoji or a tag.
func TestOpenUpgradesFormat6(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	makeOldStore(t, path, 2)
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for v := 2; v < 6; v++ {
		if _, err := raw.Exec(migrations[v]); err != nil {
			t.Fatalf("migration %d: %v", v, err)
		}
	}
	for _, q := range []string{`UPDATE objects SET text_stale = 0`, `UPDATE objects_fts SET body = '東京タワーに行きました 🌱' WHERE rowid = 7`, `PRAGMA user_version = 6`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	db := open(t, path)
	defer db.Close()
	if v := userVersion(t, db.db); v != SchemaVersion {
		t.Fatalf("format %d after opening, want %d", v, SchemaVersion)
	}
	checkOldData(t, db)
	err = db.Update(context.Background(), func(tx store.Tx) error {
		if stale, err := tx.StaleText(); err != nil || len(stale) != 1 || stale[0] != oldObj {
			return fmt.Errorf("stale text %v, %v; want the object", stale, err)
		}
		if hits, err := searchText(tx, "ancient"); err != nil || len(hits) != 0 {
			return fmt.Errorf("search found rows of the old format: %v, %v", hits, err)
		}
		o, err := tx.Object(oldObj)
		if err != nil {
			return err
		}
		o.Body, o.Tags, o.TextStale = "東京タワーに行きました 🌱", []string{"travel"}, false
		if err := tx.PutObject(o); err != nil {
			return err
		}
		for _, q := range []string{"東京", "🌱", "tag:travel", "old"} {
			if hits, err := searchText(tx, q); err != nil || len(hits) != 1 || hits[0].ID != oldObj {
				return fmt.Errorf("search %q after reindexing: %v, %v", q, hits, err)
			}
		}
		if title, body, ok, err := tx.IndexedText(oldObj); !ok || err != nil || title != "Old" || body != o.Body {
			return fmt.Errorf("indexed text %q, %q, %v, %v", title, body, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An upgrade that fails leaves the store at its old format, untouched.
func TestFailedUpgradeChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	// A table in the way of migration 2, after one it creates first.
	makeOldStore(t, path, 2, `CREATE TABLE damaged (x)`)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "format 2") {
		t.Fatalf("open with the upgrade in the way: %v", err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v := userVersion(t, db); v != 2 {
		t.Fatalf("format %d after a failed upgrade, want 2", v)
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('snapshots', 'held')`).Scan(&n)
	if n != 0 {
		t.Fatalf("a failed upgrade left %d of its tables", n)
	}
}

// Whichever way a store came to the current format, fresh or upgraded
// from format 1 or 2, it has the same tables, columns and indexes.
func TestMigratedSchemaIsFresh(t *testing.T) {
	dir := t.TempDir()
	fresh := open(t, filepath.Join(dir, "fresh.db"))
	defer fresh.Close()
	want := schemaOf(t, fresh.db)
	if !strings.Contains(want, "table held") || !strings.Contains(want, "without_rowid=1") {
		t.Fatalf("the schema description misses the new tables:\n%s", want)
	}
	for _, v := range []int{1, 2} {
		path := filepath.Join(dir, fmt.Sprintf("format%d.db", v))
		makeOldStore(t, path, v)
		db := open(t, path)
		got := schemaOf(t, db.db)
		db.Close()
		if got != want {
			t.Fatalf("a store upgraded from format %d:\n%s\na new store:\n%s", v, got, want)
		}
	}
}

// schemaOf describes a database's tables (columns with their types,
// constraints and defaults; without rowid or not), indexes (columns,
// uniqueness) and virtual tables (their definition).
func schemaOf(t *testing.T, db *sql.DB) string {
	t.Helper()
	var out []string
	rows, err := db.Query(`SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'objects_fts_%' ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct{ typ, name, table, sql string }
	var entries []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.typ, &e.name, &e.table, &e.sql); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	rows.Close()
	lines := func(q string) []string {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var ls []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, c := range cols {
				if c == "seq" || c == "cid" { // list positions, not structure
					continue
				}
				fmt.Fprintf(&b, " %s=%v", c, vals[i])
			}
			ls = append(ls, b.String())
		}
		return ls
	}
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.sql, "CREATE VIRTUAL TABLE"):
			out = append(out, "virtual "+e.name+" "+e.sql)
		case e.typ == "table":
			out = append(out, "table "+e.name)
			for _, l := range lines(fmt.Sprintf(`SELECT wr AS without_rowid, strict FROM pragma_table_list WHERE name = '%s'`, e.name)) {
				out = append(out, "  "+l)
			}
			for _, l := range lines(fmt.Sprintf(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info('%s')`, e.name)) {
				out = append(out, "  column"+l)
			}
		case e.typ == "index":
			idx := lines(fmt.Sprintf(`SELECT name FROM pragma_index_info('%s')`, e.name))
			uniq := lines(fmt.Sprintf(`SELECT "unique", origin, partial FROM pragma_index_list('%s') WHERE name = '%s'`, e.table, e.name))
			slices.Sort(uniq)
			out = append(out, fmt.Sprintf("index %s on %s%v%v", e.name, e.table, idx, uniq))
		}
	}
	if len(out) == 0 {
		t.Fatal(errors.New("no schema"))
	}
	return strings.Join(out, "\n")
}

// A store of format 3 keeps everything but its local snapshots, which hold
// text without Fugue origins: they are dropped, and objects replay.
func TestOpenUpgradesFormat3DropsSnapshots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mycel.db")
	makeOldStore(t, path, 2)
	db := open(t, path)
	err := db.Update(context.Background(), func(tx store.Tx) error {
		return tx.PutSnapshot(oldObj, store.Snapshot{Seq: 2, Sealed: []byte("format-3 snapshot")})
	})
	if err != nil {
		t.Fatal(err)
	}
	// Back to format 3: no links table, no chunk tables, the old search
	// table.
	for _, q := range []string{`DROP TABLE texts`, `DROP TABLE objects_fts`,
		`CREATE VIRTUAL TABLE objects_fts USING fts5(id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2')`, `DROP TABLE links`, `DROP TABLE chunk_refs`, `DROP TABLE chunk_held`, `DROP TABLE node_acks`, `DROP INDEX objects_by_recency`, `DROP INDEX objects_stale`, `PRAGMA user_version = 3`} {
		if _, err := db.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db = open(t, path)
	defer db.Close()
	if v := userVersion(t, db.db); v != SchemaVersion {
		t.Fatalf("format %d after opening, want %d", v, SchemaVersion)
	}
	checkOldData(t, db)
	err = db.View(context.Background(), func(tx store.Tx) error {
		if s, err := tx.Snapshot(oldObj); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("snapshot after upgrading = %q, %v: want none", s.Sealed, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
