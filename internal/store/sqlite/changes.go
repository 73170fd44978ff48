package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
)

// The bits of changes.flags (and parked.flags).
const (
	flagSnapshot   = 1
	flagNewVersion = 2
	flagLocal      = 4
	flagInert      = 8
)

func flags(m store.ChangeMeta) int {
	return boolInt(m.Snapshot)*flagSnapshot | boolInt(m.NewVersion)*flagNewVersion |
		boolInt(m.Local)*flagLocal | boolInt(m.Inert)*flagInert
}

// notNull is b, or an empty blob for nil, which SQLite would take as NULL:
// under INSERT OR IGNORE a NULL in a NOT NULL column drops the row without
// an error.
func notNull(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (t *txn) PutChange(m store.ChangeMeta, raw []byte) (int64, bool, error) {
	res, err := t.exec(`INSERT OR IGNORE INTO changes(id, object, author, lamport, time_ms, flags, parents, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID[:], m.Object[:], notNull(m.Author), int64(m.Lamport), m.Time.UnixMilli(), flags(m), joinIDs(m.Parents), notNull(raw))
	if err != nil {
		return 0, false, fmt.Errorf("put change: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, false, err
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, false, err
	}
	if err := t.putChunkRefs(m.ID, m.Object, m.Chunks); err != nil {
		return 0, false, err
	}
	return seq, true, nil
}

func (t *txn) HasChange(id change.ID) (bool, error) {
	var one int
	err := t.queryRow(`SELECT 1 FROM changes WHERE id = ?`, id[:]).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// storedOfSizes are the list lengths StoredOf's prepared statements ask
// about: a list is cut into chunks of the largest and its rest padded to
// the smallest size that holds it, so that a few statements serve every
// query and a one-id lookup (a node's usual batch) binds one id, not 128.
var storedOfSizes = [...]int{1, 8, 32, 128}

var storedOfQueries = func() (qs [len(storedOfSizes)]string) {
	for i, n := range storedOfSizes {
		qs[i] = `SELECT id FROM changes WHERE id IN (?` + strings.Repeat(`, ?`, n-1) + `)`
	}
	return qs
}()

func (t *txn) StoredOf(ids []change.ID) (map[change.ID]bool, error) {
	out := map[change.ID]bool{}
	most := storedOfSizes[len(storedOfSizes)-1]
	for lo := 0; lo < len(ids); lo += most {
		chunk := ids[lo:min(lo+most, len(ids))]
		q := 0
		for storedOfSizes[q] < len(chunk) {
			q++
		}
		args := make([]any, storedOfSizes[q])
		for i := range args {
			args[i] = chunk[min(i, len(chunk)-1)][:]
		}
		found, err := t.ids(storedOfQueries[q], args...)
		if err != nil {
			return nil, err
		}
		for _, id := range found {
			out[id] = true
		}
	}
	return out, nil
}

func (t *txn) RawChange(id change.ID) ([]byte, error) {
	var raw []byte
	err := t.queryRow(`SELECT raw FROM changes WHERE id = ?`, id[:]).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("change %s: %w", id.Short(), store.ErrNotFound)
	}
	return raw, err
}

// metaCols are the columns scanMetas reads, in its order.
const metaCols = `id, object, author, lamport, time_ms, flags, parents, length(raw)`

func scanMetas(rows *sql.Rows, withRaw bool) ([]store.ChangeMeta, [][]byte, error) {
	defer rows.Close()
	var out []store.ChangeMeta
	var raws [][]byte
	for rows.Next() {
		var id, obj, author, parents, raw []byte
		var lamport, tms, seq int64
		var fl, size int
		dst := []any{&id, &obj, &author, &lamport, &tms, &fl, &parents, &size, &seq}
		if withRaw {
			dst = append(dst, &raw)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, nil, err
		}
		m := store.ChangeMeta{Author: author, Lamport: uint64(lamport), Time: time.UnixMilli(tms).UTC(),
			Snapshot: fl&flagSnapshot != 0, NewVersion: fl&flagNewVersion != 0,
			Local: fl&flagLocal != 0, Inert: fl&flagInert != 0, Size: size, Seq: seq}
		var err error
		if m.ID, err = toID(id); err != nil {
			return nil, nil, err
		}
		if m.Object, err = toID(obj); err != nil {
			return nil, nil, err
		}
		if m.Parents, err = splitIDs(parents); err != nil {
			return nil, nil, err
		}
		out = append(out, m)
		raws = append(raws, raw)
	}
	return out, raws, rows.Err()
}

func (t *txn) Changes(object change.ID, seq int64) ([]store.ChangeMeta, error) {
	rows, err := t.query(`SELECT `+metaCols+`, seq FROM changes WHERE object = ? AND seq > ? ORDER BY seq`, object[:], seq)
	if err != nil {
		return nil, fmt.Errorf("list changes: %w", err)
	}
	m, _, err := scanMetas(rows, false)
	return m, err
}

func (t *txn) ChangesAfter(object change.ID, seq int64) ([]store.ChangeMeta, [][]byte, error) {
	rows, err := t.query(`SELECT `+metaCols+`, seq, raw FROM changes WHERE object = ? AND seq > ? ORDER BY seq`, object[:], seq)
	if err != nil {
		return nil, nil, fmt.Errorf("list changes: %w", err)
	}
	return scanMetas(rows, true)
}

func (t *txn) ChangeRange(object change.ID, seq int64, limit int, withRaw bool) ([]store.ChangeMeta, [][]byte, error) {
	if limit <= 0 {
		limit = -1 // SQLite's "no limit"
	}
	q := `SELECT id, parents, length(raw), seq FROM changes WHERE object = ? AND seq > ? ORDER BY seq LIMIT ?`
	if withRaw {
		q = `SELECT id, parents, length(raw), seq, raw FROM changes WHERE object = ? AND seq > ? ORDER BY seq LIMIT ?`
	}
	rows, err := t.query(q, object[:], seq, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("list changes: %w", err)
	}
	defer rows.Close()
	var out []store.ChangeMeta
	var raws [][]byte
	for rows.Next() {
		var id, parents, raw []byte
		m := store.ChangeMeta{Object: object}
		dst := []any{&id, &parents, &m.Size, &m.Seq}
		if withRaw {
			dst = append(dst, &raw)
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, nil, err
		}
		if m.ID, err = toID(id); err != nil {
			return nil, nil, err
		}
		if m.Parents, err = splitIDs(parents); err != nil {
			return nil, nil, err
		}
		out = append(out, m)
		if withRaw {
			raws = append(raws, raw)
		}
	}
	return out, raws, rows.Err()
}

func (t *txn) Meta(id change.ID) (store.ChangeMeta, error) {
	rows, err := t.query(`SELECT `+metaCols+`, seq FROM changes WHERE id = ?`, id[:])
	if err != nil {
		return store.ChangeMeta{}, err
	}
	ms, _, err := scanMetas(rows, false)
	if err != nil {
		return store.ChangeMeta{}, err
	}
	if len(ms) == 0 {
		return store.ChangeMeta{}, fmt.Errorf("change %s: %w", id.Short(), store.ErrNotFound)
	}
	return ms[0], nil
}

func (t *txn) CountChanges() (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM changes`).Scan(&n)
	return n, err
}

func (t *txn) LastSeq() (int64, error) {
	var last int64
	err := t.queryRow(`SELECT coalesce(max(seq), 0) FROM changes`).Scan(&last)
	return last, err
}

func (t *txn) ChangedBy(author []byte, seq int64) ([]change.ID, int64, error) {
	last, err := t.LastSeq()
	if err != nil {
		return nil, 0, err
	}
	if last <= seq {
		return nil, seq, nil
	}
	if author == nil {
		objs, err := t.ids(`SELECT DISTINCT object FROM changes WHERE seq > ? AND seq <= ? ORDER BY object`, seq, last)
		return objs, last, err
	}
	objs, err := t.ids(`SELECT DISTINCT object FROM changes WHERE seq > ? AND seq <= ? AND author = ? ORDER BY object`, seq, last, author)
	return objs, last, err
}

func (t *txn) ChangeObjects() ([]change.ID, error) {
	return t.ids(`SELECT DISTINCT object FROM changes ORDER BY object`)
}

func (t *txn) SetInert(id change.ID, inert bool) error {
	res, err := t.exec(`UPDATE changes SET flags = (flags & ~?) | ? WHERE id = ?`, flagInert, boolInt(inert)*flagInert, id[:])
	if err != nil {
		return fmt.Errorf("set inert: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = fmt.Errorf("change %s: %w", id.Short(), store.ErrNotFound)
		}
		return err
	}
	return nil
}

// DeleteChange removes a change's row; a change that is not stored is
// nothing to remove. Its arrival number is not reused (AUTOINCREMENT): a
// change stored again later arrives anew.
func (t *txn) DeleteChange(id change.ID) error {
	if _, err := t.exec(`DELETE FROM changes WHERE id = ?`, id[:]); err != nil {
		return fmt.Errorf("delete change: %w", err)
	}
	if _, err := t.exec(`DELETE FROM chunk_refs WHERE change = ?`, id[:]); err != nil {
		return fmt.Errorf("delete change: %w", err)
	}
	return nil
}

func (t *txn) Heads(object change.ID) ([]change.ID, error) {
	return t.ids(`SELECT change FROM heads WHERE object = ? ORDER BY change`, object[:])
}

func (t *txn) AllHeads() (map[change.ID][]change.ID, error) {
	rows, err := t.query(`SELECT object, change FROM heads ORDER BY object, change`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[change.ID][]change.ID{}
	for rows.Next() {
		var o, c []byte
		if err := rows.Scan(&o, &c); err != nil {
			return nil, err
		}
		obj, err := toID(o)
		if err != nil {
			return nil, err
		}
		id, err := toID(c)
		if err != nil {
			return nil, err
		}
		out[obj] = append(out[obj], id)
	}
	return out, rows.Err()
}

// SetHeads replaces an object's heads; a head given twice is kept once.
func (t *txn) SetHeads(object change.ID, heads []change.ID) error {
	if _, err := t.exec(`DELETE FROM heads WHERE object = ?`, object[:]); err != nil {
		return err
	}
	for _, h := range heads {
		if _, err := t.exec(`INSERT OR IGNORE INTO heads(object, change) VALUES (?, ?)`, object[:], h[:]); err != nil {
			return err
		}
	}
	return nil
}

// Park keeps the first copy of a change parked twice.
func (t *txn) Park(m store.ChangeMeta, raw []byte) error {
	_, err := t.exec(`INSERT OR IGNORE INTO parked(id, object, author, lamport, time_ms, flags, parents, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID[:], m.Object[:], notNull(m.Author), int64(m.Lamport), m.Time.UnixMilli(), flags(m), joinIDs(m.Parents), notNull(raw))
	return err
}

// Parked lists an object's parked changes in the order they were parked
// (rowid), so retries go in arrival order.
func (t *txn) Parked(object change.ID) ([]store.ChangeMeta, [][]byte, error) {
	rows, err := t.query(`SELECT `+metaCols+`, 0, raw FROM parked WHERE object = ? ORDER BY rowid`, object[:])
	if err != nil {
		return nil, nil, err
	}
	return scanMetas(rows, true)
}

func (t *txn) Unpark(id change.ID) error {
	_, err := t.exec(`DELETE FROM parked WHERE id = ?`, id[:])
	return err
}

func (t *txn) ParkedBytes(object change.ID) (int64, error) {
	q, args := `SELECT COALESCE(SUM(length(raw)), 0) FROM parked`, []any{}
	if object != (change.ID{}) {
		q, args = q+` WHERE object = ?`, []any{object[:]}
	}
	var n int64
	err := t.queryRow(q, args...).Scan(&n)
	return n, err
}

func (t *txn) DropOldestParked() (change.ID, bool, error) {
	ids, err := t.ids(fmt.Sprintf(`SELECT id FROM parked WHERE flags & %d = 0 ORDER BY rowid LIMIT 1`, flagLocal))
	if err != nil || len(ids) == 0 {
		return change.ID{}, false, err
	}
	return ids[0], true, t.Unpark(ids[0])
}

func (t *txn) ParkedObjects() ([]change.ID, error) {
	return t.ids(`SELECT DISTINCT object FROM parked ORDER BY object`)
}

func (t *txn) PurgeObject(object change.ID) (int, error) {
	res, err := t.exec(`DELETE FROM changes WHERE object = ?`, object[:])
	if err != nil {
		return 0, fmt.Errorf("purge object: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	var ftsRow sql.NullInt64
	err = t.queryRow(`SELECT fts_rowid FROM objects WHERE id = ?`, object[:]).Scan(&ftsRow)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("purge object: %w", err)
	}
	if ftsRow.Valid {
		for _, q := range []string{`DELETE FROM objects_fts WHERE rowid = ?`, `DELETE FROM texts WHERE rowid = ?`} {
			if _, err := t.exec(q, ftsRow.Int64); err != nil {
				return 0, fmt.Errorf("purge object: %w", err)
			}
		}
	}
	for _, q := range []string{
		`DELETE FROM chunk_refs WHERE object = ?`, `DELETE FROM heads WHERE object = ?`, `DELETE FROM objects WHERE id = ?`,
		`DELETE FROM parked WHERE object = ?`, `DELETE FROM damaged WHERE object = ?`, `DELETE FROM snapshots WHERE object = ?`,
		`DELETE FROM held WHERE object = ?`, `DELETE FROM links WHERE src = ?`,
	} {
		if _, err := t.exec(q, object[:]); err != nil {
			return 0, fmt.Errorf("purge object: %w", err)
		}
	}
	return int(n), nil
}
