package markdown

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"

	"mycel/internal/crdt"
)

// Parse reads Markdown into blocks (see the package doc for the mapping).
// Whatever it is given, it returns blocks: what has no block of its own is
// kept as raw source.
func Parse(md string, opts ...Option) []*crdt.Block {
	c := newConfig(opts)
	// Invalid UTF-8 reads as U+FFFD, as text does everywhere else, and so
	// does NUL (CommonMark's rule, applied before parsing so that emphasis
	// next to it reads the same as when the text is read back).
	md = strings.ReplaceAll(strings.ToValidUTF8(md, "\uFFFD"), "\x00", "\uFFFD")
	src := []byte(strings.ReplaceAll(strings.ReplaceAll(md, "\r\n", "\n"), "\r", "\n"))
	doc := parserFor(c.flavor).Parse(text.NewReader(src))
	cv := converter{src: src, cfg: c}
	return cv.blocks(doc)
}

type converter struct {
	src []byte
	cfg config
}

func newBlock(t string) *crdt.Block { return &crdt.Block{Type: t, Attrs: map[string]string{}} }

// blocks converts the block children of n.
func (cv *converter) blocks(n ast.Node) []*crdt.Block {
	var out []*crdt.Block
	var prev ast.Node
	for ch := n.FirstChild(); ch != nil; ch = ch.NextSibling() {
		out = append(out, cv.blocksOf(ch, prev)...)
		prev = ch
	}
	return out
}

var mycelLinkRe = regexp.MustCompile(`^mycel:([0-9a-fA-F]+)$`)

func (cv *converter) block(n ast.Node) *crdt.Block {
	switch x := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		if n.ChildCount() == 0 {
			return nil // what link reference definitions left: kept before it
		}
		if b := cv.alone(n); b != nil {
			return b
		}
		b := newBlock(crdt.TypeParagraph)
		b.Text, b.Marks = cv.inline(n)
		return b
	case *ast.Heading:
		b := newBlock("heading" + strconv.Itoa(x.Level))
		b.Text, b.Marks = cv.inline(n)
		return b
	case *ast.ThematicBreak:
		return newBlock(crdt.TypeDivider)
	case *ast.CodeBlock:
		b := newBlock(crdt.TypeCode)
		b.Text = codeText(x.Lines(), cv.src)
		return b
	case *ast.FencedCodeBlock:
		b := newBlock(crdt.TypeCode)
		if x.Info != nil {
			if info := unescape(string(x.Info.Value(cv.src))); info != "" {
				b.Attrs["language"] = info
			}
		}
		b.Text = codeText(x.Lines(), cv.src)
		if b.Attrs["language"] == "math" {
			// GitHub's math block, and what Render writes for TeX that a
			// $$ block cannot hold (a line ending in $$).
			b.Type = crdt.TypeMath
			delete(b.Attrs, "language")
		}
		return b
	case *ast.HTMLBlock:
		b := newBlock(crdt.TypeRaw)
		var s strings.Builder
		for i := 0; i < x.Lines().Len(); i++ {
			s.Write(segValue(x.Lines().At(i), cv.src))
		}
		if x.HasClosure() {
			s.Write(x.ClosureLine.Value(cv.src))
		}
		b.Text = strings.TrimSuffix(s.String(), "\n")
		return b
	case *ast.Blockquote:
		return cv.quote(x)
	case *east.Table:
		return cv.table(x)
	case *mathBlock:
		b := newBlock(crdt.TypeMath)
		b.Text = x.tex
		return b
	case *rawBlock:
		b := newBlock(crdt.TypeRaw)
		b.Text = x.source
		return b
	case *commentBlock:
		b := newBlock(crdt.TypeRaw)
		b.Text = x.source
		return b
	}
	// A kind this version does not know: its text, so nothing is lost.
	b := newBlock(crdt.TypeRaw)
	b.Text = strings.TrimSuffix(string(n.Lines().Value(cv.src)), "\n")
	return b
}

// alone turns a paragraph that is only an embed, or only a link to a mycel
// object, into that block.
func (cv *converter) alone(n ast.Node) *crdt.Block {
	ch := n.FirstChild()
	if ch == nil || ch.NextSibling() != nil {
		return nil
	}
	switch x := ch.(type) {
	case *wikiNode:
		if !x.embed {
			return nil
		}
		b := newBlock(crdt.TypeEmbed)
		b.Attrs["target"] = x.target
		if x.alias != "" {
			b.Attrs["size"] = x.alias
		}
		return b
	case *ast.Link:
		m := mycelLinkRe.FindStringSubmatch(string(x.Destination))
		if m == nil || x.Title != nil {
			return nil
		}
		t, marks := cv.inline(x)
		if len(marks) > 0 {
			return nil
		}
		b := newBlock(crdt.TypeLink)
		b.Attrs["target"] = strings.ToLower(m[1])
		b.Text = strings.ReplaceAll(t, "\n", " ") // a link's title is one line, as Render writes it
		return b
	}
	return nil
}

// codeText is a code block's lines, byte-exact, without the last newline.
func codeText(lines *text.Segments, src []byte) string {
	var s strings.Builder
	for i := 0; i < lines.Len(); i++ {
		s.Write(segValue(lines.At(i), src))
	}
	return strings.TrimSuffix(s.String(), "\n")
}

var calloutRe = regexp.MustCompile(`^\[!([^\]\s]+)\]([+-]?)[ \t]*`)

