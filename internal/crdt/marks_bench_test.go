package crdt

import (
	"fmt"
	"strings"
	"testing"
)

// markedPage is a page of blocks paragraphs with marks marks in all.
func markedPage(blocks, marks int) *Doc {
	d := NewDoc()
	tx := d.Begin("bench")
	var prev ID
	per := max(marks/blocks, 1)
	for i := range blocks {
		prev = tx.InsertBlock(ID{}, prev, TypeParagraph)
		var words []string
		for k := range per {
			words = append(words, fmt.Sprintf("w%d", k))
		}
		text := strings.Join(words, " ") + fmt.Sprintf(" end of paragraph %d.", i)
		tx.InsertText(prev, 0, text)
		pos := 0
		for k, w := range words {
			typ := MarkBold
			if k%2 == 1 {
				typ = MarkItalic
			}
			tx.Mark(prev, pos, pos+len(w), typ, "")
			pos += len(w) + 1
		}
	}
	tx.Commit()
	return d
}

// Opening a page of 1,000 paragraphs with 10,000 marks: decoding its state
// and rendering every block with its marks (target < 20 ms).
func BenchmarkOpenMarkedPage(b *testing.B) {
	state := markedPage(1000, 10000).MarshalState()
	b.ResetTimer()
	for b.Loop() {
		d, err := UnmarshalState(state)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, blk := range d.Blocks() {
			n += len(blk.Marks)
		}
		if n != 10000 {
			b.Fatalf("%d marks", n)
		}
	}
}

// 100,000 mark ops on one block of 10,000 characters, one change each.
func BenchmarkMarkOps(b *testing.B) {
	for b.Loop() {
		d := NewDoc()
		tx := d.Begin("bench")
		blk := tx.InsertBlock(ID{}, ID{}, TypeParagraph)
		tx.InsertText(blk, 0, strings.Repeat("lorem ipsum ", 834)[:10000])
		tx.Commit()
		for i := range 100000 {
			tx := d.Begin("bench")
			lo := (i * 7919) % 9960
			tx.Mark(blk, lo, lo+1+i%39, []string{MarkBold, MarkItalic, MarkLink}[i%3], "u")
			tx.Commit()
		}
		_ = d.Blocks()
	}
}
