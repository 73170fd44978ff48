package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/fts"
)

// PutObject writes an object's index row and, unless its text is stale,
// its search row. An object keeps the creation time of its first put.
func (t *txn) PutObject(o store.Object) error {
	var snap []byte
	if o.Snapshot != (change.ID{}) {
		snap = o.Snapshot[:]
	}
	// Read, then a plain INSERT or UPDATE, not one upsert: an upsert
	// (ON CONFLICT DO UPDATE) takes a statement journal, whose savepoint
	// makes FTS5 flush the words it holds in memory to a segment of their
	// own, so a batch that indexes many objects wrote one tiny segment per
	// object and merged them again (a third of a received batch's
	// indexing); plain single-row statements leave the words to be
	// written once, at the commit.
	var ftsRow sql.NullInt64
	args := []any{o.Title, o.Type, boolInt(o.Archived) | boolInt(o.Deleted)<<1, o.Updated.UnixMilli(), o.Snippet, o.Changes, snap, o.SnapshotSeq, boolInt(o.TextStale), o.ID[:]}
	switch err := t.queryRow(`SELECT fts_rowid FROM objects WHERE id = ?`, o.ID[:]).Scan(&ftsRow); {
	case errors.Is(err, sql.ErrNoRows):
		_, err = t.exec(`INSERT INTO objects(title, type, archived, updated_ms, snippet, changes, snap_id, snap_seq, text_stale, id, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append(args, o.Created.UnixMilli())...)
		if err != nil {
			return fmt.Errorf("index object: %w", err)
		}
	case err != nil:
		return fmt.Errorf("index object: %w", err)
	default:
		_, err = t.exec(`UPDATE objects SET title = ?, type = ?, archived = ?, updated_ms = ?, snippet = ?, changes = ?, snap_id = ?, snap_seq = ?, text_stale = ? WHERE id = ?`, args...)
		if err != nil {
			return fmt.Errorf("index object: %w", err)
		}
	}
	if o.TextStale {
		return nil
	}
	if err := t.putLinks(o.ID, o.Links); err != nil {
		return err
	}
	// The text as written (for snippets and IndexedText), and the
	// words FTS5 indexes: package fts's, CJK characters and emoji too.
	title, body, tags := fts.IndexText(o.Title), fts.IndexText(o.Body), fts.TagText(o.Tags)
	if ftsRow.Valid {
		if _, err := t.exec(`DELETE FROM objects_fts WHERE rowid = ?`, ftsRow.Int64); err != nil {
			return fmt.Errorf("index object: %w", err)
		}
		if _, err := t.exec(`INSERT OR REPLACE INTO texts(rowid, id, title, body) VALUES (?, ?, ?, ?)`, ftsRow.Int64, o.ID[:], o.Title, o.Body); err != nil {
			return fmt.Errorf("index object: %w", err)
		}
		if _, err := t.exec(`INSERT INTO objects_fts(rowid, title, body, tags) VALUES (?, ?, ?, ?)`, ftsRow.Int64, title, body, tags); err != nil {
			return fmt.Errorf("index object: %w", err)
		}
		return nil
	}
	res, err := t.exec(`INSERT INTO texts(id, title, body) VALUES (?, ?, ?)`, o.ID[:], o.Title, o.Body)
	if err != nil {
		return fmt.Errorf("index object: %w", err)
	}
	row, err := res.LastInsertId()
	if err == nil {
		_, err = t.exec(`INSERT INTO objects_fts(rowid, title, body, tags) VALUES (?, ?, ?, ?)`, row, title, body, tags)
	}
	if err == nil {
		_, err = t.exec(`UPDATE objects SET fts_rowid = ? WHERE id = ?`, row, o.ID[:])
	}
	if err != nil {
		return fmt.Errorf("index object: %w", err)
	}
	return nil
}

// putLinks makes src's indexed links those in links.
func (t *txn) putLinks(src change.ID, links []change.ID) error {
	if _, err := t.exec(`DELETE FROM links WHERE src = ?`, src[:]); err != nil {
		return fmt.Errorf("index links: %w", err)
	}
	for _, dst := range links {
		if _, err := t.exec(`INSERT OR IGNORE INTO links(src, dst) VALUES (?, ?)`, src[:], dst[:]); err != nil {
			return fmt.Errorf("index links: %w", err)
		}
	}
	return nil
}

func (t *txn) Backlinks(id change.ID) ([]change.ID, error) {
	out, err := t.ids(`SELECT src FROM links WHERE dst = ? ORDER BY src`, id[:])
	if err != nil {
		return nil, fmt.Errorf("backlinks: %w", err)
	}
	return out, nil
}

const objectCols = `o.id, o.title, o.type, o.archived, o.created_ms, o.updated_ms, o.snippet, o.changes, o.snap_id, o.snap_seq, o.text_stale`

func scanObject(sc interface{ Scan(...any) error }, extra ...any) (store.Object, error) {
	var o store.Object
	var id, snap []byte
	var arch, stale int
	var cms, ums int64
	if err := sc.Scan(append([]any{&id, &o.Title, &o.Type, &arch, &cms, &ums, &o.Snippet, &o.Changes, &snap, &o.SnapshotSeq, &stale}, extra...)...); err != nil {
		return o, err
	}
	var err error
	if snap != nil {
		if o.Snapshot, err = toID(snap); err != nil {
			return o, err
		}
	}
	o.ID, err = toID(id)
	o.Archived, o.Deleted, o.TextStale = arch&1 != 0, arch&2 != 0, stale != 0
	o.Created, o.Updated = time.UnixMilli(cms).UTC(), time.UnixMilli(ums).UTC()
	return o, err
}

func (t *txn) Object(id change.ID) (store.Object, error) {
	o, err := scanObject(t.queryRow(`SELECT `+objectCols+` FROM objects o WHERE id = ?`, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("object %s: %w", id.Short(), store.ErrNotFound)
	}
	return o, err
}

func (t *txn) Objects() ([]store.Object, error) {
	return t.ObjectsPage(store.ObjectQuery{All: true})
}

func (t *txn) CountObjects() (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM objects`).Scan(&n)
	return n, err
}

func (t *txn) ObjectsPage(q store.ObjectQuery) ([]store.Object, error) {
	var where []string
	var args []any
	switch {
	case q.All:
	case q.Deleted:
		where = append(where, `archived & 2 != 0`)
	case q.Archived:
		where = append(where, `archived & 2 = 0`)
	default:
		where = append(where, `archived = 0`)
	}
	if q.After != nil {
		u := q.After.Updated.UnixMilli()
		where = append(where, `(updated_ms < ? OR (updated_ms = ? AND id > ?))`)
		args = append(args, u, u, q.After.ID[:])
	}
	query := `SELECT ` + objectCols + ` FROM objects o`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY updated_ms DESC, id`
	if q.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Object
	for rows.Next() {
		o, err := scanObject(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Search asks FTS5 for the hits ranked by bm25 (its rank), then by id,
// after the cursor; their snippets are made here from a bounded window of
// the text (package fts), not by snippet(), which reads all of it and
// took 85 s on a page of 2.5 MB (and which a contentless table has no
// text for).
func (t *txn) Search(q store.SearchQuery) ([]store.Hit, error) {
	if len(q.Query.Parts) == 0 {
		return nil, nil
	}
	// bm25 once a row (materialized: the cursor's test and the order
	// would each compute it again), the rows in the order of the page,
	// their texts read for the page's hits alone.
	query := `WITH m AS MATERIALIZED (SELECT rowid AS r, rank AS k FROM objects_fts WHERE objects_fts MATCH ?)
		SELECT ` + objectCols + `, m.r, m.k FROM m JOIN texts x ON x.rowid = m.r JOIN objects o ON o.id = x.id
		WHERE o.archived & 2 = 0`
	args := []any{q.Query.FTS()}
	if a := q.After; a != nil {
		query += ` AND (m.k > ? OR (m.k = ? AND o.id > ?))`
		args = append(args, a.Rank, a.Rank, a.ID[:])
	}
	query += ` ORDER BY m.k, o.id`
	if q.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var hits []store.Hit
	var ftsRows []int64
	for rows.Next() {
		var h store.Hit
		var row int64
		if h.Object, err = scanObject(rows, &row, &h.Rank); err != nil {
			return nil, err
		}
		hits, ftsRows = append(hits, h), append(ftsRows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	bodies := make([]string, len(hits))
	for i, row := range ftsRows {
		if err := t.queryRow(`SELECT body FROM texts WHERE rowid = ?`, row).Scan(&bodies[i]); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	snips := q.Query.Snippets()
	inBody := q.Query.Body()
	for i := range hits {
		in := inBody != ""
		if in && len(bodies[i]) > fts.Window {
			// A long text whose match may be in the title or tags alone:
			// the index says whether to look for it in the text, which
			// otherwise is read to the budget to find nothing.
			var n int
			if err := t.queryRow(`SELECT count(*) FROM objects_fts WHERE objects_fts MATCH ? AND rowid = ?`, inBody, ftsRows[i]).Scan(&n); err != nil {
				return nil, fmt.Errorf("search: %w", err)
			}
			in = n > 0
		}
		hits[i].Match = snips.Of(bodies[i], in)
	}
	return hits, nil
}

func (t *txn) StaleText() ([]change.ID, error) {
	return t.ids(`SELECT id FROM objects WHERE text_stale != 0 ORDER BY id`)
}

// likeEscape makes s match itself in a LIKE pattern with ESCAPE '\': a
// typed prefix is text, not a pattern.
var likeEscape = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func (t *txn) ObjectsWithPrefix(prefix string) ([]change.ID, error) {
	return t.ids(`SELECT id FROM objects WHERE lower(hex(id)) LIKE ? ESCAPE '\' ORDER BY id`, likeEscape.Replace(strings.ToLower(prefix))+"%")
}

func (t *txn) IndexedText(id change.ID) (title, body string, ok bool, err error) {
	var stale int
	var row sql.NullInt64
	err = t.queryRow(`SELECT text_stale, fts_rowid FROM objects WHERE id = ?`, id[:]).Scan(&stale, &row)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (stale != 0 || !row.Valid) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	err = t.queryRow(`SELECT title, body FROM texts WHERE rowid = ?`, row.Int64).Scan(&title, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	return title, body, err == nil, err
}
