package storetest

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
)

// chunk is a chunk address starting with b.
func chunk(b ...byte) [32]byte {
	var c [32]byte
	copy(c[:], b)
	return c
}

func withChunks(m store.ChangeMeta, cs ...[32]byte) store.ChangeMeta {
	m.Chunks = cs
	return m
}

func chunkList(cs [][32]byte) string {
	out := "["
	for i, c := range cs {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%x", c[:2])
	}
	return out + "]"
}

func wantChunks(t *testing.T, what string, cs [][32]byte, err error, want ...[32]byte) {
	t.Helper()
	if err != nil || chunkList(cs) != chunkList(want) {
		t.Fatalf("%s = %s, %v; want %s", what, chunkList(cs), err, chunkList(want))
	}
}

// Every stored change's chunks are indexed, distinct and in order, by
// chunk and by object; a change stored again adds nothing, a deleted one
// takes its references along, and a damaged one keeps them (it is
// expected back). Parked changes reference nothing until stored.
func testChunkRefs(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	o2 := id(0x20)
	a, b, c, d := chunk(0xa), chunk(0xb), chunk(0xc), chunk(0xd)
	c1, c2, c3, c4 := id(0x11), id(0x12), id(0x13), id(0x14)
	update(t, s, func(tx store.Tx) error {
		cs, err := tx.ChunkRefs(chunk(), 10)
		wantChunks(t, "refs of an empty store", cs, err)
		put(t, tx, withChunks(meta(obj, obj, 1), b, a), withChunks(meta(c1, obj, 2, obj), b, c))
		put(t, tx, withChunks(meta(o2, o2, 1), d), withChunks(meta(c2, o2, 2, o2), a))
		if _, stored, err := tx.PutChange(withChunks(meta(c1, obj, 2, obj), d), raw(c1)); err != nil || stored {
			t.Fatalf("stored again: %v, %v", stored, err)
		}
		must(t, tx.Park(withChunks(meta(c3, obj, 3, id(0x99)), chunk(0xe)), raw(c3)))
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		cs, err := tx.ChunkRefs(chunk(), 10)
		wantChunks(t, "refs", cs, err, a, b, c, d)
		cs, err = tx.ChunkRefs(chunk(), 2)
		wantChunks(t, "refs limited", cs, err, a, b)
		cs, err = tx.ChunkRefs(b, 10)
		wantChunks(t, "refs after b", cs, err, c, d)
		cs, err = tx.ObjectChunks(obj)
		wantChunks(t, "refs of obj", cs, err, a, b, c)
		cs, err = tx.ObjectChunks(o2)
		wantChunks(t, "refs of o2", cs, err, a, d)
		cs, err = tx.ObjectChunks(id(0x77))
		wantChunks(t, "refs of an unknown object", cs, err)
		for _, w := range []struct {
			c    [32]byte
			want []change.ID
		}{{a, []change.ID{obj, o2}}, {b, []change.ID{obj}}, {d, []change.ID{o2}}, {chunk(0x5), nil}} {
			got, err := tx.ChunkObjects(w.c)
			slices.SortFunc(w.want, func(x, y change.ID) int { return bytes.Compare(x[:], y[:]) })
			if err != nil || !slices.Equal(got, w.want) {
				t.Fatalf("objects of chunk %x: %x, %v; want %x", w.c[:2], got, err, w.want)
			}
		}
		m, err := tx.Meta(c1)
		if err != nil || m.Chunks != nil {
			t.Fatalf("meta read back with chunks %v, %v", m.Chunks, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		must(t, tx.DeleteChange(c2))
		put(t, tx, withChunks(meta(c4, o2, 3, o2), c))
		return tx.Quarantine(store.Damaged{ID: c4, Reason: "test"})
	})
	view(t, s, func(tx store.Tx) error {
		cs, err := tx.ObjectChunks(o2)
		wantChunks(t, "refs of o2 after a delete and a quarantine", cs, err, c, d)
		cs, err = tx.ChunkRefs(chunk(), 10)
		wantChunks(t, "refs after a delete", cs, err, a, b, c, d)
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		must(t, tx.DeleteChange(obj))
		return tx.DeleteChange(c1)
	})
	view(t, s, func(tx store.Tx) error {
		cs, err := tx.ChunkRefs(chunk(), 10)
		wantChunks(t, "refs once obj's changes are gone", cs, err, c, d)
		return nil
	})
	// The index survives a copy.
	path := filepath.Join(t.TempDir(), "copy")
	must(t, s.CopyTo(ctx, path, store.CopyOptions{CiphertextOnly: true}))
	cp := impl.OpenCopy(t, path)
	defer cp.Close()
	view(t, cp, func(tx store.Tx) error {
		cs, err := tx.ChunkRefs(chunk(), 10)
		wantChunks(t, "refs in a copy", cs, err, c, d)
		return nil
	})
}

// What a peer holds is its own word, per chunk; ChunksNotHeld is the
// references less that word.
func testChunkHeld(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	a, b, c := chunk(0xa), chunk(0xb), chunk(0xc)
	update(t, s, func(tx store.Tx) error {
		put(t, tx, withChunks(meta(obj, obj, 1), a, b, c))
		must(t, tx.PutChunkHeld("p1", [][32]byte{a, c, chunk(0xf)})) // f: not (yet) referenced
		must(t, tx.PutChunkHeld("p1", [][32]byte{a}))
		must(t, tx.PutChunkHeld("p10", [][32]byte{b}))
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		cs, err := tx.ChunksNotHeld("p1", chunk(), 10)
		wantChunks(t, "not held by p1", cs, err, b)
		cs, err = tx.ChunksNotHeld("p10", chunk(), 10)
		wantChunks(t, "not held by p10", cs, err, a, c)
		cs, err = tx.ChunksNotHeld("p10", a, 1)
		wantChunks(t, "not held by p10 after a, 1", cs, err, c)
		cs, err = tx.ChunksNotHeld("p", chunk(), 10)
		wantChunks(t, "not held by p", cs, err, a, b, c)
		held, err := tx.ChunkHeld("p1", [][32]byte{a, b, c, chunk(0xf)})
		if err != nil || fmt.Sprint(held) != "[true false true true]" {
			t.Fatalf("held by p1 = %v, %v", held, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DropChunkHeld("p1", [][32]byte{c, chunk(0xe)}) })
	view(t, s, func(tx store.Tx) error {
		cs, err := tx.ChunksNotHeld("p1", chunk(), 10)
		wantChunks(t, "not held by p1 after it lost c", cs, err, b, c)
		return nil
	})
	path := filepath.Join(t.TempDir(), "copy")
	must(t, s.CopyTo(ctx, path, store.CopyOptions{}))
	cp := impl.OpenCopy(t, path)
	defer cp.Close()
	view(t, cp, func(tx store.Tx) error {
		cs, err := tx.ChunksNotHeld("p1", chunk(), 10)
		wantChunks(t, "not held by p1 in a copy", cs, err, b, c)
		return nil
	})
}
