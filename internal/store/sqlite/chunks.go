package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"mycel/internal/change"
)

// putChunkRefs records the chunks a change just stored references.
func (t *txn) putChunkRefs(id, object change.ID, chunks [][32]byte) error {
	for _, c := range chunks {
		if _, err := t.exec(`INSERT OR IGNORE INTO chunk_refs(chunk, change, object) VALUES (?, ?, ?)`, c[:], id[:], object[:]); err != nil {
			return fmt.Errorf("index chunks: %w", err)
		}
	}
	return nil
}

func (t *txn) IndexChunks(id, object change.ID, chunks [][32]byte) error {
	return t.putChunkRefs(id, object, chunks)
}

func (t *txn) ChunkRefs(after [32]byte, limit int) ([][32]byte, error) {
	return t.chunks(`SELECT DISTINCT chunk FROM chunk_refs WHERE chunk > ? ORDER BY chunk LIMIT ?`, after[:], limit)
}

func (t *txn) ObjectChunks(object change.ID) ([][32]byte, error) {
	return t.chunks(`SELECT DISTINCT chunk FROM chunk_refs WHERE object = ? ORDER BY chunk`, object[:])
}

func (t *txn) ChunkObjects(chunk [32]byte) ([]change.ID, error) {
	cs, err := t.chunks(`SELECT DISTINCT object FROM chunk_refs WHERE chunk = ? ORDER BY object`, chunk[:])
	out := make([]change.ID, len(cs))
	for i, c := range cs {
		out[i] = change.ID(c)
	}
	return out, err
}

func (t *txn) ChunksNotHeld(peer string, after [32]byte, limit int) ([][32]byte, error) {
	return t.chunks(`SELECT DISTINCT r.chunk FROM chunk_refs r WHERE r.chunk > ?
		AND NOT EXISTS (SELECT 1 FROM chunk_held h WHERE h.peer = ? AND h.chunk = r.chunk) ORDER BY r.chunk LIMIT ?`, after[:], peer, limit)
}

func (t *txn) ChunkHeld(peer string, cs [][32]byte) ([]bool, error) {
	out := make([]bool, len(cs))
	for i, c := range cs {
		var one int
		err := t.queryRow(`SELECT 1 FROM chunk_held WHERE peer = ? AND chunk = ?`, peer, c[:]).Scan(&one)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		out[i] = err == nil
	}
	return out, nil
}

func (t *txn) PutChunkHeld(peer string, cs [][32]byte) error {
	for _, c := range cs {
		if _, err := t.exec(`INSERT OR IGNORE INTO chunk_held(peer, chunk) VALUES (?, ?)`, peer, c[:]); err != nil {
			return fmt.Errorf("put chunk held: %w", err)
		}
	}
	return nil
}

func (t *txn) DropChunkHeld(peer string, cs [][32]byte) error {
	for _, c := range cs {
		if _, err := t.exec(`DELETE FROM chunk_held WHERE peer = ? AND chunk = ?`, peer, c[:]); err != nil {
			return fmt.Errorf("drop chunk held: %w", err)
		}
	}
	return nil
}

func (t *txn) chunks(query string, args ...any) ([][32]byte, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][32]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		if len(b) != 32 {
			return nil, fmt.Errorf("a chunk address of %d bytes in the store", len(b))
		}
		out = append(out, [32]byte(b))
	}
	return out, rows.Err()
}
