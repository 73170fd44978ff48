package crdt

import (
	"bytes"
	"testing"
)

func sampleDoc() *Doc {
	d := NewDoc()
	tx := d.Begin("a\xff\x00binary-key") // actors are raw keys, not text
	tx.SetDetail("title", "T")
	p := tx.InsertBlock(ID{}, ID{}, TypeBulleted)
	tx.InsertText(p, 0, "parent")
	c := tx.InsertBlock(p, ID{}, TypeTodo)
	tx.SetAttr(c, "checked", "true")
	tx.InsertText(c, 0, "child text")
	tx.DeleteText(c, 2, 3)
	tx.Commit()
	return d
}

func TestStateRoundTrip(t *testing.T) {
	d := sampleDoc()
	b := d.MarshalState()
	back, err := UnmarshalState(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.MarshalState(), b) || dump(back) != dump(d) {
		t.Fatal("round trip changed the state")
	}
	// A loaded state takes further edits like the original.
	for _, x := range []*Doc{d, back} {
		tx := x.Begin("b")
		tx.InsertText(x.BlockIDs()[1], 3, "XY")
		tx.Commit()
	}
	if !bytes.Equal(back.MarshalState(), d.MarshalState()) {
		t.Fatal("edits after loading diverge")
	}
}

func FuzzUnmarshalState(f *testing.F) {
	f.Add(sampleDoc().MarshalState())
	f.Add(NewDoc().MarshalState())
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := UnmarshalState(b)
		if err != nil {
			return
		}
		d.Blocks()
		d.Details()
		d.MarshalState()
	})
}

func TestPreview(t *testing.T) {
	d := sampleDoc()
	if got := d.Preview(100); got != "parent ch text" {
		t.Fatalf("preview = %q", got)
	}
	if got := d.Preview(8); got != "parent …" && got != "parent c…" {
		t.Fatalf("short preview = %q", got)
	}
}
