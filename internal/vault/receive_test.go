package vault

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/keys"
	"mycel/internal/markdown"
	"mycel/internal/store"
	"mycel/internal/store/memstore"
)

// countingStore counts write transactions, and makes them fail (rolled
// back) while fail is set.
type countingStore struct {
	store.Store
	updates int
	fail    bool
}

var errCommit = errors.New("commit failed")

func (s *countingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	s.updates++
	return s.Store.Update(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.fail {
			return errCommit
		}
		return nil
	})
}

// receiveFixture is a page of 40 changes written on a, and b, a device of
// the same vault over a countingStore, which has received none of them.
func receiveFixture(t *testing.T) (id change.ID, ins []Incoming, b *Engine, db *countingStore) {
	t.Helper()
	phrase, _ := keys.NewPhrase()
	dir := t.TempDir()
	a, err := Create(ctx, filepath.Join(dir, "a"), memstore.New(), phrase, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	db = &countingStore{Store: memstore.New()}
	if b, err = Create(ctx, filepath.Join(dir, "b"), db, phrase, "b"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	recs, _ := a.MemberRecords(ctx)
	if err := b.AddMemberRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if id, err = a.Create(ctx, NewPage{Title: "Orchard", Blocks: markdown.Parse("apples\n")}); err != nil {
		t.Fatal(err)
	}
	for i := range 38 {
		if _, err := a.AppendMarkdown(ctx, id, fmt.Sprintf("pear%d\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	ids, raws, err := a.Changes(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		ins = append(ins, Incoming{ID: ids[i], Raw: raws[i]})
	}
	return id, ins, b, db
}

func receiveAll(t *testing.T, e *Engine, in []Incoming) error {
	t.Helper()
	_, errs, err := e.ReceiveBatch(ctx, in)
	for _, e := range errs {
		if e != nil {
			t.Fatalf("refused: %v", e)
		}
	}
	return err
}

func staleText(t *testing.T, db store.Store) int {
	t.Helper()
	var n int
	if err := db.View(ctx, func(tx store.Tx) error {
		ids, err := tx.StaleText()
		n = len(ids)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// A received batch writes its changes, the objects' rows, their full text
// and the snapshots the policy asks for in one transaction (one commit,
// one fsync), not one for the changes and more after.
func TestReceiveBatchIsOneTransaction(t *testing.T) {
	id, ins, b, db := receiveFixture(t)
	db.updates = 0
	if err := receiveAll(t, b, ins); err != nil {
		t.Fatal(err)
	}
	if db.updates != 1 {
		t.Fatalf("a received batch took %d write transactions, want 1", db.updates)
	}
	if n := staleText(t, db); n != 0 {
		t.Fatalf("%d objects' text left stale", n)
	}
	if hits, err := search(b, "pear37", 10); err != nil || len(hits) != 1 {
		t.Fatalf("search the received text: %v %v", hits, err)
	}
	if err := db.View(ctx, func(tx store.Tx) error {
		snap, err := tx.Snapshot(id)
		if err == nil && snap.Seq == 0 {
			err = errors.New("snapshot at arrival 0")
		}
		return err
	}); err != nil {
		t.Fatalf("no snapshot of a page of %d received changes: %v", len(ins), err)
	}
	if o, err := b.Get(ctx, id); err != nil || !strings.HasSuffix(o.Markdown(), "\n---\n\napples\n\n"+pears(38)) {
		t.Fatalf("the received page: %v\n%q", err, o.Markdown())
	}
}

// pears is what receiveFixture appends to its page, as Markdown.
func pears(n int) string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf("pear%d\n", i))
	}
	return strings.Join(s, "\n")
}

// A batch whose transaction fails leaves no record of having indexed the
// text it wrote: the next write of those objects indexes it, rather than
// waiting for the next search or close.
func TestReceiveBatchFailedIndexesTextAgain(t *testing.T) {
	_, ins, b, db := receiveFixture(t)
	db.fail = true
	if err := receiveAll(t, b, ins[:10]); !errors.Is(err, errCommit) {
		t.Fatalf("the failed batch: %v", err)
	}
	db.fail = false
	if err := receiveAll(t, b, ins[:10]); err != nil {
		t.Fatal(err)
	}
	if n := staleText(t, db); n != 0 {
		t.Fatalf("%d objects' text left stale after a failed batch was received again", n)
	}
	// Received again at once, the rest leaves the text stale (at most
	// every 2 s while an object is being written), for a search to
	// catch up.
	if err := receiveAll(t, b, ins[10:]); err != nil {
		t.Fatal(err)
	}
	if n := staleText(t, db); n != 1 {
		t.Fatalf("%d objects' text stale, want 1 (indexed again within 2 s)", n)
	}
	if hits, err := search(b, "pear37", 10); err != nil || len(hits) != 1 {
		t.Fatalf("search catches up: %v %v", hits, err)
	}
}
