package crdt

import (
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

var testTypes = []string{TypeParagraph, TypeHeading1, TypeTodo, TypeBulleted, TypeCode}

func genTree(t *rapid.T, depth int) []*Block {
	n := rapid.IntRange(0, 4).Draw(t, "n")
	var out []*Block
	for i := 0; i < n; i++ {
		b := &Block{Type: testTypes[rapid.IntRange(0, len(testTypes)-1).Draw(t, "type")], Attrs: map[string]string{},
			Text: rapid.StringMatching(`[ab c]{0,6}`).Draw(t, "text")}
		if rapid.Bool().Draw(t, "attr") {
			b.Attrs["checked"] = fmt.Sprint(rapid.Bool().Draw(t, "checked"))
		}
		if depth < 2 && rapid.IntRange(0, 2).Draw(t, "kids") == 0 {
			b.Children = genTree(t, depth+1)
		}
		out = append(out, b)
	}
	return out
}

// shape drops IDs so trees compare by content and structure.
func shape(bs []*Block) []Block {
	var out []Block
	for _, b := range bs {
		s := Block{Type: b.Type, Text: b.Text, Attrs: b.Attrs}
		if len(s.Attrs) == 0 {
			s.Attrs = nil
		}
		for _, c := range shape(b.Children) {
			s.Children = append(s.Children, &c)
		}
		out = append(out, s)
	}
	return out
}

// Replace must produce exactly the target tree, from any starting tree.
func TestReplaceReachesTarget(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := NewDoc()
		tx := d.Begin("a")
		tx.Replace(genTree(t, 0))
		tx.Commit()
		for step := 0; step < 3; step++ {
			target := genTree(t, 0)
			tx := d.Begin("a")
			tx.Replace(target)
			tx.Commit()
			if got, want := shape(d.Blocks()), shape(target); !reflect.DeepEqual(got, want) {
				t.Fatalf("step %d: got\n%s\nwant\n%s", step, dump(d), dumpBlocks(target))
			}
			// A second Replace with the same target has nothing to do.
			tx = d.Begin("a")
			tx.Replace(target)
			if ch := tx.Commit(); ch != nil {
				t.Fatalf("replacing with the current tree made %d ops", len(ch.Ops))
			}
		}
	})
}

func dumpBlocks(bs []*Block) string {
	d := ""
	var walk func([]*Block, string)
	walk = func(bs []*Block, ind string) {
		for _, x := range bs {
			d += fmt.Sprintf("%s%s %v %q\n", ind, x.Type, x.Attrs, x.Text)
			walk(x.Children, ind+"  ")
		}
	}
	walk(bs, "")
	return d
}

// A one-character change is one delete and one insert, not a rewrite.
func TestReplaceIsMinimal(t *testing.T) {
	d := NewDoc()
	tx := d.Begin("a")
	tx.Replace([]*Block{{Type: TypeParagraph, Text: "The cat sat on the mat."}, {Type: TypeBulleted, Text: "one"}, {Type: TypeBulleted, Text: "two"}})
	tx.Commit()
	tx = d.Begin("a")
	tx.Replace([]*Block{{Type: TypeParagraph, Text: "The bat sat on the mat."}, {Type: TypeBulleted, Text: "one"}, {Type: TypeBulleted, Text: "two"}})
	ch := tx.Commit()
	if len(ch.Ops) != 2 || ch.Ops[0].Kind != OpDeleteText || ch.Ops[1].Kind != OpInsertText || ch.Ops[1].Text != "b" {
		t.Fatalf("ops = %+v", ch.Ops)
	}
	// Moving the last item first is one move.
	tx = d.Begin("a")
	tx.Replace([]*Block{{Type: TypeBulleted, Text: "two"}, {Type: TypeParagraph, Text: "The bat sat on the mat."}, {Type: TypeBulleted, Text: "one"}})
	ch = tx.Commit()
	if len(ch.Ops) != 1 || ch.Ops[0].Kind != OpMoveBlock {
		t.Fatalf("ops = %+v", ch.Ops)
	}
}
