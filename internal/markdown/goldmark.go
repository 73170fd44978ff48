package markdown

import (
	"bytes"
	"regexp"
	"sync"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// The goldmark parsers, one per flavor, built once: a goldmark parser
// keeps no state between documents, so one serves every caller.
var (
	parsersOnce sync.Once
	parsers     [2]parser.Parser
)

func parserFor(f Flavor) parser.Parser {
	parsersOnce.Do(func() {
		parsers[Markdown] = newParser(Markdown)
		parsers[Obsidian] = newParser(Obsidian)
	})
	return parsers[f]
}

// newParser is CommonMark with GFM's tables, strikethrough, task lists and
// autolinks, our $$ math blocks, and link reference definitions kept as raw
// blocks where they stand (goldmark drops them from the tree). Obsidian adds
// wiki links and embeds, ==highlight==, %% comments %% and footnotes kept
// verbatim.
func newParser(f Flavor) parser.Parser {
	p := parser.NewParser(
		parser.WithBlockParsers(append(parser.DefaultBlockParsers(), util.Prioritized(mathParser{}, 750))...),
		parser.WithInlineParsers(parser.DefaultInlineParsers()...),
		parser.WithParagraphTransformers(util.Prioritized(keptReferences{}, 100)),
	)
	if f == Obsidian {
		p.AddOptions(
			parser.WithBlockParsers(util.Prioritized(commentBlockParser{}, 760)),
			parser.WithInlineParsers(
				util.Prioritized(wikiParser{}, 190),
				util.Prioritized(footnoteRefParser{}, 191),
				util.Prioritized(commentInlineParser{}, 192),
				util.Prioritized(highlightParser{}, 500),
			),
			parser.WithParagraphTransformers(util.Prioritized(footnoteDefs{}, 50)),
		)
	}
	m := goldmark.New(goldmark.WithParser(p), goldmark.WithExtensions(extension.GFM))
	return m.Parser()
}

// rawBlock is source kept verbatim: link reference definitions, footnote
// definitions, comments.
type rawBlock struct {
	ast.BaseBlock
	source string
}

var kindRawBlock = ast.NewNodeKind("MycelRawBlock")

func (n *rawBlock) Kind() ast.NodeKind         { return kindRawBlock }
func (n *rawBlock) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }
func (n *rawBlock) IsRaw() bool                { return true }
func newRawBlock(lines *text.Segments, src []byte) *rawBlock {
	var b bytes.Buffer
	for i := 0; i < lines.Len(); i++ {
		b.Write(segValue(lines.At(i), src))
	}
	return &rawBlock{source: string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))}
}

// keptReferences runs goldmark's link reference definition transformer
// and puts what it took out of the paragraph back as a raw block, so the
// definitions are written again where they were.
type keptReferences struct{}

func (keptReferences) Transform(node *ast.Paragraph, reader text.Reader, pc parser.Context) {
	before := node.Lines()
	saved := text.NewSegments()
	saved.AppendAll(before.Sliced(0, before.Len()))
	parent, next := node.Parent(), node.NextSibling()
	parser.LinkReferenceParagraphTransformer.Transform(node, reader, pc)
	left := 0
	if node.Parent() == parent { // not replaced: what stays is a suffix
		left = node.Lines().Len()
	}
	taken := saved.Len() - left
	if taken <= 0 {
		return
	}
	raw := text.NewSegments()
	raw.AppendAll(saved.Sliced(0, taken))
	rb := newRawBlock(raw, reader.Source())
	if node.Parent() == parent {
		parent.InsertBefore(parent, node, rb)
	} else if next != nil {
		parent.InsertBefore(parent, next, rb)
	} else {
		parent.AppendChild(parent, rb)
	}
}

// footnoteDefs keeps an Obsidian footnote definition ("[^1]: text", and
// the lines that follow it in its paragraph) as a raw block.
type footnoteDefs struct{}

var footnoteDefRe = regexp.MustCompile(`^ {0,3}\[\^[^\]\s]+\]:`)

func (footnoteDefs) Transform(node *ast.Paragraph, reader text.Reader, pc parser.Context) {
	lines := node.Lines()
	if lines.Len() == 0 || !footnoteDefRe.Match(segValue(lines.At(0), reader.Source())) {
		return
	}
	node.Parent().ReplaceChild(node.Parent(), node, newRawBlock(lines, reader.Source()))
}

