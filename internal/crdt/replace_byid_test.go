package crdt

import (
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// ReplaceByID reaches any target tree from any document; a target block
// that carries the ID of a current block is that block (wherever it moved,
// whatever its new text), and every other current block is deleted.
func TestReplaceByIDReachesTargetAndKeepsIdentity(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := NewDoc()
		tx := d.Begin("a")
		tx.Replace(genTree(t, 0))
		tx.Commit()
		for step := 0; step < 3; step++ {
			var have []ID
			var walk func([]*Block)
			walk = func(bs []*Block) {
				for _, b := range bs {
					have = append(have, b.ID)
					walk(b.Children)
				}
			}
			walk(d.Blocks())
			// Target: a new tree, some of whose blocks take the IDs of
			// current blocks (each at most once).
			target := genTree(t, 0)
			kept := map[ID]bool{}
			var assign func([]*Block)
			assign = func(bs []*Block) {
				for _, b := range bs {
					if len(have) > 0 && rapid.Bool().Draw(t, "reuse") {
						i := rapid.IntRange(0, len(have)-1).Draw(t, "which")
						b.ID, have = have[i], append(have[:i:i], have[i+1:]...)
						kept[b.ID] = true
					}
					assign(b.Children)
				}
			}
			assign(target)
			tx := d.Begin("a")
			placed := tx.ReplaceByID(target)
			tx.Commit()
			if got, want := shape(d.Blocks()), shape(target); !reflect.DeepEqual(got, want) {
				t.Fatalf("step %d: got\n%s\nwant\n%s", step, dump(d), dumpBlocks(target))
			}
			// What it says it placed is each block of the target, in order.
			var now []ID
			walk = func(bs []*Block) {
				for _, b := range bs {
					now = append(now, b.ID)
					walk(b.Children)
				}
			}
			walk(d.Blocks())
			if !reflect.DeepEqual(placed, now) && !(len(placed) == 0 && len(now) == 0) {
				t.Fatalf("step %d: placed %v, the document %v", step, placed, now)
			}
			var check func(got, want []*Block)
			check = func(got, want []*Block) {
				for i := range want {
					if kept[want[i].ID] && got[i].ID != want[i].ID {
						t.Fatalf("step %d: block %v became %v", step, want[i].ID, got[i].ID)
					}
					if !kept[want[i].ID] && kept[got[i].ID] {
						t.Fatalf("step %d: a new block reused %v", step, got[i].ID)
					}
					check(got[i].Children, want[i].Children)
				}
			}
			check(d.Blocks(), target)
			// The document itself as target has nothing to do.
			tx = d.Begin("a")
			tx.ReplaceByID(d.Blocks())
			if ch := tx.Commit(); ch != nil {
				t.Fatalf("step %d: replacing with the document itself made %d ops", step, len(ch.Ops))
			}
		}
	})
}

// An editor deletes a paragraph and types one with the same words: by ID
// that is a delete and a new block, so an edit of the old paragraph made
// concurrently elsewhere survives beside the new one (Replace would have
// matched the two by content).
func TestReplaceByIDDeletesWhatWasDeleted(t *testing.T) {
	a := NewDoc()
	tx := a.Begin("a")
	tx.Replace([]*Block{{Type: TypeParagraph, Text: "same words"}})
	root := tx.Commit()
	b := NewDoc()
	if err := b.Apply(root); err != nil {
		t.Fatal(err)
	}
	old := a.Blocks()[0].ID
	tx = a.Begin("a")
	placed := tx.ReplaceByID([]*Block{{Type: TypeParagraph, Text: "same words"}}) // no ID: a new block
	ca := tx.Commit()
	if ca == nil || a.Blocks()[0].ID == old {
		t.Fatal("the block typed anew kept the old one's identity")
	}
	if len(placed) != 1 || placed[0] != a.Blocks()[0].ID {
		t.Fatalf("ReplaceByID says the block is %v, the document %v", placed, a.Blocks()[0].ID)
	}
	tx = b.Begin("b")
	tx.InsertText(old, 0, "edited: ")
	cb := tx.Commit()
	for _, x := range []struct {
		d  *Doc
		ch *Change
	}{{a, cb}, {b, ca}} {
		if err := x.d.Apply(x.ch); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []*Doc{a, b} {
		var texts []string
		for _, bl := range d.Blocks() {
			texts = append(texts, bl.Text)
		}
		if len(texts) != 2 || !slices.Contains(texts, "edited: same words") || !slices.Contains(texts, "same words") {
			t.Fatalf("after the merge: %q", texts)
		}
	}
}
