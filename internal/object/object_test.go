package object

import (
	"math/rand/v2"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
)

func TestOrderIsTopologicalAndCanonical(t *testing.T) {
	root := change.ID{1}
	t0 := time.Unix(1000, 0)
	metas := []store.ChangeMeta{
		{ID: root, Object: root, Time: t0},
		{ID: change.ID{2}, Object: root, Parents: []change.ID{root}, Lamport: 1, Time: t0},
		{ID: change.ID{3}, Object: root, Parents: []change.ID{root}, Lamport: 1, Time: t0},
		{ID: change.ID{4}, Object: root, Parents: []change.ID{{2}, {3}}, Lamport: 3, Time: t0},
		{ID: change.ID{5}, Object: root, Parents: []change.ID{{4}}, Lamport: 2, Time: t0}, // low counter, still after its parent
		{ID: change.ID{6}, Object: root, Parents: []change.ID{{9}}, Lamport: 9, Time: t0}, // missing parent
	}
	want := []byte{1, 2, 3, 4, 5}
	for seed := uint64(0); seed < 10; seed++ {
		shuf := append([]store.ChangeMeta(nil), metas...)
		rand.New(rand.NewPCG(seed, 0)).Shuffle(len(shuf), func(i, j int) { shuf[i], shuf[j] = shuf[j], shuf[i] })
		got := Order(shuf)
		if len(got) != len(want) {
			t.Fatalf("order has %d changes, want %d", len(got), len(want))
		}
		for i, m := range got {
			if m.ID[0] != want[i] {
				t.Fatalf("seed %d: position %d is %d, want %d", seed, i, m.ID[0], want[i])
			}
		}
	}
}

func TestVersionsGroupByAuthorAndIdle(t *testing.T) {
	root := change.ID{1}
	a, b := []byte("a"), []byte("b")
	t0 := time.Unix(1000, 0)
	ms := []store.ChangeMeta{{ID: root, Object: root, Time: t0}}
	add := func(author []byte, at time.Duration, snap bool) {
		ms = append(ms, store.ChangeMeta{ID: change.ID{byte(len(ms) + 1)}, Object: root, Author: author, Time: t0.Add(at), Snapshot: snap})
	}
	mark := func() { ms[len(ms)-1].NewVersion = true }
	add(a, 0, false)
	add(a, time.Minute, false)
	add(a, 2*time.Minute, true) // snapshot: no version of its own
	add(a, 3*time.Minute, false)
	add(b, 4*time.Minute, false)           // another device
	add(b, 4*time.Minute+IdleGap+1, false) // idle too long
	add(b, 4*time.Minute+IdleGap+2, false) // joins it
	add(b, 4*time.Minute+IdleGap+3, false) // a restore
	mark()
	vs := Versions(ms)
	if len(vs) != 4 || vs[0].Changes != 3 || vs[1].Changes != 1 || vs[2].Changes != 2 || vs[3].Changes != 1 {
		t.Fatalf("versions = %+v", vs)
	}
	if vs[0].Upto != 5 || vs[2].Upto != 8 {
		t.Fatalf("prefix lengths = %d, %d", vs[0].Upto, vs[2].Upto)
	}
}

func TestSnapshotPolicy(t *testing.T) {
	p := DefaultSnapshotPolicy
	if p.Due(10, 60000, 0) || !p.Due(2, 1<<20, 0) || p.Due(2, 1<<20, 2<<20) || p.Due(0, 1<<20, 0) || !p.Due(32, 100, 0) || p.Due(100, 10, 5000) || !p.Due(1000, 10, 5000) || !p.Due(50, 6000, 5000) {
		t.Fatal("policy decisions wrong")
	}
}
