package crdt

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// fugueTree is FugueMax as its paper defines it, a tree: a character is the
// right child of its left origin when that has no right children (its
// right origin then is not a descendant of the left one), else the left
// child of its right origin; right siblings sort by their right origins,
// the furthest right first, then by ID, greatest first; left siblings by
// ID, greatest first; the text is the in-order walk. It is slow and
// obviously right: Text must order every history exactly as it does.
type fugueTree struct {
	nodes map[ID]*fnode
	root  *fnode
}

type fnode struct {
	id           ID
	ch           rune
	del          bool
	parent       *fnode
	left         bool // a left child of parent
	rightOrigin  *fnode
	lkids, rkids []*fnode
}

func newFugueTree() *fugueTree {
	r := &fnode{del: true}
	return &fugueTree{nodes: map[ID]*fnode{{}: r}, root: r}
}

// order lists every node in sequence order (the root first).
func (f *fugueTree) order() []*fnode {
	var out []*fnode
	var walk func(n *fnode)
	walk = func(n *fnode) {
		for _, k := range n.lkids {
			walk(k)
		}
		out = append(out, n)
		for _, k := range n.rkids {
			walk(k)
		}
	}
	walk(f.root)
	return out
}

func (f *fugueTree) index(n *fnode) int {
	if n == nil {
		return 1 << 30 // the end
	}
	return slices.Index(f.order(), n)
}

func (f *fugueTree) descends(n, of *fnode) bool {
	for ; n != nil; n = n.parent {
		if n == of {
			return true
		}
	}
	return false
}

func (f *fugueTree) insert(id, left, right ID, ch rune) {
	l, r := f.nodes[left], f.nodes[right]
	if right.IsZero() {
		r = nil // the end
	}
	n := &fnode{id: id, ch: ch}
	if r == nil || !f.descends(r, l) {
		n.parent, n.rightOrigin = l, r
		ri := f.index(r)
		i := 0
		for ; i < len(l.rkids); i++ {
			si := f.index(l.rkids[i].rightOrigin)
			if ri > si || (ri == si && l.rkids[i].id.Less(id)) {
				break
			}
		}
		l.rkids = slices.Insert(l.rkids, i, n)
	} else {
		n.parent, n.left = r, true
		i := 0
		for ; i < len(r.lkids) && id.Less(r.lkids[i].id); i++ {
		}
		r.lkids = slices.Insert(r.lkids, i, n)
	}
	f.nodes[id] = n
}

func (f *fugueTree) apply(ch *Change) {
	ctr := ch.Start
	for _, op := range ch.Ops {
		switch op.Kind {
		case OpInsertText:
			left := op.Ref
			for _, c := range op.Text {
				id := ID{ctr, ch.Actor}
				f.insert(id, left, op.Right, c)
				left = id
				ctr++
			}
			continue
		case OpDeleteText:
			for _, s := range op.Spans {
				for k := range s.N {
					f.nodes[ID{s.Start.Counter + uint64(k), s.Start.Actor}].del = true
				}
			}
		}
		ctr += op.width()
	}
}

func (f *fugueTree) String() string {
	var b strings.Builder
	for _, n := range f.order() {
		if !n.del {
			b.WriteRune(n.ch)
		}
	}
	return b.String()
}

// textSim is replicas of one block's text exchanging changes.
type textSim struct {
	exchange
	docs []*Doc
	blk  ID
}

func newTextSim(n int, base string) *textSim {
	d := NewDoc()
	tx := d.Begin("base")
	blk := tx.InsertBlock(ID{}, ID{}, TypeParagraph)
	tx.InsertText(blk, 0, base)
	root := tx.Commit()
	s := &textSim{exchange: exchange{changes: []*Change{root}, deps: [][]int{nil}}, blk: blk}
	for i := 0; i < n; i++ {
		di := NewDoc()
		if err := di.Apply(root); err != nil {
			panic(err)
		}
		s.docs = append(s.docs, di)
		s.have = append(s.have, []bool{true})
	}
	return s
}

func (s *textSim) actor(dev int) string { return fmt.Sprintf("dev%d", dev) }

