package crdt

import (
	"fmt"
	"strings"
	"testing"
)

// page makes n paragraphs of about 100 characters each.
func page(n int) []*Block {
	bs := make([]*Block, n)
	for i := range bs {
		bs[i] = &Block{Type: TypeParagraph, Text: fmt.Sprintf("Paragraph %d: %s", i, strings.Repeat("lorem ipsum ", 7))}
	}
	return bs
}

// BenchmarkReplaceOneBlock edits one block of an n-block page: what `write`
// and `edit` do for a small change to a long page.
func BenchmarkReplaceOneBlock(b *testing.B) {
	for _, n := range []int{1000, 4000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			d := NewDoc()
			tx := d.Begin("a")
			target := page(n)
			tx.Replace(target)
			tx.Commit()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				target[n/2] = &Block{Type: TypeParagraph, Text: fmt.Sprintf("edited %d", i)}
				tx := d.Begin("a")
				tx.Replace(target)
				if tx.Commit() == nil {
					b.Fatal("no change")
				}
			}
		})
	}
}

// BenchmarkReplaceNewPage fills an empty page with n blocks (pasting a
// large document).
func BenchmarkReplaceNewPage(b *testing.B) {
	for _, n := range []int{9000, 36000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			target := page(n)
			for i := 0; i < b.N; i++ {
				d := NewDoc()
				tx := d.Begin("a")
				tx.Replace(target)
				tx.Commit()
			}
		})
	}
}
