package vault

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"mycel/internal/keys"
	"mycel/internal/markdown"
	"mycel/internal/store"
	"mycel/internal/store/memstore"
)

// fullDisk is a store whose writes fail as on a full disk once full is
// set.
type fullDisk struct {
	store.Store
	full atomic.Bool
}

func (f *fullDisk) Update(ctx context.Context, fn func(store.Tx) error) error {
	if f.full.Load() {
		return fmt.Errorf("commit: %w", store.ErrFull)
	}
	return f.Store.Update(ctx, fn)
}

// On a full disk, closing the engine and searching skip bringing the
// search text up to date (they catch up later) instead of failing: a
// command that only read must not fail because a tidying write could not
// be made. (Close returned the write's error, so `mycel show` failed.)
func TestFullDiskFailsNoRead(t *testing.T) {
	phrase, _ := keys.NewPhrase()
	db := &fullDisk{Store: memstore.New()}
	e, err := Create(ctx, filepath.Join(t.TempDir(), "v"), db, phrase, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := e.Create(ctx, NewPage{Title: "Garden", Blocks: markdown.Parse("roses\n")})
	// An edit right after another leaves the search text stale (it is
	// written at most every 2 s while an object is being edited).
	if _, err := e.AppendMarkdown(ctx, id, "hedge\n"); err != nil {
		t.Fatal(err)
	}
	stale := 0
	db.View(ctx, func(tx store.Tx) error {
		ids, err := tx.StaleText()
		stale = len(ids)
		return err
	})
	if stale == 0 {
		t.Fatal("the text index is not stale: the test proves nothing")
	}
	db.full.Store(true)
	if _, err := e.Get(ctx, id); err != nil {
		t.Fatalf("read on a full disk: %v", err)
	}
	if hits, err := search(e, "roses", 10); err != nil || len(hits) != 1 {
		t.Fatalf("search on a full disk: %v %v", hits, err)
	}
	if _, err := e.AppendMarkdown(ctx, id, "more\n"); !errors.Is(err, store.ErrFull) {
		t.Fatalf("a write on a full disk: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("close on a full disk: %v", err)
	}
}