// mathBlock is a $$ … $$ block; its lines are the TeX.
type mathBlock struct {
	ast.BaseBlock
	tex string
}

var kindMath = ast.NewNodeKind("MycelMath")

func (n *mathBlock) Kind() ast.NodeKind         { return kindMath }
func (n *mathBlock) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }
func (n *mathBlock) IsRaw() bool                { return true }

// mathParser reads "$$" on a line of its own (or "$$ TeX $$" on one line)
// up to the line that ends with "$$".
type mathParser struct{}

func (mathParser) Trigger() []byte { return []byte{'$'} }

func (mathParser) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	line, _ := reader.PeekLine()
	w, pos := util.IndentWidth(line, reader.LineOffset())
	if w > 3 || !bytes.HasPrefix(line[pos:], []byte("$$")) {
		return nil, parser.NoChildren
	}
	rest := bytes.TrimSpace(line[pos+2:])
	n := &mathBlock{}
	reader.AdvanceToEOL()
	if len(rest) >= 2 && bytes.HasSuffix(rest, []byte("$$")) {
		n.tex = string(bytes.TrimSpace(rest[:len(rest)-2]))
		n.SetLines(text.NewSegments()) // closed on its line
		return n, parser.Close
	}
	if len(rest) > 0 {
		n.tex = string(rest) + "\n"
	}
	return n, parser.NoChildren
}

func (mathParser) Continue(node ast.Node, reader text.Reader, pc parser.Context) parser.State {
	n := node.(*mathBlock)
	line, _ := reader.PeekLine()
	if line == nil {
		return parser.Close
	}
	reader.AdvanceToEOL()
	t := bytes.TrimRight(line, " \t\r\n")
	if bytes.HasSuffix(t, []byte("$$")) {
		n.tex += string(t[:len(t)-2])
		return parser.Close
	}
	n.tex += string(bytes.TrimSuffix(line, []byte("\n"))) + "\n"
	return parser.Continue | parser.NoChildren
}

func (mathParser) Close(node ast.Node, reader text.Reader, pc parser.Context) {
	n := node.(*mathBlock)
	n.tex = string(bytes.TrimSuffix([]byte(n.tex), []byte("\n")))
}
func (mathParser) CanInterruptParagraph() bool { return false }
func (mathParser) CanAcceptIndentedLine() bool { return false }

// commentBlockParser keeps an Obsidian comment that starts a line
// ("%% …" up to the "%%" that closes it, blank lines and all) as a raw
// block.
type commentBlockParser struct{}

type commentBlock struct {
	rawBlock
	closed bool
}

func (commentBlockParser) Trigger() []byte { return []byte{'%'} }

func (commentBlockParser) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	line, _ := reader.PeekLine()
	w, pos := util.IndentWidth(line, reader.LineOffset())
	if w > 3 || !bytes.HasPrefix(line[pos:], []byte("%%")) {
		return nil, parser.NoChildren
	}
	n := &commentBlock{}
	n.source = string(line)
	reader.AdvanceToEOL()
	if i := bytes.Index(line[pos+2:], []byte("%%")); i >= 0 {
		if len(bytes.TrimSpace(line[pos+2+i+2:])) != 0 {
			return nil, parser.NoChildren // text goes on after it: an inline comment
		}
		n.closed = true
		return n, parser.Close
	}
	return n, parser.NoChildren
}

func (commentBlockParser) Continue(node ast.Node, reader text.Reader, pc parser.Context) parser.State {
	n := node.(*commentBlock)
	if n.closed {
		return parser.Close
	}
	line, _ := reader.PeekLine()
	if line == nil {
		return parser.Close
	}
	reader.AdvanceToEOL()
	n.source += string(line)
	if bytes.Contains(line, []byte("%%")) {
		n.closed = true
		return parser.Close
	}
	return parser.Continue | parser.NoChildren
}

func (commentBlockParser) Close(node ast.Node, reader text.Reader, pc parser.Context) {
	n := node.(*commentBlock)
	n.source = string(bytes.TrimRight([]byte(n.source), "\n"))
}
func (commentBlockParser) CanInterruptParagraph() bool { return false }
func (commentBlockParser) CanAcceptIndentedLine() bool { return false }