// edit runs f as one change on dev.
func (s *textSim) edit(dev int, f func(tx *Tx)) {
	tx := s.docs[dev].Begin(s.actor(dev))
	f(tx)
	if ch := tx.Commit(); ch != nil {
		s.made(dev, ch)
	}
}

// sync delivers to dev everything it lacks, in an order drawn from pick
// (any causal order).
func (s *textSim) sync(dev int, pick func(n int) int) error {
	for {
		ready := s.readyFor(dev)
		if len(ready) == 0 {
			return nil
		}
		c := ready[pick(len(ready))]
		if err := s.docs[dev].Apply(s.changes[c]); err != nil {
			return fmt.Errorf("device %d, change %d: %w", dev, c, err)
		}
		s.have[dev][c] = true
		if err := indexesHold(s.docs[dev]); err != nil {
			return fmt.Errorf("device %d, change %d: %w", dev, c, err)
		}
	}
}

func (s *textSim) text(dev int) string { return s.docs[dev].Text(s.blk) }

// typeWord types w at position pos of dev's text, one change per letter,
// forwards ("abc" left to right) or backwards (c, then b before it, …).
func (s *textSim) typeWord(dev, pos int, w string, backwards bool) {
	rs := []rune(w)
	for i := range rs {
		if backwards {
			s.edit(dev, func(tx *Tx) { tx.InsertText(s.blk, pos, string(rs[len(rs)-1-i])) })
		} else {
			s.edit(dev, func(tx *Tx) { tx.InsertText(s.blk, pos+i, string(rs[i])) })
		}
	}
}

func first(int) int { return 0 }

// The paper's interleaving examples: words typed concurrently at one place
// come out whole, whichever way each was typed; RGA gave "X1a2b3cY" for
// the backward one.
func TestFugueNeverInterleaves(t *testing.T) {
	for _, tc := range []struct {
		name       string
		back1      bool
		back2      bool
		pos        int
		want1      string // the merge, when dev1's word sorts first
		want2      string
		base       string
		wordA      string
		wordB      string
		noDeletion bool
	}{
		{name: "both forwards", base: "XY", pos: 1, wordA: "abc", wordB: "123"},
		{name: "both backwards", base: "XY", pos: 1, wordA: "abc", wordB: "123", back1: true, back2: true},
		{name: "forwards and backwards", base: "XY", pos: 1, wordA: "abc", wordB: "123", back2: true},
		{name: "backwards and forwards", base: "XY", pos: 1, wordA: "abc", wordB: "123", back1: true},
		{name: "at the start", base: "XY", pos: 0, wordA: "milk", wordB: "eggs", back1: true, back2: true},
		{name: "at the end", base: "XY", pos: 2, wordA: "milk", wordB: "eggs", back1: true},
		{name: "in an empty text", base: "", pos: 0, wordA: "milk", wordB: "eggs", back2: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTextSim(2, tc.base)
			s.typeWord(0, tc.pos, tc.wordA, tc.back1)
			s.typeWord(1, tc.pos, tc.wordB, tc.back2)
			for dev := range 2 {
				if err := s.sync(dev, first); err != nil {
					t.Fatal(err)
				}
			}
			got := s.text(0)
			if got != s.text(1) {
				t.Fatalf("replicas differ: %q and %q", got, s.text(1))
			}
			base := []rune(tc.base)
			pre, post := string(base[:tc.pos]), string(base[tc.pos:])
			a, b := pre+tc.wordA+tc.wordB+post, pre+tc.wordB+tc.wordA+post
			if got != a && got != b {
				t.Fatalf("merged to %q: want %q or %q", got, a, b)
			}
		})
	}
}

