package sqlite

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"mycel/internal/change"
	"mycel/internal/store"
)

func (t *txn) PutNodeAck(a store.NodeAck) error {
	heads := slices.Clone(a.Heads)
	slices.SortFunc(heads, func(x, y change.ID) int { return bytes.Compare(x[:], y[:]) })
	_, err := t.exec(`INSERT INTO node_acks(node, object, heads, time_ms, sig, via, lied_ms, removal, seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(node, object) DO UPDATE SET heads = excluded.heads, time_ms = excluded.time_ms, sig = excluded.sig, via = excluded.via, lied_ms = excluded.lied_ms, removal = excluded.removal, seen_ms = excluded.seen_ms`,
		a.Node, a.Object[:], notNull(joinIDs(heads)), a.Time, notNull(a.Sig), a.Via, a.Lied, notNull(a.Removal), a.Seen)
	if err != nil {
		return fmt.Errorf("put node ack: %w", err)
	}
	return nil
}

const nodeAckCols = `node, object, heads, time_ms, sig, via, lied_ms, removal, seen_ms`

func scanNodeAck(sc interface{ Scan(...any) error }) (store.NodeAck, error) {
	var a store.NodeAck
	var obj, heads []byte
	if err := sc.Scan(&a.Node, &obj, &heads, &a.Time, &a.Sig, &a.Via, &a.Lied, &a.Removal, &a.Seen); err != nil {
		return a, err
	}
	var err error
	if a.Object, err = toID(obj); err != nil {
		return a, err
	}
	if a.Heads, err = splitIDs(heads); err != nil {
		return a, err
	}
	return a, nil
}

func (t *txn) NodeAck(node string, object change.ID) (store.NodeAck, error) {
	a, err := scanNodeAck(t.queryRow(`SELECT `+nodeAckCols+` FROM node_acks WHERE node = ? AND object = ?`, node, object[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("node ack of %s: %w", object.Short(), store.ErrNotFound)
	}
	return a, err
}

func (t *txn) NodeAcks(limit int) ([]store.NodeAck, error) {
	if limit <= 0 {
		limit = -1
	}
	return t.nodeAcks(`SELECT `+nodeAckCols+` FROM node_acks ORDER BY time_ms DESC, node, object LIMIT ?`, limit)
}

func (t *txn) NodeLies() ([]store.NodeAck, error) {
	return t.nodeAcks(`SELECT ` + nodeAckCols + ` FROM node_acks WHERE lied_ms != 0 ORDER BY node, object`)
}

func (t *txn) nodeAcks(q string, args ...any) ([]store.NodeAck, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.NodeAck
	for rows.Next() {
		a, err := scanNodeAck(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
