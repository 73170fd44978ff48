package crdt

import (
	"bytes"
	"strings"
	"testing"
)

// two returns two replicas of a page with a paragraph and a list item
// with a child, as both devices have it.
func two(t *testing.T) (a, b *Doc, para, item, child ID) {
	t.Helper()
	a = NewDoc()
	tx := a.Begin("A")
	para = tx.InsertBlock(ID{}, ID{}, TypeParagraph)
	tx.InsertText(para, 0, "hello")
	item = tx.InsertBlock(ID{}, para, TypeBulleted)
	tx.InsertText(item, 0, "item")
	child = tx.InsertBlock(item, ID{}, TypeBulleted)
	tx.InsertText(child, 0, "child")
	ch := tx.Commit()
	b = NewDoc()
	if err := b.Apply(ch); err != nil {
		t.Fatal(err)
	}
	return a, b, para, item, child
}

// merge delivers each side's change to the other and checks they agree.
func merge(t *testing.T, a, b *Doc, ca, cb *Change) {
	t.Helper()
	if err := a.Apply(cb); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(ca); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.MarshalState(), b.MarshalState()) {
		t.Fatalf("replicas differ:\n%s\nvs\n%s", dump(a), dump(b))
	}
}

func texts(d *Doc) string {
	var out []string
	var walk func([]*Block, string)
	walk = func(bs []*Block, ind string) {
		for _, x := range bs {
			kept := ""
			if x.Kept {
				kept = " (kept)"
			}
			out = append(out, ind+x.Text+kept)
			walk(x.Children, ind+"  ")
		}
	}
	walk(d.Blocks(), "")
	return strings.Join(out, "\n")
}

func TestDeleteKeepsConcurrentEdit(t *testing.T) {
	a, b, para, _, _ := two(t)
	ta := a.Begin("A")
	ta.DeleteBlock(para)
	tb := b.Begin("B")
	tb.InsertText(para, 5, " world")
	merge(t, a, b, ta.Commit(), tb.Commit())
	if got := texts(a); got != "hello world (kept)\nitem\n  child" {
		t.Fatalf("after a delete concurrent with an edit:\n%s", got)
	}
	// Deleting it again, having seen the edit, deletes it.
	ta = a.Begin("A")
	ta.DeleteBlock(para)
	if err := b.Apply(ta.Commit()); err != nil {
		t.Fatal(err)
	}
	if got := texts(b); got != "item\n  child" {
		t.Fatalf("after deleting again:\n%s", got)
	}
}

func TestDeleteKeepsConcurrentEditBelow(t *testing.T) {
	// A deletes the list item (and so its child); B edits the child: both
	// stay, the whole subtree with them.
	a, b, _, item, child := two(t)
	ta := a.Begin("A")
	ta.Replace([]*Block{{Type: TypeParagraph, Text: "hello"}})
	tb := b.Begin("B")
	tb.InsertText(child, 5, "!")
	merge(t, a, b, ta.Commit(), tb.Commit())
	if got := texts(a); got != "hello\nitem (kept)\n  child!" {
		t.Fatalf("after deleting a parent while its child was edited:\n%s", got)
	}
	// A block added under a block deleted concurrently keeps it too.
	ta = a.Begin("A")
	ta.DeleteBlock(item)
	tb = b.Begin("B")
	n := tb.InsertBlock(item, child, TypeBulleted)
	tb.InsertText(n, 0, "new")
	merge(t, a, b, ta.Commit(), tb.Commit())
	if got := texts(a); got != "hello\nitem (kept)\n  child!\n  new" {
		t.Fatalf("after adding under a block deleted concurrently:\n%s", got)
	}
}

func TestDeleteOfWhatWasSeenHolds(t *testing.T) {
	// B edits, A receives the edit and then deletes: gone everywhere.
	a, b, para, _, _ := two(t)
	tb := b.Begin("B")
	tb.InsertText(para, 0, "oh ")
	cb := tb.Commit()
	if err := a.Apply(cb); err != nil {
		t.Fatal(err)
	}
	ta := a.Begin("A")
	ta.DeleteBlock(para)
	if err := b.Apply(ta.Commit()); err != nil {
		t.Fatal(err)
	}
	if got, want := texts(b), "item\n  child"; got != want || texts(a) != want {
		t.Fatalf("a delete that saw the edit: %q and %q", got, texts(a))
	}
	// A block moved out of a block deleted concurrently stays where it
	// moved; the deleted one goes.
	a, b, _, item, child := two(t)
	ta = a.Begin("A")
	ta.DeleteBlock(item)
	tb = b.Begin("B")
	tb.MoveBlock(child, ID{}, ID{})
	merge(t, a, b, ta.Commit(), tb.Commit())
	if got := texts(a); got != "child\nhello" {
		t.Fatalf("after moving a child out of a block deleted concurrently:\n%s", got)
	}
}

