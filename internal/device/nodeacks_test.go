package device

import (
	"testing"

	"mycel/internal/change"
	"mycel/internal/nodeack"
	"mycel/internal/objsync"
	"mycel/internal/store"
	"mycel/internal/syncer"
)

// verdict: between two words the node gave this device itself, the order
// they came in is the order, whatever time the later one claims; a word
// passed on by a device is ordered by its time.
func TestVerdictOrdersTheNodesOwnWordsByArrival(t *testing.T) {
	c := func(b byte) change.ID { return change.ID{b} }
	g := map[change.ID][]change.ID{c(1): nil, c(2): {c(1)}, c(3): {c(2)}}
	parents := func(id change.ID) ([]change.ID, bool, error) { ps, ok := g[id]; return ps, ok, nil }
	kept := store.NodeAck{Node: "n", Object: c(9), Heads: []change.ID{c(3)}, Time: 100}
	word := func(via string, time int64, heads ...change.ID) syncer.Ack {
		return syncer.Ack{Node: "n", Via: objsync.PeerID(via), Ack: nodeack.Ack{Object: c(9), Heads: heads, Time: time}}
	}
	for _, x := range []struct {
		name  string
		kept  store.NodeAck
		next  syncer.Ack
		want  nodeack.Verdict
		adopt bool
	}{
		{"the node's later word, more", kept, word("", 200, c(3)), nodeack.Consistent, true},
		{"the node's later word, rolled back", kept, word("", 200, c(2)), nodeack.Lie, false},
		{"the node's word dated back, rolled back", kept, word("", 50, c(2)), nodeack.Lie, false},
		{"the node's word dated back, the same", kept, word("", 50, c(3)), nodeack.Consistent, false},
		{"a word passed on, older and less", kept, word("phone", 50, c(2)), nodeack.Consistent, false},
		{"a word passed on, later and less", kept, word("phone", 200, c(2)), nodeack.Lie, false},
		{"the node's later word naming changes not here", kept, word("", 200, c(7)), nodeack.Unknown, false},
	} {
		v, adopt, err := verdict(parents, x.kept, x.next)
		if err != nil || v != x.want || adopt != x.adopt {
			t.Errorf("%s: %v adopt %v (%v), want %v adopt %v", x.name, v, adopt, err, x.want, x.adopt)
		}
	}
}
