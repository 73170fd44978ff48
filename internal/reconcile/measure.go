package reconcile

import (
	"fmt"
	"math/rand/v2"
)

// Result is one measured reconciliation.
type Result struct {
	N, D                 int
	Differing            int // ids that differ (an id replaced by another counts twice)
	RoundTrips           int // messages the initiator sent
	BytesAtoB, BytesBtoA int
	Correct              bool // both sides together found exactly the d differences
}

// Measure reconciles two sets of n items that differ in d (a third missing
// on one side, a third on the other, a third with another value), from a
// seed, and reports the cost.
func Measure(n, d int, seed uint64) (Result, error) {
	if n < 1 || d < 0 || d > n {
		return Result{}, fmt.Errorf("measure: need 0 <= d <= n and n >= 1, got n=%d d=%d", n, d)
	}
	r := rand.New(rand.NewPCG(seed, 42))
	items := make([]Item, n)
	for i := range items {
		for k := 0; k < 32; k += 8 {
			v := r.Uint64()
			for j := 0; j < 8; j++ {
				items[i].ID[k+j] = byte(v >> (8 * j))
			}
		}
	}
	a := append([]Item(nil), items...)
	b := append([]Item(nil), items...)
	want := map[ID]bool{}
	for i, k := range r.Perm(n)[:d] {
		want[items[k].ID] = true
		switch i % 3 {
		case 0:
			a[k].Value[0] = 1 // differs
		case 1:
			a[k].ID[31] ^= 0xff // a holds another id instead: two differences…
			want[a[k].ID] = true
		case 2:
			b[k].Value[1] = 2
		}
	}
	var salt [SaltSize]byte
	for i := range salt {
		salt[i] = byte(r.IntN(256))
	}
	sa, sb, err := exchange(NewSet(a), NewSet(b), salt)
	if err != nil {
		return Result{N: n, D: d}, err
	}
	got := map[ID]bool{}
	for _, id := range sa.Differences() {
		got[id] = true
	}
	for _, id := range sb.Differences() {
		got[id] = true
	}
	correct := len(got) == len(want)
	for id := range want {
		correct = correct && got[id]
	}
	return Result{N: n, D: d, Differing: len(want), RoundTrips: sa.MsgsSent, BytesAtoB: sa.BytesSent, BytesBtoA: sb.BytesSent, Correct: correct}, nil
}

// exchange runs a whole reconciliation between two in-memory sets.
func exchange(a, b *Set, salt [SaltSize]byte) (*Session, *Session, error) {
	sa, msg := Initiate(a, salt)
	sb := Respond(b)
	for turn := 0; msg != nil; turn++ {
		if turn > 1000 {
			return nil, nil, fmt.Errorf("reconciliation did not end after %d messages", turn)
		}
		var err error
		if turn%2 == 0 {
			msg, err = sb.Next(msg)
		} else {
			msg, err = sa.Next(msg)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return sa, sb, nil
}
