package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
)

// An Update whose function fails leaves no trace, whatever it wrote.
func testRollback(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	f := fill(t, s)
	before := dump(t, s, f)
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		writeEverything(t, tx)
		if after := dumpTx(t, tx, f); after == before {
			t.Fatal("the writes were not seen inside their own transaction")
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update error = %v, want the function's", err)
	}
	if after := dump(t, s, f); after != before {
		t.Fatalf("a failed update left a trace:\nbefore\n%s\nafter\n%s", before, after)
	}
	// Writes in a View are not kept either (whether or not they fail).
	s.View(ctx, func(tx store.Tx) error {
		tx.SetSetting("vault_id", []byte("view"))
		tx.PutChange(meta(id(0xee), id(0xee), 0), []byte("x"))
		return nil
	})
	if after := dump(t, s, f); after != before {
		t.Fatalf("a view left a trace:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// dumpTx is dump inside a transaction already open: through a store that
// runs f in it.
func dumpTx(t *testing.T, tx store.Tx, f fixture) string {
	t.Helper()
	return dump(t, txStore{tx}, f)
}

// txStore is one open transaction seen as a store, for reading.
type txStore struct{ tx store.Tx }

func (s txStore) Update(_ context.Context, f func(store.Tx) error) error { return f(s.tx) }
func (s txStore) View(_ context.Context, f func(store.Tx) error) error   { return f(s.tx) }
func (s txStore) CopyTo(context.Context, string, store.CopyOptions) error {
	return errors.ErrUnsupported
}
func (s txStore) IntegrityCheck(context.Context) error { return errors.ErrUnsupported }
func (s txStore) Close() error                         { return nil }

// A panic in an Update or a View goes on up, leaves no trace, and the
// store goes on working at once: the next Update is not kept waiting.
func testPanic(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	f := fill(t, s)
	before := dump(t, s, f)
	for _, c := range []struct {
		run   func(context.Context, func(store.Tx) error) error
		write bool // a View only reads
	}{{s.Update, true}, {s.View, false}} {
		got := func() (p any) {
			defer func() { p = recover() }()
			c.run(ctx, func(tx store.Tx) error {
				if c.write {
					writeEverything(t, tx)
				} else if _, err := tx.HasChange(fixA); err != nil {
					t.Fatal(err)
				}
				panic("in the transaction")
			})
			return nil
		}()
		if got != "in the transaction" {
			t.Fatalf("recovered %v, want the transaction's panic", got)
		}
		if after := dump(t, s, f); after != before {
			t.Fatalf("a panicking transaction left a trace:\nbefore\n%s\nafter\n%s", before, after)
		}
		update(t, s, func(tx store.Tx) error { return tx.SetSetting("after", []byte("panic")) })
		view(t, s, func(tx store.Tx) error {
			if v, err := tx.Setting("after"); string(v) != "panic" || err != nil {
				t.Fatalf("the update after a panic: %q, %v", v, err)
			}
			return nil
		})
	}
}

// runtime.Goexit in a transaction (t.Fatal does it) ends it like a panic.
func testGoexit(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	f := fill(t, s)
	before := dump(t, s, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Update(ctx, func(tx store.Tx) error {
			writeEverything(t, tx)
			runtime.Goexit()
			return nil
		})
	}()
	<-done
	if after := dump(t, s, f); after != before {
		t.Fatalf("a transaction left by Goexit left a trace:\nbefore\n%s\nafter\n%s", before, after)
	}
	update(t, s, func(tx store.Tx) error { return tx.SetSetting("after", []byte("goexit")) })
}

// A transaction whose context ends commits nothing.
func testCanceled(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	f := fill(t, s)
	before := dump(t, s, f)
	c, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	if err := s.Update(c, func(tx store.Tx) error {
		ran = true
		writeEverything(t, tx)
		return nil
	}); err == nil {
		t.Fatal("an update with a canceled context succeeded")
	}
	_ = ran // the function may run or not; nothing may be kept
	c, cancel = context.WithCancel(ctx)
	err := s.Update(c, func(tx store.Tx) error {
		tx.SetSetting("vault_id", []byte("canceled"))
		cancel() // ended while the function runs
		return nil
	})
	if err == nil {
		t.Fatal("an update whose context ended before the commit succeeded")
	}
	if after := dump(t, s, f); after != before {
		t.Fatalf("a canceled update left a trace:\nbefore\n%s\nafter\n%s", before, after)
	}
	if err := s.View(canceledCtx(), func(store.Tx) error { return nil }); err == nil {
		t.Fatal("a view with a canceled context succeeded")
	}
}

func canceledCtx() context.Context {
	c, cancel := context.WithCancel(ctx)
	cancel()
	return c
}

// A View sees one state from its first read to its end, and an Update's
// writes are seen by no one else until it commits.
func testIsolation(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	update(t, s, func(tx store.Tx) error {
		put(t, tx, c1)
		return tx.SetSetting("k", []byte("old"))
	})

	// A view that has read goes on seeing what it read, though an update
	// commits meanwhile.
	read, committed, viewed := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		viewed <- s.View(ctx, func(tx store.Tx) error {
			if v, err := tx.Setting("k"); string(v) != "old" || err != nil {
				return fmt.Errorf("before: %q, %v", v, err)
			}
			close(read)
			<-committed
			if v, err := tx.Setting("k"); string(v) != "old" || err != nil {
				return fmt.Errorf("the view saw a commit made after its first read: %q, %v", v, err)
			}
			if ok, err := tx.HasChange(c2.ID); ok || err != nil {
				return fmt.Errorf("the view saw a change committed after its first read: %v, %v", ok, err)
			}
			if n, err := tx.CountChanges(); n != 1 || err != nil {
				return fmt.Errorf("the view counts %d changes, %v", n, err)
			}
			return nil
		})
	}()
	<-read
	update(t, s, func(tx store.Tx) error {
		put(t, tx, c2)
		return tx.SetSetting("k", []byte("new"))
	})
	close(committed)
	must(t, <-viewed)

	// An update's writes are not seen by a view until it commits.
	written, seen := make(chan struct{}), make(chan error, 1)
	go func() {
		<-written
		seen <- s.View(ctx, func(tx store.Tx) error {
			if v, err := tx.Setting("k"); string(v) != "new" || err != nil {
				return fmt.Errorf("a view saw an uncommitted write: %q, %v", v, err)
			}
			if ok, err := tx.HasChange(id(3)); ok || err != nil {
				return fmt.Errorf("a view saw an uncommitted change: %v, %v", ok, err)
			}
			return nil
		})
	}()
	update(t, s, func(tx store.Tx) error {
		put(t, tx, meta(id(3), obj, 2, c2.ID))
		must(t, tx.SetSetting("k", []byte("newer")))
		close(written)
		return <-seen // the view ends before this commits
	})
	view(t, s, func(tx store.Tx) error {
		if v, err := tx.Setting("k"); string(v) != "newer" || err != nil {
			t.Fatalf("after the commit: %q, %v", v, err)
		}
		return nil
	})
}

// Updates run one at a time: read-modify-write in many goroutines at once
// loses no increment.
func testWritersSerialized(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- s.Update(ctx, func(tx store.Tx) error {
					v, err := tx.Setting("n")
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(string(v))
					if err := tx.SetSetting("n", []byte(strconv.Itoa(n+1))); err != nil {
						return err
					}
					c := id(0x60, byte(w), byte(i))
					_, _, err = tx.PutChange(meta(c, c, 0), raw(c))
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	view(t, s, func(tx store.Tx) error {
		v, err := tx.Setting("n")
		if err != nil || string(v) != strconv.Itoa(writers*each) {
			t.Fatalf("counter = %q, %v; want %d", v, err, writers*each)
		}
		ms := map[int64]bool{}
		objs, err := tx.ChangeObjects()
		must(t, err)
		for _, o := range objs {
			cs, err := tx.Changes(o, 0)
			must(t, err)
			for _, c := range cs {
				if ms[c.Seq] {
					t.Fatalf("arrival number %d given twice", c.Seq)
				}
				ms[c.Seq] = true
			}
		}
		if len(ms) != writers*each {
			t.Fatalf("%d changes stored, want %d", len(ms), writers*each)
		}
		return nil
	})
}

func testIntegrityCheck(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	must(t, s.IntegrityCheck(ctx))
	fill(t, s)
	must(t, s.IntegrityCheck(ctx))
}

func testClose(t *testing.T, impl Impl) {
	s := impl.New(t)
	fill(t, s)
	must(t, s.Close())
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SetSetting("k", nil) }); err == nil {
		t.Fatal("an update of a closed store succeeded")
	}
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.HasChange(change.ID{}); return err }); err == nil {
		t.Fatal("a view of a closed store succeeded")
	}
}
