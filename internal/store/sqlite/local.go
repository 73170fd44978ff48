package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
)

func (t *txn) Setting(key string) ([]byte, error) {
	var v []byte
	err := t.queryRow(`SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err == nil && v == nil {
		v = []byte{} // set, to nothing: nil would say unset
	}
	return v, err
}

func (t *txn) SetSetting(key string, value []byte) error {
	_, err := t.exec(`INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, notNull(value))
	return err
}

func (t *txn) SettingsWithPrefix(prefix string, limit int) (map[string][]byte, error) {
	if limit <= 0 {
		limit = -1
	}
	// A range on the key, not LIKE: the primary key answers it, and a
	// prefix may hold % or _. The end is the prefix with a byte past
	// any a key holds (keys are UTF-8: no 0xff byte).
	rows, err := t.query(`SELECT key, value FROM settings WHERE key >= ? AND key < ? ORDER BY key LIMIT ?`, prefix, prefix+"\xff", limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = append([]byte{}, v...)
	}
	return out, rows.Err()
}

func (t *txn) MemberRecords() ([][]byte, error) {
	rows, err := t.query(`SELECT raw FROM members ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// PutMemberRecord recognizes a record already stored by the hash of its
// bytes, so the log stays a set however often peers send it.
func (t *txn) PutMemberRecord(raw []byte) error {
	h := sha256.Sum256(raw)
	_, err := t.exec(`INSERT OR IGNORE INTO members(hash, raw) VALUES (?, ?)`, h[:], notNull(raw))
	return err
}

func (t *txn) PutSnapshot(object change.ID, s store.Snapshot) error {
	_, err := t.exec(`INSERT INTO snapshots(object, seq, sealed) VALUES (?, ?, ?) ON CONFLICT(object) DO UPDATE SET seq = excluded.seq, sealed = excluded.sealed`,
		object[:], s.Seq, notNull(s.Sealed))
	if err != nil {
		return fmt.Errorf("put snapshot: %w", err)
	}
	return nil
}

func (t *txn) Snapshot(object change.ID) (store.Snapshot, error) {
	var s store.Snapshot
	err := t.queryRow(`SELECT seq, sealed FROM snapshots WHERE object = ?`, object[:]).Scan(&s.Seq, &s.Sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("snapshot of %s: %w", object.Short(), store.ErrNotFound)
	}
	return s, err
}

func (t *txn) DeleteSnapshot(object change.ID) error {
	_, err := t.exec(`DELETE FROM snapshots WHERE object = ?`, object[:])
	return err
}

func (t *txn) PutHeld(peer string, object change.ID, heads [32]byte) error {
	_, err := t.exec(`INSERT INTO held(peer, object, heads) VALUES (?, ?, ?) ON CONFLICT(peer, object) DO UPDATE SET heads = excluded.heads`,
		peer, object[:], heads[:])
	return err
}

func (t *txn) Held(peer string) (map[change.ID][32]byte, error) {
	rows, err := t.query(`SELECT object, heads FROM held WHERE peer = ?`, peer)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[change.ID][32]byte{}
	for rows.Next() {
		var o, h []byte
		if err := rows.Scan(&o, &h); err != nil {
			return nil, err
		}
		obj, err := toID(o)
		if err != nil {
			return nil, err
		}
		if len(h) != 32 {
			return nil, errors.New("stored heads hash is damaged")
		}
		out[obj] = [32]byte(h)
	}
	return out, rows.Err()
}

// Quarantine moves the stored row: the object and bytes kept are the
// store's own (d.Object and d.Raw are not needed), with d's reason and
// time. A change quarantined again replaces its earlier entry.
func (t *txn) Quarantine(d store.Damaged) error {
	res, err := t.exec(`INSERT OR REPLACE INTO damaged(id, object, raw, reason, time_ms) SELECT id, object, raw, ?, ? FROM changes WHERE id = ?`,
		d.Reason, d.Time.UnixMilli(), d.ID[:])
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = fmt.Errorf("quarantine change %s: %w", d.ID.Short(), store.ErrNotFound)
		}
		return err
	}
	if _, err := t.exec(`DELETE FROM changes WHERE id = ?`, d.ID[:]); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	return nil
}

// Damaged lists an object's quarantined changes in the order they were
// quarantined.
func (t *txn) Damaged(object change.ID) ([]store.Damaged, error) {
	rows, err := t.query(`SELECT id, object, raw, reason, time_ms FROM damaged WHERE object = ? ORDER BY rowid`, object[:])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Damaged
	for rows.Next() {
		var id, obj []byte
		var d store.Damaged
		var tms int64
		if err := rows.Scan(&id, &obj, &d.Raw, &d.Reason, &tms); err != nil {
			return nil, err
		}
		if d.ID, err = toID(id); err != nil {
			return nil, err
		}
		if d.Object, err = toID(obj); err != nil {
			return nil, err
		}
		d.Time = time.UnixMilli(tms).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

func (t *txn) DamagedObjects() ([]change.ID, error) {
	return t.ids(`SELECT DISTINCT object FROM damaged ORDER BY object`)
}

func (t *txn) IsDamaged(id change.ID) (bool, error) {
	var one int
	err := t.queryRow(`SELECT 1 FROM damaged WHERE id = ?`, id[:]).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (t *txn) ClearDamaged(id change.ID) error {
	_, err := t.exec(`DELETE FROM damaged WHERE id = ?`, id[:])
	return err
}
