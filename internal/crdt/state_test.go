package crdt

import (
	"bytes"
	"encoding/hex"
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

// A state of format 2 (before Fugue: runs without origins), as local
// snapshots and snapshot changes of earlier versions hold, still reads and
// renders, writes back in its own format, and takes no change: integrating
// into text without origins would order it wrongly, so the object replays
// from its changes instead.
func TestFormat2StateReadsButTakesNoChange(t *testing.T) {
	legacy, _ := hex.DecodeString("4d5953320205616c69636503626f620f01010b010d0200010100010001010000010001000002000c010f01047479706509706172616772617068000100050f010100014a020001010300040004656c6c6f0d010100012c070006000620776f726c64")
	d, err := UnmarshalState(legacy)
	if err != nil {
		t.Fatal(err)
	}
	blocks := d.Blocks()
	if !d.Legacy() || len(blocks) != 1 || blocks[0].Text != "Jello, world" {
		t.Fatalf("legacy %v, blocks %+v", d.Legacy(), blocks)
	}
	if !bytes.Equal(d.MarshalState(), legacy) {
		t.Fatal("a format-2 state does not write back as it was")
	}
	tx := NewDoc().Begin("carol")
	tx.SetDetail("title", "x")
	if err := d.Apply(tx.Commit()); err == nil {
		t.Fatal("a format-2 state took a change")
	}
	if c := d.Clone(); !c.Legacy() {
		t.Fatal("a clone forgot it has no origins")
	}
}
