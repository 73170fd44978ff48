package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
)

// A ciphertext-only copy is a plain rollback-journal file with nothing
// beside it, no free page, the search table defined as in the store, and
// every change, head and parked change of a store written through the
// engine's paths; none of its titles or text is in its bytes.
func TestCopyCiphertextOnly(t *testing.T) {
	dir := t.TempDir()
	db := open(t, filepath.Join(dir, "mycel.db"))
	defer db.Close()
	titles := []string{"Hedgehogcastle", "Lighthousewaffle", "Gondolaparsnip"}
	texts := []string{"saxophone wilderness", "tangerine observatory", "cathedral marzipan"}
	var heads []change.ID
	err := db.Update(context.Background(), func(tx store.Tx) error {
		for i, title := range titles {
			o := change.ID{byte(0x10 + i)}
			root := store.ChangeMeta{ID: o, Object: o, Author: []byte("me"), Time: time.UnixMilli(1000)}
			next := store.ChangeMeta{ID: change.ID{byte(0x10 + i), 1}, Object: o, Parents: []change.ID{o}, Author: []byte("me"), Lamport: 1, Local: true}
			for _, m := range []store.ChangeMeta{root, next} {
				if _, _, err := tx.PutChange(m, []byte("sealed "+m.ID.Short())); err != nil {
					return err
				}
			}
			if err := tx.SetHeads(o, []change.ID{next.ID}); err != nil {
				return err
			}
			heads = append(heads, next.ID)
			if err := tx.PutObject(store.Object{ID: o, Title: title, Type: "page", Snippet: texts[i], Changes: 2, Body: title + " " + texts[i]}); err != nil {
				return err
			}
		}
		return tx.Park(store.ChangeMeta{ID: change.ID{0x50}, Object: change.ID{0x10}, Parents: []change.ID{{0x51}}}, []byte("parked"))
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "copy.db")
	if err := db.CopyTo(context.Background(), path, store.CopyOptions{CiphertextOnly: true}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "copy.db") && e.Name() != "copy.db" {
			t.Fatalf("%s left beside the copy", e.Name())
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b[18] != 1 || b[19] != 1 {
		t.Fatalf("the copy's header says read/write versions %d/%d, want 1/1 (rollback journal, not WAL)", b[18], b[19])
	}
	for _, w := range append(titles, texts...) {
		for _, part := range append(strings.Fields(w), strings.ToLower(w)) {
			if bytes.Contains(b, []byte(part)) {
				t.Fatalf("the copy holds %q", part)
			}
		}
	}

	raw, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var check string
	var free, version int
	var def, wantDef string
	raw.QueryRow(`PRAGMA integrity_check`).Scan(&check)
	raw.QueryRow(`PRAGMA freelist_count`).Scan(&free)
	raw.QueryRow(`PRAGMA user_version`).Scan(&version)
	raw.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'objects_fts'`).Scan(&def)
	db.db.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'objects_fts'`).Scan(&wantDef)
	var rowids int
	raw.QueryRow(`SELECT count(*) FROM objects WHERE fts_rowid IS NOT NULL`).Scan(&rowids)
	raw.Close()
	if check != "ok" || free != 0 || version != SchemaVersion || def != wantDef || rowids != 0 {
		t.Fatalf("copy: integrity %q, %d free pages, format %d, search table %q (want %q), %d search rowids", check, free, version, def, wantDef, rowids)
	}

	c := open(t, path)
	defer c.Close()
	err = c.View(context.Background(), func(tx store.Tx) error {
		all, err := tx.AllHeads()
		if err != nil || len(all) != 3 {
			t.Fatalf("heads in the copy = %v, %v", all, err)
		}
		for i, h := range heads {
			o := change.ID{byte(0x10 + i)}
			if len(all[o]) != 1 || all[o][0] != h {
				t.Fatalf("heads of %s in the copy = %v, want %v", o.Short(), all[o], h)
			}
			ms, raws, err := tx.ChangesAfter(o, 0)
			if err != nil || len(ms) != 2 || string(raws[1]) != "sealed "+h.Short() || !ms[1].Local {
				t.Fatalf("changes of %s in the copy = %+v, %v", o.Short(), ms, err)
			}
		}
		if ps, _, err := tx.Parked(change.ID{0x10}); err != nil || len(ps) != 1 {
			t.Fatalf("parked in the copy = %v, %v", ps, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Without CiphertextOnly the copy is VACUUM INTO's: titles and search
// text in it.
func TestCopyPlain(t *testing.T) {
	dir := t.TempDir()
	db := open(t, filepath.Join(dir, "mycel.db"))
	defer db.Close()
	err := db.Update(context.Background(), func(tx store.Tx) error {
		return tx.PutObject(store.Object{ID: change.ID{1}, Title: "Hedgehogcastle", Type: "page", Body: "saxophone"})
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "copy.db")
	if err := db.CopyTo(context.Background(), path, store.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	c := open(t, path)
	defer c.Close()
	err = c.View(context.Background(), func(tx store.Tx) error {
		if hits, err := searchText(tx, "saxophone"); err != nil || len(hits) != 1 || hits[0].Title != "Hedgehogcastle" {
			t.Fatalf("search of a plain copy = %+v, %v", hits, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
