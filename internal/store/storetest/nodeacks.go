package storetest

import (
	"errors"
	"fmt"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
)

// A node's acknowledgements are kept per node and object (the last put
// wins), heads sorted; NodeAcks lists the newest first, NodeLies those
// found lied about.
func testNodeAcks(t *testing.T, impl Impl) {
	s := fresh(t, impl)
	o2 := id(0x20)
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.NodeAck("n1", obj); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("ack of nothing: %v", err)
		}
		if as, err := tx.NodeAcks(0); err != nil || len(as) != 0 {
			t.Fatalf("acks of an empty store = %v, %v", as, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		must(t, tx.PutNodeAck(store.NodeAck{Node: "n1", Object: obj, Heads: []change.ID{id(2)}, Time: 10, Sig: []byte("s1")}))
		must(t, tx.PutNodeAck(store.NodeAck{Node: "n1", Object: obj, Heads: []change.ID{id(9), id(3)}, Time: 30, Sig: []byte("s2"), Removal: []byte("r"), Seen: 25})) // wins
		must(t, tx.PutNodeAck(store.NodeAck{Node: "n1", Object: o2, Heads: []change.ID{id(4)}, Time: 20, Sig: []byte("s3"), Via: "dev-2", Lied: 99}))
		must(t, tx.PutNodeAck(store.NodeAck{Node: "n10", Object: obj, Heads: nil, Time: 5, Sig: []byte("s4")}))
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		a, err := tx.NodeAck("n1", obj)
		if err != nil || a.Time != 30 || string(a.Sig) != "s2" || fmt.Sprint(a.Heads) != fmt.Sprint([]change.ID{id(3), id(9)}) || a.Lied != 0 || string(a.Removal) != "r" || a.Seen != 25 {
			t.Fatalf("ack = %+v, %v", a, err)
		}
		as, err := tx.NodeAcks(0)
		must(t, err)
		var got []string
		for _, a := range as {
			got = append(got, fmt.Sprintf("%s/%x@%d", a.Node, a.Object[:1], a.Time))
		}
		if fmt.Sprint(got) != "[n1/01@30 n1/20@20 n10/01@5]" {
			t.Fatalf("acks = %v", got)
		}
		if as, err := tx.NodeAcks(2); err != nil || len(as) != 2 || as[1].Time != 20 {
			t.Fatalf("2 acks = %+v, %v", as, err)
		}
		lies, err := tx.NodeLies()
		if err != nil || len(lies) != 1 || lies[0].Object != o2 || lies[0].Lied != 99 || lies[0].Node != "n1" || lies[0].Via != "dev-2" {
			t.Fatalf("lies = %+v, %v", lies, err)
		}
		// What is handed out is the caller's.
		a.Heads[0], a.Sig[0] = id(7), 'x'
		b, err := tx.NodeAck("n1", obj)
		if err != nil || b.Heads[0] != id(3) || string(b.Sig) != "s2" {
			t.Fatalf("the store's slices were handed out: %+v", b)
		}
		return nil
	})
}