func TestLegacyDeleteHolds(t *testing.T) {
	// A delete without Seen (written before deletes said what they saw)
	// holds, whatever happened concurrently.
	a, b, para, _, _ := two(t)
	del := &Change{Actor: "A", Start: a.NextCounter(), Ops: []Op{{Kind: OpDeleteBlock, Block: para}}}
	if err := a.Apply(del); err != nil {
		t.Fatal(err)
	}
	tb := b.Begin("B")
	tb.InsertText(para, 5, "!")
	cb := tb.Commit()
	if err := a.Apply(cb); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(del); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.MarshalState(), b.MarshalState()) {
		t.Fatal("replicas differ")
	}
	if got := texts(a); got != "item\n  child" {
		t.Fatalf("legacy delete: %q", got)
	}
}

func TestCountersOfOneActorInAnyOrder(t *testing.T) {
	// Two changes by one device made on different states (an edit built on
	// what the person saw while another edit was stored) arrive in either
	// order; one that reuses counters is refused and leaves no trace.
	src := NewDoc()
	tx := src.Begin("A")
	p := tx.InsertBlock(ID{}, ID{}, TypeParagraph)
	tx.InsertText(p, 0, "ab")
	c1 := tx.Commit() // counters 1..3
	base := src.Clone()
	tx = src.Begin("A")
	tx.InsertText(p, 2, "cd")
	c2 := tx.Commit() // 4..5
	tx = base.BeginAt("A", src.NextCounter())
	tx.InsertText(p, 0, "xy")
	c3 := tx.Commit() // 6..7, without c2 in its past
	for _, order := range [][]*Change{{c1, c2, c3}, {c1, c3, c2}} {
		d := NewDoc()
		for _, c := range order {
			if err := d.Apply(c); err != nil {
				t.Fatalf("apply: %v", err)
			}
		}
		if got := d.Text(p); got != "xyabcd" {
			t.Fatalf("text %q", got)
		}
		before := d.MarshalState()
		fork := &Change{Actor: "A", Start: 5, Ops: []Op{{Kind: OpInsertText, Block: p, Text: "zz"}}}
		if err := d.Apply(fork); !IsOverlap(err) {
			t.Fatalf("a change reusing counters 5..6: %v", err)
		}
		if !bytes.Equal(before, d.MarshalState()) {
			t.Fatal("a refused change left a trace")
		}
	}
}

func TestSplit(t *testing.T) {
	d := NewDoc()
	tx := d.Begin("A")
	var blocks []*Block
	for i := 0; i < 50; i++ {
		blocks = append(blocks, &Block{Type: TypeParagraph, Text: strings.Repeat("x", 100)})
	}
	tx.Replace(blocks)
	whole := tx.Commit()
	parts := whole.Split(1000)
	if len(parts) < 5 {
		t.Fatalf("split into %d parts", len(parts))
	}
	e := NewDoc()
	for _, p := range parts {
		if err := e.Apply(p); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(e.MarshalState(), d.MarshalState()) {
		t.Fatal("the parts applied in order differ from the whole")
	}
}

// A huge insert is cut into inserts that follow one another: the same
// characters, ids and order.
func TestSplitCutsAHugeInsert(t *testing.T) {
	d := NewDoc()
	tx := d.Begin("A")
	b := tx.InsertBlock(ID{}, ID{}, TypeCode)
	tx.InsertText(b, 0, strings.Repeat("é0123456789", 1000))
	whole := tx.Commit()
	parts := whole.Split(1000)
	if len(parts) < 10 {
		t.Fatalf("%d parts", len(parts))
	}
	e := NewDoc()
	for _, p := range parts {
		for _, op := range p.Ops {
			if len(op.Text) > 1000 {
				t.Fatalf("an op of %d bytes", len(op.Text))
			}
		}
		if err := e.Apply(p); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(e.MarshalState(), d.MarshalState()) {
		t.Fatal("the parts differ from the whole")
	}
}