func (cv *converter) quote(q *ast.Blockquote) *crdt.Block {
	if cv.cfg.flavor == Obsidian {
		if p, ok := q.FirstChild().(*ast.Paragraph); ok {
			t, marks := cv.inline(p)
			escaped := p.Lines().Len() > 0 && bytes.HasPrefix(bytes.TrimLeft(segValue(p.Lines().At(0), cv.src), " \t"), []byte(`\`))
			if m := calloutRe.FindStringSubmatch(t); m != nil && !markedAt(marks, 0) && !escaped {
				b := newBlock(crdt.TypeCallout)
				b.Attrs["kind"] = m[1]
				if m[2] != "" {
					b.Attrs["fold"] = m[2]
				}
				start := len([]rune(m[0]))
				end, rest := len([]rune(t)), -1
				if i := strings.IndexByte(t, '\n'); i >= 0 {
					end = len([]rune(t[:i]))
					rest = end + 1
				}
				b.Text, b.Marks = slice(t, marks, start, end)
				if rest >= 0 {
					body := newBlock(crdt.TypeParagraph)
					body.Text, body.Marks = slice(t, marks, rest, len([]rune(t)))
					b.Children = append(b.Children, body)
				}
				for ch := p.NextSibling(); ch != nil; ch = ch.NextSibling() {
					b.Children = append(b.Children, cv.blocksOf(ch, ch.PreviousSibling())...)
				}
				return b
			}
		}
	}
	b := newBlock(crdt.TypeQuote)
	if p, ok := q.FirstChild().(*ast.Paragraph); ok && p.NextSibling() == nil && cv.fileRefs(p) == nil && !cv.endsInFiles(p) {
		if one := cv.block(p); one != nil && one.Type == crdt.TypeParagraph {
			b.Text, b.Marks = one.Text, one.Marks
			return b
		}
	}
	b.Children = cv.blocks(q)
	return b
}

// blocksOf converts one child node (a list gives its items).
func (cv *converter) blocksOf(n, prev ast.Node) []*crdt.Block {
	if l, ok := n.(*ast.List); ok {
		return cv.list(l, prev)
	}
	if n.Kind() == ast.KindParagraph {
		if fs := cv.fileRefs(n); fs != nil {
			return fs
		}
		if t, marks, fs, ok := cv.trailingFiles(n); ok {
			b := newBlock(crdt.TypeParagraph)
			b.Text, b.Marks = t, marks
			return append([]*crdt.Block{b}, fs...)
		}
	}
	if b := cv.block(n); b != nil {
		return []*crdt.Block{b}
	}
	return nil
}

// markedAt reports whether a raw or code mark covers character i.
func markedAt(marks []crdt.Mark, i int) bool {
	for _, m := range marks {
		if m.Start <= i && i < m.End && (m.Type == MarkRaw || m.Type == crdt.MarkCode) {
			return true
		}
	}
	return false
}

// list converts a list's items; prev is the node before the list.
func (cv *converter) list(l *ast.List, prev ast.Node) []*crdt.Block {
	var out []*crdt.Block
	first := true
	for it := l.FirstChild(); it != nil; it = it.NextSibling() {
		b := newBlock(crdt.TypeBulleted)
		if l.IsOrdered() {
			b.Type = crdt.TypeNumbered
			if first {
				b.Attrs["start"] = strconv.Itoa(l.Start)
			}
		} else if first {
			if p, ok := prev.(*ast.List); ok && !p.IsOrdered() {
				b.Attrs["break"] = "true"
			}
		}
		if !l.IsTight {
			b.Attrs["loose"] = "true"
		}
		first = false
		ch := it.FirstChild()
		if ch != nil && (ch.Kind() == ast.KindParagraph || ch.Kind() == ast.KindTextBlock) && ch.ChildCount() > 0 {
			if box, ok := ch.FirstChild().(*east.TaskCheckBox); ok && !l.IsOrdered() {
				b.Type = crdt.TypeTodo
				b.Attrs["checked"] = strconv.FormatBool(box.IsChecked)
			}
			if fs := cv.fileRefs(ch); fs != nil && b.Type != crdt.TypeTodo {
				// An item of only files is an empty item holding them, as
				// Render writes one (its first child on the marker's line).
				b.Children = fs
			} else if t, marks, fs, ok := cv.trailingFiles(ch); ok {
				b.Text, b.Marks = t, marks
				b.Children = fs
			} else {
				b.Text, b.Marks = cv.inline(ch)
			}
			ch = ch.NextSibling()
		}
		var p ast.Node
		if ch != nil {
			p = ch.PreviousSibling()
		}
		for ; ch != nil; ch = ch.NextSibling() {
			b.Children = append(b.Children, cv.blocksOf(ch, p)...)
			p = ch
		}
		out = append(out, b)
	}
	return out
}

func (cv *converter) table(t *east.Table) *crdt.Block {
	b := newBlock(crdt.TypeTable)
	for _, a := range t.Alignments {
		col := newBlock(crdt.TypeColumn)
		switch a {
		case east.AlignLeft:
			col.Attrs["align"] = "left"
		case east.AlignRight:
			col.Attrs["align"] = "right"
		case east.AlignCenter:
			col.Attrs["align"] = "center"
		}
		b.Children = append(b.Children, col)
	}
	for r := t.FirstChild(); r != nil; r = r.NextSibling() {
		row := newBlock(crdt.TypeRow)
		i := 0
		for c := r.FirstChild(); c != nil; c = c.NextSibling() {
			cell := newBlock(crdt.TypeCell)
			cell.Attrs[crdt.AttrColumn] = "#" + strconv.Itoa(i)
			cell.Text, cell.Marks = cv.inline(c)
			row.Children = append(row.Children, cell)
			i++
		}
		b.Children = append(b.Children, row)
	}
	return b
}
