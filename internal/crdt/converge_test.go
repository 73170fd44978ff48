package crdt

import (
	"bytes"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"mycel/internal/checks"
)

// The convergence property must see at least 1,000 random histories per run.
func TestMain(m *testing.M) { checks.Default(m, "1000") }

// sim is a set of replicas exchanging changes.
type sim struct {
	exchange
	docs    []*Doc
	history [][][]*Block // per device, rendered states it has seen, for restores
}

func (s *sim) commit(dev int, ch *Change) {
	if ch == nil {
		return
	}
	s.made(dev, ch)
	s.history[dev] = append(s.history[dev], s.docs[dev].Blocks())
}

// deliver applies change c to dev; a duplicate must be refused untouched.
func (s *sim) deliver(t *rapid.T, dev, c int, dup bool) {
	d := s.docs[dev]
	if err := d.Apply(s.changes[c]); err != nil {
		t.Fatalf("device %d: apply change %d: %v", dev, c, err)
	}
	s.have[dev][c] = true
	if err := indexesHold(d); err != nil {
		t.Fatalf("device %d after change %d: %v", dev, c, err)
	}
	if dup {
		before := d.MarshalState()
		if err := d.Apply(s.changes[c]); err == nil {
			t.Fatalf("device %d: duplicate of change %d was accepted", dev, c)
		}
		if !bytes.Equal(before, d.MarshalState()) {
			t.Fatalf("device %d: refused duplicate changed the state", dev)
		}
	}
}

// syncRandom delivers to dev, in random causal order, some of what it lacks.
func (s *sim) syncRandom(t *rapid.T, dev int, all bool) {
	for {
		ready := s.readyFor(dev)
		if len(ready) == 0 {
			return
		}
		if !all && !rapid.Bool().Draw(t, "keep delivering") {
			return
		}
		c := ready[rapid.IntRange(0, len(ready)-1).Draw(t, "which")]
		s.deliver(t, dev, c, rapid.IntRange(0, 4).Draw(t, "dup") == 0)
	}
}

var alphabet = []rune("abcdé 😀\n")

func randText(t *rapid.T) string {
	n := rapid.IntRange(1, 6).Draw(t, "len")
	r := make([]rune, n)
	for i := range r {
		r[i] = alphabet[rapid.IntRange(0, len(alphabet)-1).Draw(t, "ch")]
	}
	return string(r)
}

func (s *sim) edit(t *rapid.T, dev int) {
	d := s.docs[dev]
	tx := d.Begin(fmt.Sprintf("device-%d", dev))
	ids := d.BlockIDs()
	pick := func() ID { return ids[rapid.IntRange(0, len(ids)-1).Draw(t, "block")] }
	nops := rapid.IntRange(1, 4).Draw(t, "ops")
	for i := 0; i < nops; i++ {
		ids = d.BlockIDs()
		kind := rapid.IntRange(0, 11).Draw(t, "kind")
		if len(ids) == 0 && kind != 9 {
			kind = 0
		}
		switch kind {
		case 0: // insert block, maybe nested
			parent, after := ID{}, ID{}
			if len(ids) > 0 && rapid.Bool().Draw(t, "nested") {
				parent = pick()
			}
			kids := d.childIDs(parent)
			if len(kids) > 0 && rapid.Bool().Draw(t, "after") {
				after = kids[rapid.IntRange(0, len(kids)-1).Draw(t, "sibling")]
			}
			b := tx.InsertBlock(parent, after, TypeParagraph)
			tx.InsertText(b, 0, randText(t))
		case 1, 2, 3: // type into a paragraph: the same one on every device, often
			b := ids[0]
			if rapid.Bool().Draw(t, "other block") {
				b = pick()
			}
			tx.InsertText(b, rapid.IntRange(0, d.TextLen(b)).Draw(t, "pos"), randText(t))
		case 4: // delete text
			b := pick()
			if n := d.TextLen(b); n > 0 {
				pos := rapid.IntRange(0, n-1).Draw(t, "pos")
				tx.DeleteText(b, pos, rapid.IntRange(1, n-pos).Draw(t, "n"))
			}
		case 5: // move block, maybe into another (cycles arise concurrently)
			b := pick()
			parent := ID{}
			if rapid.Bool().Draw(t, "into") {
				p := pick()
				ok := true
				for x := p; !x.IsZero(); x = d.parentOf(x) {
					if x == b {
						ok = false
					}
				}
				if ok {
					parent = p
				}
			}
			after := ID{}
			if kids := d.childIDs(parent); len(kids) > 0 && rapid.Bool().Draw(t, "after") {
				after = kids[rapid.IntRange(0, len(kids)-1).Draw(t, "sibling")]
				if after == b {
					after = ID{}
				}
			}
			tx.MoveBlock(b, parent, after)
		case 6:
			tx.DeleteBlock(pick())
		case 7:
			tx.SetDetail([]string{"title", "type", "tags"}[rapid.IntRange(0, 2).Draw(t, "key")], randText(t))
		case 8:
			b := pick()
			tx.SetAttr(b, "type", []string{TypeTodo, TypeHeading1, TypeQuote}[rapid.IntRange(0, 2).Draw(t, "type")])
			tx.SetAttr(b, "checked", fmt.Sprint(rapid.Bool().Draw(t, "checked")))
		case 10, 11: // format or unformat text, often where others type
			b := ids[0]
			if rapid.Bool().Draw(t, "other block") {
				b = pick()
			}
			if n := d.TextLen(b); n > 0 {
				lo := rapid.IntRange(0, n-1).Draw(t, "from")
				hi := rapid.IntRange(lo+1, n).Draw(t, "to")
				typ := []string{MarkBold, MarkLink, MarkCode}[rapid.IntRange(0, 2).Draw(t, "mark")]
				if kind == 11 {
					tx.Unmark(b, lo, hi, typ)
				} else {
					tx.Mark(b, lo, hi, typ, []string{"", "a", "b"}[rapid.IntRange(0, 2).Draw(t, "value")])
				}
			}
		case 9: // restore an earlier state this device saw
			h := s.history[dev]
			if len(h) > 0 {
				tx.Replace(h[rapid.IntRange(0, len(h)-1).Draw(t, "version")])
			}
		}
	}
	s.commit(dev, tx.Commit())
}

func TestConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(t, "devices")
		s := &sim{exchange: exchange{have: make([][]bool, n)}, docs: make([]*Doc, n), history: make([][][]*Block, n)}
		for i := range s.docs {
			s.docs[i] = NewDoc()
		}
		// Device 0 makes the page with one paragraph; everyone starts from it.
		tx := s.docs[0].Begin("device-0")
		tx.SetDetail("title", "page")
		b := tx.InsertBlock(ID{}, ID{}, TypeParagraph)
		tx.InsertText(b, 0, "hello")
		s.commit(0, tx.Commit())
		for i := 1; i < n; i++ {
			s.deliver(t, i, 0, false)
		}
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			dev := rapid.IntRange(0, n-1).Draw(t, "device")
			if rapid.IntRange(0, 2).Draw(t, "action") == 0 {
				s.syncRandom(t, dev, false)
			} else {
				s.edit(t, dev)
			}
		}
		for dev := range s.docs {
			s.syncRandom(t, dev, true)
		}
		want := s.docs[0].MarshalState()
		for dev := 1; dev < n; dev++ {
			if got := s.docs[dev].MarshalState(); !bytes.Equal(got, want) {
				t.Fatalf("device %d state differs from device 0:\n%s\nvs\n%s", dev, dump(s.docs[dev]), dump(s.docs[0]))
			}
		}
		s.checkNothingSwallowed(t)
		// A snapshot of the state decodes to the same state.
		back, err := UnmarshalState(want)
		if err != nil {
			t.Fatalf("snapshot does not decode: %v", err)
		}
		if !bytes.Equal(back.MarshalState(), want) {
			t.Fatal("snapshot round trip changed the state")
		}
		if dump(back) != dump(s.docs[0]) {
			t.Fatal("snapshot renders differently")
		}
	})
}

func dump(d *Doc) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "details %v\n", d.Details())
	var walk func([]*Block, string)
	walk = func(bs []*Block, ind string) {
		for _, x := range bs {
			fmt.Fprintf(&b, "%s%s %v %q %v\n", ind, x.Type, x.Attrs, x.Text, x.Marks)
			walk(x.Children, ind+"  ")
		}
	}
	walk(d.Blocks(), "")
	return b.String()
}

// checkNothingSwallowed: text inserted into a block that ends up hidden was
// seen by a delete of that block or of one above it (the deleting device
// had the text when it deleted); a delete never hides what was typed
// concurrently.
func (s *sim) checkNothingSwallowed(t *rapid.T) {
	d := s.docs[0]
	l := d.layout()
	deletes := map[iid][]int{} // block → changes deleting it
	for ci, ch := range s.changes {
		for _, op := range ch.Ops {
			if op.Kind == OpDeleteBlock {
				x := d.actors.mustInternal(op.Block)
				deletes[x] = append(deletes[x], ci)
			}
		}
	}
	for ci, ch := range s.changes {
		for _, op := range ch.Ops {
			if op.Kind != OpInsertText {
				continue
			}
			x := d.blocks[d.actors.mustInternal(op.Block)]
			if l.visible[x.idx] {
				continue
			}
			seen := false
			for y := x.idx; y >= 0 && !seen; y = l.parent[y] {
				for _, di := range deletes[d.list[y].id] {
					seen = seen || di == ci // deleted by the change that typed it
					for _, dep := range s.deps[di] {
						seen = seen || dep == ci
					}
				}
			}
			if !seen {
				t.Fatalf("text %q typed in change %d is hidden by a delete that did not see it:\n%s", op.Text, ci, dump(d))
			}
		}
	}
}
