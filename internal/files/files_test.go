package files

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func vaultKeys(seed byte) Keys { return NewKeys([32]byte{seed}) }

func random(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// store is a chunk store in memory that counts what it was given.
type store struct {
	mu     sync.Mutex
	chunks map[Address][]byte
	puts   int
}

func newStore() *store { return &store{chunks: map[Address][]byte{}} }

func (s *store) put(r Ref, sealed []byte) error {
	if AddressOf(sealed) != r.Address {
		return errors.New("put: address does not match")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	s.chunks[r.Address] = bytes.Clone(sealed)
	return nil
}

func (s *store) get(a Address) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.chunks[a]
	if !ok {
		return nil, errors.New("no such chunk")
	}
	return b, nil
}

func add(t *testing.T, k Keys, s *store, name string, data []byte) *Manifest {
	t.Helper()
	refs, size, hash, err := k.Split(bytes.NewReader(data), 0, s.put)
	if err != nil {
		t.Fatal(err)
	}
	if size != uint64(len(data)) || hash != WholeHash(size, refs) {
		t.Fatalf("split %d bytes: size %d, hash %x", len(data), size, hash)
	}
	m, err := k.New(name, "", size, hash, refs, s.put)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseManifest(m.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func read(t *testing.T, k Keys, s *store, m *Manifest) []byte {
	t.Helper()
	refs, err := k.Refs(m, s.get)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := k.Join(&out, refs, m.Hash, s.get); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestRoundTrip(t *testing.T) {
	k := vaultKeys(1)
	for _, n := range []int{0, 1, MinChunk - 1, MinChunk + 1, 3 << 20, 21 << 20} {
		s := newStore()
		data := random(n, uint64(n))
		m := add(t, k, s, "dir/photo.jpg", data)
		if m.Name != "photo.jpg" || m.Type != "image/jpeg" || !m.IsImage() {
			t.Fatalf("manifest %q %q", m.Name, m.Type)
		}
		if got := read(t, k, s, m); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes came back as %d, different", n, len(got))
		}
		for _, r := range m.Chunks {
			if r.Size > MaxChunk || (r.Size < MinChunk && r != m.Chunks[len(m.Chunks)-1]) {
				t.Fatalf("chunk of %d bytes", r.Size)
			}
		}
		if n >= 21<<20 && (len(m.Chunks) < 8 || len(m.Chunks) > 80) {
			t.Fatalf("21 MiB in %d chunks: not ~1 MiB each", len(m.Chunks))
		}
	}
}

// An edit in the middle of a large file changes only the chunks around it,
// and the same bytes added twice are the same chunks.
func TestEditLocalityAndDedupe(t *testing.T) {
	k := vaultKeys(1)
	s := newStore()
	data := random(32<<20, 7)
	m1 := add(t, k, s, "big.bin", data)
	add(t, k, s, "copy.bin", data)
	if len(s.chunks) != len(m1.Chunks) {
		t.Fatalf("the same file twice: %d chunks stored for %d", len(s.chunks), len(m1.Chunks))
	}
	edited := append(append(bytes.Clone(data[:16<<20]), []byte("an insertion")...), data[16<<20:]...)
	m2 := add(t, k, s, "big.bin", edited)
	fresh := len(s.chunks) - len(m1.Chunks)
	if fresh > 3 {
		t.Fatalf("an insertion made %d new chunks of %d", fresh, len(m2.Chunks))
	}
}

// Another vault seals the same file to other chunks, cut elsewhere.
func TestVaultsShareNothing(t *testing.T) {
	data := random(16<<20, 9)
	a, b := add(t, vaultKeys(1), newStore(), "f", data), add(t, vaultKeys(2), newStore(), "f", data)
	seen := map[Address]bool{}
	for _, r := range a.Chunks {
		seen[r.Address] = true
	}
	sameCuts := len(a.Chunks) == len(b.Chunks)
	for i, r := range b.Chunks {
		if seen[r.Address] {
			t.Fatal("two vaults made one same chunk")
		}
		if sameCuts && r.Size != a.Chunks[i].Size {
			sameCuts = false
		}
	}
	if sameCuts {
		t.Fatal("two vaults cut the file at the same places")
	}
}

func TestDamageIsFound(t *testing.T) {
	k := vaultKeys(1)
	s := newStore()
	data := random(2<<20, 3)
	m := add(t, k, s, "f", data)
	// A flipped byte: the address no longer matches.
	sealed := s.chunks[m.Chunks[0].Address]
	sealed[10] ^= 1
	if _, err := k.Open(nil, m.Chunks[0], sealed); !errors.Is(err, ErrDamaged) {
		t.Fatalf("flipped byte: %v", err)
	}
	sealed[10] ^= 1
	// A chunk of another vault under a forged ref (right address): does
	// not open.
	other := vaultKeys(2)
	ref, theirs := other.Seal(nil, data[:1000])
	if _, err := k.Open(nil, ref, theirs); !errors.Is(err, ErrDamaged) {
		t.Fatalf("another vault's chunk: %v", err)
	}
	// A manifest whose whole hash lies: Join says so.
	var out bytes.Buffer
	if err := k.Join(&out, m.Chunks, WholeHash(m.Size, m.Chunks[1:]), s.get); !errors.Is(err, ErrDamaged) {
		t.Fatalf("wrong whole hash: %v", err)
	}
}

func TestLimit(t *testing.T) {
	k := vaultKeys(1)
	s := newStore()
	_, _, _, err := k.Split(bytes.NewReader(random(3<<20, 1)), 2<<20, s.put)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "2 MiB") {
		t.Fatalf("over the limit: %v", err)
	}
	// A put that fails stops the split with its error.
	boom := errors.New("disk full")
	_, _, _, err = k.Split(bytes.NewReader(random(20<<20, 1)), 0, func(Ref, []byte) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("failing put: %v", err)
	}
}

func TestIndexChunk(t *testing.T) {
	old := maxInline
	maxInline = 2
	defer func() { maxInline = old }()
	k := vaultKeys(1)
	s := newStore()
	data := random(6<<20, 5)
	m := add(t, k, s, "f", data)
	if m.Index == nil || len(m.Chunks) != 0 {
		t.Fatalf("a file of many chunks keeps its list inline")
	}
	if as := m.Addresses(); as[0] != m.Index.Address || len(as) != 1 {
		t.Fatalf("addresses %v", as)
	}
	if got := read(t, k, s, m); !bytes.Equal(got, data) {
		t.Fatal("file read through its index differs")
	}
}

func TestReaderErrorIsReported(t *testing.T) {
	k := vaultKeys(1)
	bad := errors.New("read failed")
	_, _, _, err := k.Split(io.MultiReader(bytes.NewReader(random(1<<20, 1)), errReader{bad}), 0, newStore().put)
	if !errors.Is(err, bad) {
		t.Fatalf("read error: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func FuzzParseManifest(f *testing.F) {
	k := vaultKeys(1)
	s := newStore()
	f.Add(add(&testing.T{}, k, s, "a.png", random(300<<10, 1)).Marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		back, err := ParseManifest(m.Marshal())
		if err != nil || back.Size != m.Size || len(back.Chunks) != len(m.Chunks) {
			t.Fatalf("a manifest that parsed does not round-trip: %v", err)
		}
	})
}

func BenchmarkSplit(b *testing.B) {
	k := vaultKeys(1)
	data := random(64<<20, 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, _, err := k.Split(bytes.NewReader(data), 0, func(Ref, []byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
