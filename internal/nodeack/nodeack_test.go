package nodeack

import (
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"mycel/internal/change"
)

func id(b byte) change.ID { return change.ID{b} }

// graph is a store's graph: each change with its parents.
type graph map[change.ID][]change.ID

func (g graph) parents(c change.ID) ([]change.ID, bool, error) {
	ps, ok := g[c]
	return ps, ok, nil
}

func TestSignVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	vault := []byte("vault-1")
	heads := []change.ID{id(3), id(1)}
	a := Ack{Object: id(9), Heads: heads, Time: 1000, Sig: Sign(key, vault, id(9), heads, 1000)}
	if err := Verify(pub, vault, a); err != nil {
		t.Fatal(err)
	}
	// Heads in another order are the same word.
	b := a
	b.Heads = []change.ID{id(1), id(3)}
	if err := Verify(pub, vault, b); err != nil {
		t.Fatalf("sorted heads: %v", err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	for name, bad := range map[string]func() (ed25519.PublicKey, []byte, Ack){
		"another vault":  func() (ed25519.PublicKey, []byte, Ack) { return pub, []byte("vault-2"), a },
		"another node":   func() (ed25519.PublicKey, []byte, Ack) { return other, vault, a },
		"another time":   func() (ed25519.PublicKey, []byte, Ack) { c := a; c.Time = 999; return pub, vault, c },
		"another object": func() (ed25519.PublicKey, []byte, Ack) { c := a; c.Object = id(8); return pub, vault, c },
		"fewer heads":    func() (ed25519.PublicKey, []byte, Ack) { c := a; c.Heads = heads[:1]; return pub, vault, c },
		"no signature":   func() (ed25519.PublicKey, []byte, Ack) { c := a; c.Sig = nil; return pub, vault, c },
		"flipped bit": func() (ed25519.PublicKey, []byte, Ack) {
			c := a
			c.Sig = append([]byte(nil), a.Sig...)
			c.Sig[5] ^= 1
			return pub, vault, c
		},
		"short key": func() (ed25519.PublicKey, []byte, Ack) { return pub[:31], vault, a },
	} {
		p, v, x := bad()
		if err := Verify(p, v, x); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
}

// The vault id's length is part of the message: no two (vault, object)
// pairs encode alike.
func TestMessageIsUnambiguous(t *testing.T) {
	a := Message([]byte{1, 2}, id(3), nil, 5)
	b := Message([]byte{1}, change.ID{2, 3}, nil, 5)
	if string(a) == string(b) {
		t.Fatal("two words encode alike")
	}
}

// A chain 1 ← 2 ← 3 and a branch 2 ← 4.
var g = graph{id(1): nil, id(2): {id(1)}, id(3): {id(2)}, id(4): {id(2)}}

func TestContains(t *testing.T) {
	for _, c := range []struct {
		name      string
		heads, of []change.ID
		want      Verdict
	}{
		{"same", []change.ID{id(3)}, []change.ID{id(3)}, Consistent},
		{"descends", []change.ID{id(3)}, []change.ID{id(1)}, Consistent},
		{"merge of both", []change.ID{id(3), id(4)}, []change.ID{id(4)}, Consistent},
		{"rolled back", []change.ID{id(2)}, []change.ID{id(3)}, Lie},
		{"forked", []change.ID{id(4)}, []change.ID{id(3)}, Lie},
		{"nothing at all", nil, []change.ID{id(1)}, Lie},
		{"a change not here", []change.ID{id(3)}, []change.ID{id(7)}, Lie},
		{"heads not here", []change.ID{id(7)}, []change.ID{id(3)}, Unknown},
		{"empty of", []change.ID{id(2)}, nil, Consistent},
	} {
		got, err := Contains(g.parents, c.heads, c.of)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	at := func(time int64, heads ...change.ID) Ack { return Ack{Object: id(9), Heads: heads, Time: time} }
	for _, c := range []struct {
		name       string
		kept, next Ack
		want       Verdict
		adopt      bool
	}{
		{"later and more", at(10, id(2)), at(20, id(3)), Consistent, true},
		{"later and the same", at(10, id(3)), at(20, id(3)), Consistent, true},
		{"rollback", at(10, id(3)), at(20, id(2)), Lie, false},
		{"withheld object", at(10, id(3)), at(20), Lie, false},
		{"fork, later", at(10, id(3)), at(20, id(4)), Lie, false},
		{"fork, earlier", at(20, id(3)), at(10, id(4)), Lie, false},
		// Time going backwards: an older word the kept one holds (a
		// message overtaken by a newer one passed by another device) is
		// no lie, but is not kept either.
		{"older and less", at(20, id(3)), at(10, id(2)), Consistent, false},
		// An older word with more than the kept one: the node confirmed
		// before what it later denied.
		{"older and more", at(20, id(2)), at(10, id(3)), Lie, false},
		{"same time, more", at(10, id(2)), at(10, id(3)), Consistent, true},
		{"same time, less", at(10, id(3)), at(10, id(2)), Consistent, false},
		{"same time, forked", at(10, id(3)), at(10, id(4)), Lie, false},
		{"later, heads not here yet", at(10, id(3)), at(20, id(7)), Unknown, false},
	} {
		v, adopt, err := Check(g.parents, c.kept, c.next)
		if err != nil || v != c.want || adopt != c.adopt {
			t.Errorf("%s: %v adopt %v (%v), want %v adopt %v", c.name, v, adopt, err, c.want, c.adopt)
		}
	}
}

func TestContainsReportsStoreErrors(t *testing.T) {
	boom := errors.New("disk")
	_, err := Contains(func(change.ID) ([]change.ID, bool, error) { return nil, false, boom }, []change.ID{id(3)}, []change.ID{id(1)})
	if !errors.Is(err, boom) {
		t.Fatalf("%v", err)
	}
}

func BenchmarkSign(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(nil)
	vault := make([]byte, 32)
	heads := []change.ID{id(1), id(2)}
	for b.Loop() {
		Sign(key, vault, id(9), heads, 12345)
	}
}

func BenchmarkVerify(b *testing.B) {
	pub, key, _ := ed25519.GenerateKey(nil)
	vault := make([]byte, 32)
	heads := []change.ID{id(1), id(2)}
	a := Ack{Object: id(9), Heads: heads, Time: 12345, Sig: Sign(key, vault, id(9), heads, 12345)}
	for b.Loop() {
		if Verify(pub, vault, a) != nil {
			b.Fatal("bad")
		}
	}
}

// A random history (each change on one to three earlier ones) and a node
// that stores it in a random causal order, saying its heads now and then:
// any two of its words, compared either way round, are never a lie. A
// node that then forgets its latest changes (a rollback to one of its
// earlier states that lacks some confirmed change) is caught by every
// word after it, against the confirmed one.
func TestHonestNodeNeverLiesAndRollbackIsCaught(t *testing.T) {
	for seed := range int64(200) {
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		n := 2 + r.IntN(40)
		g := graph{}
		ids := make([]change.ID, n)
		for i := range ids {
			ids[i] = change.ID{byte(i), byte(i >> 8), 0xcc}
			var ps []change.ID
			for range min(i, 1+r.IntN(3)) {
				p := ids[r.IntN(i)]
				if !slices.Contains(ps, p) {
					ps = append(ps, p)
				}
			}
			g[ids[i]] = ps
		}
		// The node stores them in their order (a causal one); its heads
		// after each are its word at time i.
		var words []Ack
		held := map[change.ID]bool{}
		for i, id := range ids {
			held[id] = true
			if r.IntN(3) == 0 || i == n-1 {
				words = append(words, Ack{Heads: headsOf(g, held), Time: int64(i)})
			}
		}
		for i := range words {
			for j := range words {
				if v, _, err := Check(g.parents, words[i], words[j]); err != nil || v == Lie {
					t.Fatalf("seed %d: honest words %d and %d judged %v %v", seed, i, j, v, err)
				}
			}
		}
		// A rollback: its state at a word before the last, which lacks the
		// last change, said later.
		last := words[len(words)-1]
		for _, w := range words[:len(words)-1] {
			v, adopt, err := Check(g.parents, last, Ack{Heads: w.Heads, Time: last.Time + 1})
			if err != nil || v != Lie || adopt {
				t.Fatalf("seed %d: a rollback to %v judged %v (adopt %v) %v", seed, w.Heads, v, adopt, err)
			}
		}
	}
}

// headsOf is the heads of the changes held: those no held change names.
func headsOf(g graph, held map[change.ID]bool) []change.ID {
	named := map[change.ID]bool{}
	for id := range held {
		for _, p := range g[id] {
			named[p] = true
		}
	}
	var hs []change.ID
	for id := range held {
		if !named[id] {
			hs = append(hs, id)
		}
	}
	slices.SortFunc(hs, cmpID)
	return hs
}