// rawInline is inline source kept verbatim: footnote references,
// comments, embeds inside text.
type rawInline struct {
	ast.BaseInline
	source string
}

var kindRawInline = ast.NewNodeKind("MycelRawInline")

func (n *rawInline) Kind() ast.NodeKind         { return kindRawInline }
func (n *rawInline) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }

// wikiNode is [[target]], [[target|alias]], or an embed ![[target|size]].
type wikiNode struct {
	ast.BaseInline
	target, alias string
	embed         bool
	source        string
}

var kindWiki = ast.NewNodeKind("MycelWiki")

func (n *wikiNode) Kind() ast.NodeKind         { return kindWiki }
func (n *wikiNode) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }

type wikiParser struct{}

func (wikiParser) Trigger() []byte { return []byte{'[', '!'} }

func (wikiParser) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	line, _ := block.PeekLine()
	embed := len(line) > 0 && line[0] == '!'
	start := 2
	if embed {
		start = 3
	}
	if len(line) < start+2 || !bytes.HasPrefix(line[start-2:], []byte("[[")) {
		return nil
	}
	end := bytes.Index(line[start:], []byte("]]"))
	if end <= 0 {
		return nil
	}
	inner := line[start : start+end]
	if bytes.ContainsAny(inner, "[]\n") {
		return nil
	}
	n := &wikiNode{embed: embed, source: string(line[:start+end+2])}
	target, alias := inner, []byte(nil)
	// In a table a pipe is written \| so that it does not end the cell.
	if i := bytes.Index(inner, []byte(`\|`)); i >= 0 {
		target, alias = inner[:i], inner[i+2:]
	} else if i := bytes.IndexByte(inner, '|'); i >= 0 {
		target, alias = inner[:i], inner[i+1:]
	}
	n.target = string(target)
	if alias != nil {
		n.alias = string(alias)
	}
	block.Advance(start + end + 2)
	return n
}

// footnoteRefParser keeps [^label] verbatim.
type footnoteRefParser struct{}

var footnoteRefRe = regexp.MustCompile(`^\[\^[^\]\s]+\]`)

func (footnoteRefParser) Trigger() []byte { return []byte{'['} }

func (footnoteRefParser) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	line, _ := block.PeekLine()
	m := footnoteRefRe.Find(line)
	if m == nil {
		return nil
	}
	block.Advance(len(m))
	return &rawInline{source: string(m)}
}

// commentInlineParser keeps %% … %% on one line verbatim.
type commentInlineParser struct{}

func (commentInlineParser) Trigger() []byte { return []byte{'%'} }

func (commentInlineParser) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	line, _ := block.PeekLine()
	if !bytes.HasPrefix(line, []byte("%%")) {
		return nil
	}
	end := bytes.Index(line[2:], []byte("%%"))
	if end < 0 {
		return nil
	}
	block.Advance(end + 4)
	return &rawInline{source: string(line[:end+4])}
}

// highlight is ==text==.
type highlight struct{ ast.BaseInline }

var kindHighlight = ast.NewNodeKind("MycelHighlight")

func (n *highlight) Kind() ast.NodeKind         { return kindHighlight }
func (n *highlight) Dump(src []byte, level int) { ast.DumpHelper(n, src, level, nil, nil) }

type highlightDelims struct{}

func (highlightDelims) IsDelimiter(b byte) bool { return b == '=' }
func (highlightDelims) CanOpenCloser(opener, closer *parser.Delimiter) bool {
	return opener.Char == closer.Char
}
func (highlightDelims) OnMatch(consumes int) ast.Node { return &highlight{} }

type highlightParser struct{}

func (highlightParser) Trigger() []byte { return []byte{'='} }

func (highlightParser) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	before := block.PrecendingCharacter()
	line, segment := block.PeekLine()
	node := parser.ScanDelimiter(line, before, 2, highlightDelims{})
	if node == nil || node.OriginalLength != 2 || before == '=' {
		return nil
	}
	node.Segment = segment.WithStop(segment.Start + node.OriginalLength)
	block.Advance(node.OriginalLength)
	pc.PushDelimiter(node)
	return node
}

// segValue is a segment's text (Value wants an addressable segment).
func segValue(s text.Segment, src []byte) []byte { return s.Value(src) }
