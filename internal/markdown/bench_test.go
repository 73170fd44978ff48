package markdown

import (
	"strings"
	"testing"
)

// specText is every example of the CommonMark spec and GFM's extensions
// as one document.
func specText(b *testing.B) string {
	var s strings.Builder
	for _, ex := range loadExamples(b) {
		s.WriteString(ex.Markdown)
		s.WriteString("\n\n")
	}
	return s.String()
}

func BenchmarkParseSpec(b *testing.B) {
	md := specText(b)
	b.SetBytes(int64(len(md)))
	b.ReportAllocs()
	for b.Loop() {
		Parse(md, WithFlavor(Markdown))
	}
}

func BenchmarkRenderSpec(b *testing.B) {
	md := specText(b)
	blocks := Parse(md, WithFlavor(Markdown))
	b.SetBytes(int64(len(md)))
	b.ReportAllocs()
	for b.Loop() {
		Render(blocks, WithFlavor(Markdown))
	}
}