// A device that types a word, then goes back and types inside it, keeps
// its word whole beside another device's word typed concurrently at the
// same place.
func TestFugueEditsInsideAWordStayInside(t *testing.T) {
	s := newTextSim(2, "XY")
	s.typeWord(0, 1, "hd", false)
	s.edit(0, func(tx *Tx) { tx.InsertText(s.blk, 2, "ello worl") })
	s.typeWord(1, 1, "12345", true)
	mine := s.text(0)
	for dev := range 2 {
		if err := s.sync(dev, first); err != nil {
			t.Fatal(err)
		}
	}
	if mine != "Xhello worldY" {
		t.Fatalf("device 0 typed %q", mine)
	}
	if got := s.text(0); got != "Xhello world12345Y" && got != "X12345hello worldY" {
		t.Fatalf("merged to %q", got)
	}
}

// Words typed concurrently at one place, each forwards or backwards, in
// runs of letters and changes of any size, never interleave, and every
// replica agrees whatever the delivery order.
func TestFugueConcurrentRunsNeverInterleave(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(t, "replicas")
		base := rapid.StringMatching(`[A-Z]{0,4}`).Draw(t, "base")
		pos := rapid.IntRange(0, len(base)).Draw(t, "pos")
		s := newTextSim(n, base)
		words := make([]string, n)
		for dev := range n {
			words[dev] = strings.Repeat(string(rune('a'+dev)), rapid.IntRange(1, 6).Draw(t, "len"))
			words[dev] = fmt.Sprintf("%s%d", words[dev][:len(words[dev])-1], dev) // distinct letters per word, one digit
			s.typeWord(dev, pos, words[dev], rapid.Bool().Draw(t, "backwards"))
		}
		var texts []string
		for dev := range n {
			if err := s.sync(dev, func(k int) int { return rapid.IntRange(0, k-1).Draw(t, "pick") }); err != nil {
				t.Fatal(err)
			}
			texts = append(texts, s.text(dev))
		}
		for dev := 1; dev < n; dev++ {
			if texts[dev] != texts[0] {
				t.Fatalf("replicas differ: %q and %q", texts[0], texts[dev])
			}
		}
		got := texts[0]
		if !strings.HasPrefix(got, base[:pos]) || !strings.HasSuffix(got, base[pos:]) {
			t.Fatalf("%q lost the text around the insert point %q|%q", got, base[:pos], base[pos:])
		}
		for _, w := range words {
			if !strings.Contains(got, w) {
				t.Fatalf("word %q interleaved in %q", w, got)
			}
		}
	})
}

// Random concurrent editing (inserts anywhere, deletes, partial syncs)
// gives every replica exactly the text of the FugueMax tree. Mixed with
// inserts without a right origin, as devices before Fugue wrote them (no
// tree to match: their origins need not have been neighbours), every
// replica still agrees, byte for byte.
func TestFugueMatchesTheTree(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		legacy := rapid.Bool().Draw(t, "with inserts from before Fugue")
		n := rapid.IntRange(2, 3).Draw(t, "replicas")
		s := newTextSim(n, rapid.StringMatching(`[A-Z]{0,3}`).Draw(t, "base"))
		pick := func(k int) int { return rapid.IntRange(0, k-1).Draw(t, "pick") }
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		letter := 'a'
		for range steps {
			dev := rapid.IntRange(0, n-1).Draw(t, "dev")
			l := s.docs[dev].TextLen(s.blk)
			switch rapid.IntRange(0, 9).Draw(t, "what") {
			case 0, 1, 2, 3:
				pos := rapid.IntRange(0, l).Draw(t, "pos")
				w := strings.Repeat(string(letter), rapid.IntRange(1, 3).Draw(t, "len"))
				letter++
				if letter > 'z' {
					letter = 'a'
				}
				s.edit(dev, func(tx *Tx) { tx.InsertText(s.blk, pos, w) })
			case 4:
				if !legacy {
					continue
				}
				// An insert as written before Fugue: no right origin.
				pos := rapid.IntRange(0, l).Draw(t, "pos")
				s.edit(dev, func(tx *Tx) { tx.InsertText(s.blk, pos, "_") })
				last := s.changes[len(s.changes)-1]
				last.Ops[0].Right = ID{}
				// Its author placed it by the rule too: rebuild the replica.
				s.docs[dev] = replay(t, s, dev)
			case 5, 6:
				if l > 0 {
					pos := rapid.IntRange(0, l-1).Draw(t, "pos")
					k := rapid.IntRange(1, l-pos).Draw(t, "n")
					s.edit(dev, func(tx *Tx) { tx.DeleteText(s.blk, pos, k) })
				}
			default:
				if err := s.sync(dev, pick); err != nil {
					t.Fatal(err)
				}
			}
		}
		ref := newFugueTree()
		for dev := range n {
			if err := s.sync(dev, pick); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range causalOrder(s) {
			ref.apply(s.changes[c])
		}
		want := ref.String()
		state := s.docs[0].MarshalState()
		for dev := range n {
			if dev > 0 && string(s.docs[dev].MarshalState()) != string(state) {
				t.Fatalf("device %d's state differs from device 0's: %q and %q", dev, s.text(dev), s.text(0))
			}
			if got := s.text(dev); got != want && !legacy {
				t.Fatalf("device %d has %q, the FugueMax tree %q", dev, got, want)
			}
		}
		if legacy {
			want = s.text(0)
		}
		back, err := UnmarshalState(state)
		if err != nil {
			t.Fatal(err)
		}
		if string(back.MarshalState()) != string(state) || back.Text(s.blk) != want {
			t.Fatal("the state does not round-trip")
		}
	})
}

