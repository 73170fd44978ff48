package crdt

import (
	"fmt"
	"reflect"
	"sort"
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
		b.Marks = genMarks(t, len([]rune(b.Text)))
		if depth < 2 && rapid.IntRange(0, 2).Draw(t, "kids") == 0 {
			b.Children = genTree(t, depth+1)
		}
		out = append(out, b)
	}
	return out
}

// genMarks draws marks over a text of n characters, in the form Blocks
// renders them: per type, maximal stretches of one value, sorted.
func genMarks(t *rapid.T, n int) []Mark {
	var out []Mark
	for _, typ := range []string{MarkBold, MarkLink, MarkItalic} {
		if n == 0 || !rapid.Bool().Draw(t, "marked") {
			continue
		}
		vals := make([]markValue, n)
		for range rapid.IntRange(1, 3).Draw(t, "spans") {
			lo := rapid.IntRange(0, n-1).Draw(t, "from")
			hi := rapid.IntRange(lo+1, n).Draw(t, "to")
			v := markValue{set: rapid.IntRange(0, 3).Draw(t, "on") > 0}
			if typ == MarkLink {
				v.v = []string{"a", "b"}[rapid.IntRange(0, 1).Draw(t, "url")]
			}
			for k := lo; k < hi; k++ {
				vals[k] = v
			}
		}
		for i := 0; i < n; {
			j := i + 1
			for j < n && vals[j] == vals[i] {
				j++
			}
			if vals[i].set {
				out = append(out, Mark{Start: i, End: j, Type: typ, Value: vals[i].v})
			}
			i = j
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Start != b.Start {
			return a.Start < b.Start
		}
		if a.End != b.End {
			return a.End < b.End
		}
		return a.Type < b.Type
	})
	return out
}

// shape drops IDs so trees compare by content and structure.
func shape(bs []*Block) []Block {
	var out []Block
	for _, b := range bs {
		s := Block{Type: b.Type, Text: b.Text, Attrs: b.Attrs, Marks: b.Marks}
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
			d += fmt.Sprintf("%s%s %v %q %v\n", ind, x.Type, x.Attrs, x.Text, x.Marks)
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
