package device

import (
	"crypto/ed25519"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/markdown"
	"mycel/internal/member"
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

// bareDevice is a Device of a new vault with no sync service started:
// for what the device does with what it is given (its checks, its log).
func bareDevice(t *testing.T) (*Device, *vault.Engine) {
	t.Helper()
	e, _, err := vault.Init(t.Context(), filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return &Device{Engine: e, ctx: t.Context(), cfg: Config{Log: slog.New(slog.DiscardHandler)}}, e
}

// A node's word that carries a member's removal request excuses the node
// showing less than it had confirmed, once per request: a device that saw
// the page removed, one that learns of it only once the page is back, and
// one given the node's older words by a device that did not see it are
// not fooled into a lie. A node that replays the request to hide a later
// rollback, shows one made before the word it would excuse reached this
// device, or one no device of the vault signed, is caught; so is one that
// dates its excused word far ahead to have later words passed on skipped.
func TestRemovalExcusesOneDropOnly(t *testing.T) {
	ctx := t.Context()
	d, e := bareDevice(t)
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
	n, err := newNodeAcks(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	// Times: node words are the node's (any); requests are a device's
	// clock, against when words reached this one (now).
	now := time.Now().UnixMilli()
	const minute, day = int64(60_000), int64(24 * 3600 * 1000)
	request := func(ms int64) *pb.RemoveObject {
		r := e.SignNodeRemoval(vault.NodeRemoval{Object: id, TimeMs: now + ms})
		r.Device = e.DeviceKey()
		return r
	}
	_, stranger, _ := ed25519.GenerateKey(nil)
	forged := member.SignRemoval(stranger, e.VaultID(), id, false, time.Now())
	forged.Device = stranger.Public().(ed25519.PublicKey)
	word := func(node string, time int64, r *pb.RemoveObject, heads ...change.ID) syncer.Ack {
		return syncer.Ack{Node: objsync.PeerID(node), Ack: nodeack.Ack{Object: id, Heads: heads, Time: time}, Removal: r}
	}
	passed := func(node string, time int64, heads ...change.ID) syncer.Ack {
		return syncer.Ack{Node: objsync.PeerID(node), Via: "phone", Ack: nodeack.Ack{Object: id, Heads: heads, Time: time}}
	}
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
		{"seen: removed at a member's request", word("seen", 10*day+2000, request(minute)), false},
		{"seen: back, partly uploaded", word("seen", 10*day+3000, request(minute), first), false},
		{"seen: back, whole", word("seen", 10*day+4000, request(minute), last), false},
		{"seen: the same request replayed to hide a rollback", word("seen", 10*day+5000, request(minute)), true},
		// Node "away": the device was away while the page was removed and
		// put back; the node's first word after shows less.
		{"away: the page confirmed", word("away", 10*day, nil, last), false},
		{"away: back, partly uploaded", word("away", 12*day, request(2*minute), first), false},
		{"away: the node's own older word, passed on by a phone", passed("away", 10*day, last), false},
		{"away: back, whole", word("away", 12*day+1000, request(2*minute), last), false},
		{"away: a new request, a new removal", word("away", 13*day, request(3*minute)), false},
		// Node "early": it confirmed the page after the request was made
		// (without showing it), then drops it showing the request.
		{"early: the page confirmed", word("early", 10*day, nil, last), false},
		{"early: dropped, by a request made before", word("early", 10*day+1000, request(-10*minute)), true},
		// Node "forged": a request no device of the vault signed.
		{"forged: the page confirmed", word("forged", 10*day, nil, last), false},
		{"forged: dropped, by a forged request", word("forged", 10*day+1000, forged), true},
		// Node "ahead": its excused word is dated far ahead; a word it
		// gave the phone later shows more, and is judged.
		{"ahead: the page confirmed", word("ahead", now, nil, first), false},
		{"ahead: removed, the word dated a year ahead", word("ahead", now+400*day, request(minute)), false},
		{"ahead: the phone's later word shows more", passed("ahead", now+2*day, last), true},
	}
	for _, s := range steps {
		n.check([]syncer.Ack{s.word})
		if got := lied(string(s.word.Node)); got != s.lie {
			t.Fatalf("%s: lie %v, want %v", s.name, got, s.lie)
		}
	}
}
