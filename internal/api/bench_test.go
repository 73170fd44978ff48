package api

import (
	"fmt"
	"strings"
	"testing"
)

// pageOf is a page of n paragraphs.
func pageOf(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Paragraph %d of the long page, with some words in it.\n\n", i)
	}
	return b.String()
}

// The editor loading a page (what a first paint waits for, and what the
// other side loads on every remote change).
func BenchmarkDocGet(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("blocks=%d", n), func(b *testing.B) {
			e, id := onePage(b, "Long", pageOf(n))
			h := Handler(e, nil)
			path := "/v1/objects/" + id.String() + "/doc"
			for b.Loop() {
				call[Doc](b, h, "GET", path, nil, 200)
			}
		})
	}
}

// One keystroke as the editor sends it: the whole block tree, one block's
// text one character longer.
func BenchmarkDocEditKeystroke(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("blocks=%d", n), func(b *testing.B) {
			e, id := onePage(b, "Long", pageOf(n))
			h := Handler(e, nil)
			path := "/v1/objects/" + id.String() + "/doc"
			doc := call[Doc](b, h, "GET", path, nil, 200)
			i := 0
			for b.Loop() {
				doc.Blocks[0].Text += "x"
				i++
				ans := call[DocEdited](b, h, "POST", path, DocEdit{Base: doc.Heads, Blocks: doc.Blocks, EditID: fmt.Sprint(i)}, 200)
				doc.Heads = ans.Heads
			}
		})
	}
}
