package vault

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"mycel/internal/change"
	"mycel/internal/files"
	"mycel/internal/store"
)

// A file added on one device reaches another with its page: its block,
// and in the change's clear body the chunks it needs; its bytes are read
// only once every chunk is there, and then exactly.
func TestFileBlocksTravelWithTheirPage(t *testing.T) {
	a, b := pair(t)
	id, err := a.Create(ctx, NewPage{Details: map[string]string{"title": "Photos"}})
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(3<<20, 1)
	m, err := a.StoreFile(ctx, bytes.NewReader(data), StoreFileOptions{Name: "cat.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddFileBlocks(ctx, id, []*files.Manifest{m}); err != nil {
		t.Fatal(err)
	}
	// The clear chunk list of the vault's changes is the file's.
	var named []files.Address
	err = a.db.View(ctx, func(tx store.Tx) error {
		metas, raws, err := tx.ChangesAfter(id, 0)
		for i := range metas {
			c, err := change.Decode(metas[i].ID, raws[i])
			if err != nil {
				return err
			}
			for _, x := range c.Chunks {
				named = append(named, files.Address(x))
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := m.Addresses()
	slices.SortFunc(want, func(x, y files.Address) int { return bytes.Compare(x[:], y[:]) })
	if !slices.Equal(named, want) {
		t.Fatalf("changes name chunks %v, the file has %v", named, want)
	}
	send(t, a, b, id)
	fs, err := b.Files(ctx, id)
	if err != nil || len(fs) != 1 || fs[0].Manifest.ID() != m.ID() || fs[0].Manifest.Name != "cat.jpg" {
		t.Fatalf("b's files: %+v %v", fs, err)
	}
	var out bytes.Buffer
	if err := b.ReadFile(ctx, fs[0].Manifest, &out); !errors.Is(err, ErrMissingChunks) || out.Len() != 0 {
		t.Fatalf("a file whose chunks are elsewhere: %v, %d bytes written", err, out.Len())
	}
	// The chunks arrive (as sync will bring them): the bytes read back.
	ca, _ := a.Chunks()
	cb, _ := b.Chunks()
	for _, ad := range m.Addresses() {
		sealed, err := ca.Get(ad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cb.Put(ad, sealed); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.ReadFile(ctx, fs[0].Manifest, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("read on b: %v", err)
	}
	if f, err := b.FindFile(ctx, m.ID()[:10]); err != nil || f.Object != id {
		t.Fatalf("find by id prefix: %+v %v", f, err)
	}
}

// A file over the limit is refused, naming the limit, and adds nothing.
func TestFileLimit(t *testing.T) {
	a, _ := pair(t)
	_, err := a.StoreFile(ctx, bytes.NewReader(randomBytes(3<<20, 2)), StoreFileOptions{Name: "big", Limit: 1 << 20})
	if !errors.Is(err, files.ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
}

func BenchmarkStoreFile(b *testing.B) {
	e, _, err := Init(ctx, b.TempDir(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	b.SetBytes(64 << 20)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		data := randomBytes(64<<20, uint64(i)) // new bytes each time: stored, not deduped
		b.StartTimer()
		if _, err := e.StoreFile(ctx, bytes.NewReader(data), StoreFileOptions{Name: "f"}); err != nil {
			b.Fatal(err)
		}
	}
}

// A file of many chunks lists them in its sealed index chunk, and the
// change still names every one in the clear: the node pins and keeps what
// it cannot read the list of.
func TestLargeFileNamesEveryChunk(t *testing.T) {
	defer files.SmallIndexForTests(2)()
	a, _ := pair(t)
	id, err := a.Create(ctx, NewPage{Details: map[string]string{"title": "Film"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.StoreFile(ctx, bytes.NewReader(randomBytes(6<<20, 4)), StoreFileOptions{Name: "film.mkv"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Index == nil {
		t.Fatal("no index chunk")
	}
	cs, _ := a.Chunks()
	refs, err := a.FileKeys().Refs(m, cs.Get)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddFileBlocks(ctx, id, []*files.Manifest{m}); err != nil {
		t.Fatal(err)
	}
	named := map[[32]byte]bool{}
	a.ReferencedChunks(ctx, func(_ change.ID, x files.Address) error { named[x] = true; return nil })
	want := append([]files.Address{m.Index.Address}, func() (out []files.Address) {
		for _, r := range refs {
			out = append(out, r.Address)
		}
		return out
	}()...)
	for _, x := range want {
		if !named[x] {
			t.Fatalf("chunk %s of the file is not named in the clear (%d named, %d in the file)", x.Short(), len(named), len(want))
		}
	}
}
