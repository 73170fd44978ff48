package storetest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/store"
)

// copyOf copies s with opt and opens the copy.
func copyOf(t *testing.T, impl Impl, s store.Store, opt store.CopyOptions) (store.Store, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "copy")
	must(t, s.CopyTo(ctx, path, opt))
	fi, err := os.Stat(path)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("copy has mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	must(t, err)
	c := impl.OpenCopy(t, path)
	t.Cleanup(func() { c.Close() })
	return c, b
}

// A copy holds what the store held, is a store of its own, and is not
// written over.
func testCopy(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	f := fill(t, s)
	want := dump(t, s, f)
	c, b := copyOf(t, impl, s, store.CopyOptions{})
	if got := dump(t, c, f); got != want {
		t.Fatalf("the copy differs:\nstore\n%s\ncopy\n%s", want, got)
	}
	// The plaintext is in a plain copy (so that the test of a ciphertext-
	// only copy, which looks for it, can fail).
	for _, w := range []string{"Quokkaparadise", "Marmaladesnippet", "xylophonequartz"} {
		if !bytes.Contains(b, []byte(w)) {
			t.Fatalf("a plain copy does not hold %q", w)
		}
	}
	// The two go their own ways.
	update(t, s, func(tx store.Tx) error { writeEverything(t, tx); return nil })
	if got := dump(t, c, f); got != want {
		t.Fatalf("writing to the store changed the copy:\n%s", got)
	}
	changed := dump(t, s, f)
	update(t, c, func(tx store.Tx) error { return tx.SetSetting("vault_id", []byte("copy")) })
	if got := dump(t, s, f); got != changed {
		t.Fatal("writing to the copy changed the store")
	}
	// A copy never overwrites a file.
	path := filepath.Join(t.TempDir(), "exists")
	must(t, os.WriteFile(path, []byte("keep me"), 0o600))
	if err := s.CopyTo(ctx, path, store.CopyOptions{}); err == nil {
		t.Fatal("copied over a file")
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Fatalf("a failed copy changed the file there: %q", b)
	}
}

// A ciphertext-only copy holds none of the plaintext, not in any byte of
// its file, and everything else: it opens as a working store that
// reindexes its objects' text.
func testCopyCiphertextOnly(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	f := fill(t, s)
	// More of the same, so that the text spans more than one page.
	update(t, s, func(tx store.Tx) error {
		for i := range 200 {
			o := store.Object{ID: id(0xe0, byte(i)), Title: "Quokkaparadise " + strings.Repeat("Zanzibarquill ", i%7), Type: "page",
				Snippet: "Marmaladesnippet", Body: strings.Repeat("xylophonequartz ultramarinewombat ", 20)}
			must(t, tx.PutObject(o))
		}
		return nil
	})
	want := dump(t, s, f)
	c, b := copyOf(t, impl, s, store.CopyOptions{CiphertextOnly: true})
	for _, w := range f.plaintext {
		for _, form := range []string{w, strings.ToLower(w), w[2 : len(w)-2]} {
			if bytes.Contains(b, []byte(form)) {
				t.Fatalf("the ciphertext-only copy holds %q", form)
			}
		}
	}
	if got := dump(t, s, f); got != want {
		t.Fatal("copying changed the store")
	}

	// Everything but the plaintext is there.
	got := dump(t, c, f)
	keep := func(d string) string {
		var out []string
		for _, l := range strings.Split(d, "\n") {
			if !strings.HasPrefix(l, "object ") && !strings.HasPrefix(l, "indexed ") && !strings.HasPrefix(l, "search ") && !strings.HasPrefix(l, "stale ") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	if keep(got) != keep(want) {
		t.Fatalf("the ciphertext-only copy lost more than the plaintext:\nstore\n%s\ncopy\n%s", keep(want), keep(got))
	}
	view(t, c, func(tx store.Tx) error {
		objs, err := tx.Objects()
		must(t, err)
		if len(objs) != 203 {
			t.Fatalf("the copy has %d index rows, want 203", len(objs))
		}
		for _, o := range objs {
			if o.Title != "" || o.Snippet != "" || !o.TextStale {
				t.Fatalf("index row in the copy: %s", objectString(o))
			}
			if _, _, ok, err := tx.IndexedText(o.ID); ok || err != nil {
				t.Fatalf("indexed text of %s in the copy: %v, %v", o.ID.Short(), ok, err)
			}
		}
		a, err := tx.Object(fixA)
		want := store.Object{ID: fixA, Type: "page", Created: ms(1000), Updated: ms(5000), Changes: 3, TextStale: true, Snapshot: id(0xa1, 2), SnapshotSeq: 3}
		if err != nil || objectString(a) != objectString(want) {
			t.Fatalf("index row in the copy:\n got %s, %v\nwant %s", objectString(a), err, objectString(want))
		}
		if bo, err := tx.Object(fixB); err != nil || bo.Type != "task" || bo.Archived || bo.Deleted || bo.Changes != 2 { // archived comes from encrypted details
			t.Fatalf("index row in the copy: %s, %v", objectString(bo), err)
		}
		stale, err := tx.StaleText()
		must(t, err)
		if len(stale) != len(objs) {
			t.Fatalf("%d of %d objects marked stale in the copy", len(stale), len(objs))
		}
		for _, w := range append(f.plaintext, "more", "first") {
			if hits, err := search(tx, w, 10); err != nil || len(hits) != 0 {
				t.Fatalf("the copy's search finds %q: %v, %v", w, hitIDs(hits), err)
			}
		}
		return nil
	})
	// The copy works: reindexed, its text is found again.
	update(t, c, func(tx store.Tx) error {
		o, err := tx.Object(fixA)
		must(t, err)
		o.Title, o.Body, o.TextStale = "Quokkaparadise", "xylophonequartz", false
		return tx.PutObject(o)
	})
	view(t, c, func(tx store.Tx) error {
		if hits, err := search(tx, "xylophonequartz", 10); err != nil || len(hits) != 1 || hits[0].ID != fixA {
			t.Fatalf("search of the copy after reindexing: %v, %v", hitIDs(hits), err)
		}
		if stale, err := tx.StaleText(); err != nil || len(stale) != 202 {
			t.Fatalf("stale after reindexing one = %d, %v", len(stale), err)
		}
		return nil
	})
}
