package device

import (
	"log/slog"
	"path/filepath"
	"testing"

	"mycel/internal/change"
	"mycel/internal/markdown"
	"mycel/internal/nodeack"
	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/store"
	"mycel/internal/syncer"
	"mycel/internal/vault"
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

// A node's word that carries a member's removal request excuses the node
// showing less than it had confirmed, once per request: a device that saw
// the page removed, one that learns of it only once the page is back, and
// one given the node's older words by a device that did not see it are
// not fooled into a lie; a node that replays the request to hide a later
// rollback, or shows one far older than what it confirmed, is caught.
func TestRemovalExcusesOneDropOnly(t *testing.T) {
	ctx := t.Context()
	e, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Create(ctx, vault.NewPage{Title: "Letters", Blocks: markdown.Parse("Dear heron,\n")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AppendMarkdown(ctx, id, "more\n"); err != nil {
		t.Fatal(err)
	}
	ids, _, err := e.Changes(ctx, id)
	if err != nil || len(ids) < 2 {
		t.Fatalf("changes %v %v", ids, err)
	}
	first, last := ids[0], ids[len(ids)-1]
	d := &Device{Engine: e, ctx: ctx, cfg: Config{Log: slog.New(slog.DiscardHandler)}}
	n, err := newNodeAcks(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	request := func(ms int64) *pb.RemoveObject { return &pb.RemoveObject{Object: id[:], TimeMs: ms} }
	word := func(node string, time int64, r *pb.RemoveObject, heads ...change.ID) syncer.Ack {
		return syncer.Ack{Node: objsync.PeerID(node), Ack: nodeack.Ack{Object: id, Heads: heads, Time: time}, Removal: r}
	}
	const day = int64(24 * 3600 * 1000)
	lied := func(node string) bool {
		var lies []store.NodeAck
		e.Store().View(ctx, func(tx store.Tx) (err error) { lies, err = tx.NodeLies(); return err })
		for _, l := range lies {
			if l.Node == node {
				return true
			}
		}
		return false
	}
	steps := []struct {
		name string
		word syncer.Ack
		lie  bool
	}{
		// Node "seen": the device sees the page removed, then back.
		{"seen: the page confirmed", word("seen", 10*day, nil, last), false},
		{"seen: removed at a member's request", word("seen", 10*day+2000, request(10*day+1000)), false},
		{"seen: back, partly uploaded", word("seen", 10*day+3000, request(10*day+1000), first), false},
		{"seen: back, whole", word("seen", 10*day+4000, request(10*day+1000), last), false},
		{"seen: the same request replayed to hide a rollback", word("seen", 10*day+5000, request(10*day+1000)), true},
		// Node "away": the device was away while the page was removed and
		// put back; the node's first word after shows less.
		{"away: the page confirmed", word("away", 10*day, nil, last), false},
		{"away: back, partly uploaded", word("away", 12*day, request(11*day), first), false},
		{"away: the node's own older word, passed on by a phone", syncer.Ack{Node: "away", Via: "phone", Ack: nodeack.Ack{Object: id, Heads: []change.ID{last}, Time: 10 * day}}, false},
		{"away: back, whole", word("away", 12*day+1000, request(11*day), last), false},
		{"away: a new request, a new removal", word("away", 13*day, request(13*day-1000)), false},
		// Node "stale": a request two days older than what it confirmed.
		{"stale: the page confirmed", word("stale", 10*day, nil, last), false},
		{"stale: dropped, by an old request", word("stale", 10*day+1000, request(8*day)), true},
	}
	for _, s := range steps {
		n.check([]syncer.Ack{s.word})
		if got := lied(string(s.word.Node)); got != s.lie {
			t.Fatalf("%s: lie %v, want %v", s.name, got, s.lie)
		}
	}
}
