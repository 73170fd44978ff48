package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"

	"mycel/internal/store"
)

// CopyTo writes a consistent copy with VACUUM INTO: one read transaction,
// so writers go on meanwhile, and the copy is compact and self-contained
// (no WAL). The file is made readable by its owner only. With
// CiphertextOnly the copy is then scrubbed of every plaintext (scrub).
func (d *DB) CopyTo(ctx context.Context, path string, opt store.CopyOptions) error {
	// Made empty and private first: VACUUM INTO fills an empty file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy store: %w", err)
	}
	f.Close()
	// A read: on the readers' pool, so that writers go on meanwhile.
	if _, err := d.rd.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return fmt.Errorf("copy store: %w", err)
	}
	if opt.CiphertextOnly {
		if err := scrub(ctx, path); err != nil {
			os.Remove(path)
			os.Remove(path + "-journal")
			return fmt.Errorf("copy store: %w", err)
		}
	}
	return nil
}

// scrub removes the plaintext from a copy made by VACUUM INTO: titles and
// snippets of the index rows (which are then marked text-stale, so a vault
// opening the copy reindexes them) and the whole search index, dropped and
// made again empty from its own definition, with the texts it was made
// from. Changes, heads, parked changes,
// membership records, snapshots and settings are ciphertext or metadata and
// stay as they are. A VACUUM then rewrites every page, so no free page or
// free space inside one keeps what was removed.
//
// The copy is opened with database/sql directly, not with Open: Open
// would turn it into a WAL database and leave -wal and -shm files beside
// it; it stays a rollback-journal (DELETE) file with nothing beside it.
// The scrub itself journals in memory, as a journal file would hold, for a
// moment, the very pages being scrubbed (a crash meanwhile spoils only a
// copy still being made); secure_delete zeroes what the scrub frees, so the
// VACUUM that follows, whose journal is the ordinary file of DELETE mode
// (in memory it would take the size of the whole store), journals no
// plaintext either.
func scrub(ctx context.Context, path string) error {
	q := url.Values{}
	for _, p := range []string{"journal_mode(MEMORY)", "secure_delete(ON)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // the pragmas are per connection
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var fts string
	if err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE name = 'objects_fts'`).Scan(&fts); err != nil {
		return fmt.Errorf("read the search index's definition: %w", err)
	}
	for _, s := range []string{
		`UPDATE objects SET title = '', snippet = '', archived = 0, text_stale = 1, fts_rowid = NULL`,
		`DROP TABLE objects_fts`,
		fts,
		`DELETE FROM texts`,
	} {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, s := range []string{`PRAGMA journal_mode = DELETE`, `VACUUM`} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return db.Close()
}