// replay rebuilds dev's replica from the changes it has, in order.
func replay(t *rapid.T, s *textSim, dev int) *Doc {
	d := NewDoc()
	for c, ok := range s.have[dev] {
		if ok {
			if err := d.Apply(s.changes[c]); err != nil {
				t.Fatalf("replay change %d: %v", c, err)
			}
		}
	}
	return d
}

// causalOrder lists every change after its dependencies.
func causalOrder(s *textSim) []int {
	done := make([]bool, len(s.changes))
	var out []int
	for len(out) < len(s.changes) {
		for c := range s.changes {
			if done[c] {
				continue
			}
			ok := true
			for _, p := range s.deps[c] {
				ok = ok && done[p]
			}
			if ok {
				done[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// Inserts without right origins (every insert before Fugue) order exactly
// as the RGA rule ordered them, in any causal order: old histories replay
// to the same text.
func TestInsertsWithoutRightOriginOrderAsRGA(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		type ins struct {
			origin, id iid
			from       int // the insert holding origin (-1: the start)
			s          []rune
		}
		var actors actorTable
		var all []ins
		for i := range rapid.IntRange(1, 40).Draw(t, "inserts") {
			x := ins{from: -1}
			if i > 0 && rapid.IntRange(0, 5).Draw(t, "at start") > 0 {
				x.from = rapid.IntRange(0, i-1).Draw(t, "origin")
				o := all[x.from]
				x.origin = iid{o.id.ctr + uint64(rapid.IntRange(0, len(o.s)-1).Draw(t, "offset")), o.id.act}
			}
			// An actor of its own: concurrent inserts with any counters.
			x.id = iid{x.origin.ctr + 1 + uint64(rapid.IntRange(0, 4).Draw(t, "gap")), actors.intern(fmt.Sprintf("a%03d", i))}
			x.s = []rune(strings.Repeat(string(rune('a'+i%26)), rapid.IntRange(1, 3).Draw(t, "len")))
			all = append(all, x)
		}
		fugue, rga := newText(&actors), newText(&actors)
		done := make([]bool, len(all))
		for range all {
			var ready []int
			for i, x := range all {
				if !done[i] && (x.from < 0 || done[x.from]) {
					ready = append(ready, i)
				}
			}
			i := ready[rapid.IntRange(0, len(ready)-1).Draw(t, "deliver")]
			done[i] = true
			if err := fugue.integrate(all[i].origin, iid{}, all[i].id, slices.Clone(all[i].s)); err != nil {
				t.Fatal(err)
			}
			if err := rga.integrateRGA(all[i].origin, all[i].id, slices.Clone(all[i].s)); err != nil {
				t.Fatal(err)
			}
		}
		if fugue.String() != rga.String() {
			t.Fatalf("Fugue %q, RGA %q", fugue.String(), rga.String())
		}
	})
}
