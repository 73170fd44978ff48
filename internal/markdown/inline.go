package markdown

import (
	"bufio"
	"bytes"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/renderer/html"

	"mycel/internal/crdt"
)

// inliner collects a block's text and marks from goldmark's inline nodes.
type inliner struct {
	cv    *converter
	b     strings.Builder
	n     int // characters written
	marks []crdt.Mark
}

// inline converts the inline children of n to text and marks.
func (cv *converter) inline(n ast.Node) (string, []crdt.Mark) {
	in := inliner{cv: cv}
	in.children(n)
	return in.b.String(), normMarks(in.marks)
}

func (in *inliner) write(s string) {
	in.b.WriteString(s)
	in.n += utf8.RuneCountInString(s)
}

func (in *inliner) mark(start int, typ, value string) {
	in.marks = append(in.marks, crdt.Mark{Start: start, End: in.n, Type: typ, Value: value})
}

// raw writes s under a raw mark.
func (in *inliner) raw(s string) {
	start := in.n
	in.write(s)
	in.mark(start, MarkRaw, "")
}

func (in *inliner) children(n ast.Node) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		in.node(c)
	}
}

func (in *inliner) node(n ast.Node) {
	src := in.cv.src
	start := in.n
	switch x := n.(type) {
	case *ast.Text:
		v := x.Segment.Value(src)
		switch u := unescape(string(v)); {
		case x.IsRaw():
			in.write(string(v))
		case strings.ContainsAny(u, "\r\n"):
			in.breakRefs(string(v))
		default:
			in.write(u)
		}
		_, rawNext := x.NextSibling().(*ast.RawHTML)
		_, rawPrev := x.PreviousSibling().(*ast.RawHTML)
		switch {
		case x.HardLineBreak():
			in.write("\n")
		case x.SoftLineBreak() && (rawNext || rawPrev && len(v) == 0):
			in.raw("\n") // raw HTML may care (inside <pre>, say)
		case x.SoftLineBreak():
			if in.cv.cfg.flavor == Obsidian {
				in.write("\n")
			} else {
				in.write(" ")
			}
		}
	case *ast.String:
		switch {
		case x.IsCode():
			in.write(string(x.Value))
			in.mark(start, crdt.MarkCode, "")
		case x.IsRaw():
			in.raw(string(x.Value))
		default:
			in.write(unescape(string(x.Value)))
		}
	case *ast.CodeSpan:
		var s strings.Builder
		for c := x.FirstChild(); c != nil; c = c.NextSibling() {
			var v []byte
			switch t := c.(type) {
			case *ast.Text:
				v = t.Segment.Value(src)
			case *ast.String:
				v = t.Value
			}
			if bytes.HasSuffix(v, []byte("\n")) {
				v = append(v[:len(v)-1:len(v)-1], ' ')
			}
			s.Write(v)
		}
		in.write(s.String())
		in.mark(start, crdt.MarkCode, "")
	case *ast.Emphasis:
		if nestsItself(x) {
			// Marks of one type do not nest: the source is kept.
			d, inner := strings.Repeat("*", x.Level), in.source(x)
			if x.Level == 1 && (strings.HasPrefix(inner, "*") || strings.HasSuffix(inner, "*")) {
				d = "_" // *_x_* must not read as **x**
			}
			in.raw(d + inner + d)
			return
		}
		in.children(x)
		if x.Level >= 2 {
			in.mark(start, crdt.MarkBold, "")
		} else {
			in.mark(start, crdt.MarkItalic, "")
		}
	case *east.Strikethrough:
		in.children(x)
		in.mark(start, crdt.MarkStrike, "")
	case *highlight:
		in.children(x)
		in.mark(start, crdt.MarkHighlight, "")
	case *ast.Link:
		if x.Title != nil || !x.HasChildren() {
			in.raw("[" + in.source(x) + "](" + rawDest(x.Destination) + rawTitle(x.Title) + ")")
			return
		}
		in.children(x)
		in.mark(start, crdt.MarkLink, unescape(string(x.Destination)))
	case *ast.AutoLink:
		in.write(string(x.Label(src)))
		url := string(x.URL(src))
		if x.AutoLinkType == ast.AutoLinkEmail && !strings.HasPrefix(strings.ToLower(url), "mailto:") {
			url = "mailto:" + url
		}
		in.mark(start, crdt.MarkLink, url)
	case *ast.Image:
		in.raw("![" + in.source(x) + "](" + rawDest(x.Destination) + rawTitle(x.Title) + ")")
	case *ast.RawHTML:
		var s strings.Builder
		for i := 0; i < x.Segments.Len(); i++ {
			s.Write(segValue(x.Segments.At(i), src))
		}
		in.raw(s.String())
	case *east.TaskCheckBox:
		if l, ok := n.Parent().Parent().Parent().(*ast.List); ok && l.IsOrdered() {
			in.raw(map[bool]string{true: "[x] ", false: "[ ] "}[x.IsChecked])
		}
		// In a bulleted list the box is the block's type.
	case *wikiNode:
		if x.embed {
			in.raw(x.source)
			return
		}
		shown := x.target
		if x.alias != "" {
			shown = x.alias
		}
		in.write(shown)
		in.mark(start, crdt.MarkMention, x.target)
	case *rawInline:
		in.raw(x.source)
	default:
		in.children(n)
	}
}

var refRe = regexp.MustCompile(`&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});`)

// breakRefs writes source text whose character references give line
// breaks: those references are kept verbatim (raw), as they are not line
// breaks of the text.
func (in *inliner) breakRefs(v string) {
	last := 0
	for _, m := range refRe.FindAllStringIndex(v, -1) {
		bs := 0
		for k := m[0] - 1; k >= 0 && v[k] == '\\'; k-- {
			bs++
		}
		if bs%2 == 1 || !strings.ContainsAny(unescape(v[m[0]:m[1]]), "\r\n") {
			continue
		}
		in.write(unescape(v[last:m[0]]))
		in.raw(v[m[0]:m[1]])
		last = m[1]
	}
	in.write(unescape(v[last:]))
}

// source writes n's children back as Markdown, for what is kept verbatim
// (the label of an image or of a link with a title).
func (in *inliner) source(n ast.Node) string {
	sub := inliner{cv: in.cv}
	sub.children(n)
	r := inlineRenderer{cfg: in.cv.cfg}
	return r.render(sub.b.String(), normMarks(sub.marks), ctxLink)
}

// nestsItself reports whether emphasis e holds emphasis of its own level.
func nestsItself(e *ast.Emphasis) bool {
	found := false
	ast.Walk(e, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if x, ok := n.(*ast.Emphasis); ok && entering && n != e && (x.Level >= 2) == (e.Level >= 2) {
			found = true
			return ast.WalkStop, nil
		}
		return ast.WalkContinue, nil
	})
	return found
}

// rawDest writes a destination as it was given (goldmark keeps its
// escapes), in <…> when it holds a space or is empty.
func rawDest(d []byte) string {
	if len(d) == 0 || bytes.ContainsAny(d, " \t\n<>") {
		return "<" + string(d) + ">"
	}
	return string(d)
}

// rawTitle writes a title as it was given, in quotes it does not hold.
func rawTitle(t []byte) string {
	if t == nil {
		return ""
	}
	s := string(t)
	switch {
	case !hasUnescaped(s, '"'):
		return ` "` + s + `"`
	case !hasUnescaped(s, '\''):
		return ` '` + s + `'`
	}
	return ` "` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func hasUnescaped(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		} else if s[i] == c {
			return true
		}
	}
	return false
}

// unescape resolves backslash escapes and character references as
// goldmark's HTML writer does, giving the text a reader sees.
func unescape(s string) string {
	if !strings.ContainsAny(s, "\\&\x00") {
		return s
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	html.DefaultWriter.Write(w, []byte(s))
	w.Flush()
	return htmlUnescaper.Replace(buf.String())
}

var htmlUnescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&amp;", "&")

// normMarks sorts marks (Start, End, Type, Value), drops empty ones and
// merges overlapping or touching marks of one type and value.
func normMarks(ms []crdt.Mark) []crdt.Mark {
	if len(ms) == 0 {
		return nil
	}
	sort.SliceStable(ms, func(i, j int) bool { return markLess(ms[i], ms[j]) })
	var out []crdt.Mark
	for _, m := range ms {
		if m.End <= m.Start {
			continue
		}
		merged := false
		for k := range out {
			o := &out[k]
			if o.Type == m.Type && o.Value == m.Value && m.Start <= o.End && m.Type != MarkRaw && m.Type != crdt.MarkCode {
				if m.End > o.End {
					o.End = m.End
				}
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return markLess(out[i], out[j]) })
	return out
}

func markLess(a, b crdt.Mark) bool {
	if a.Start != b.Start {
		return a.Start < b.Start
	}
	if a.End != b.End {
		return a.End < b.End
	}
	if a.Type != b.Type {
		return a.Type < b.Type
	}
	return a.Value < b.Value
}

// slice cuts text and marks to the characters [from, to).
func slice(t string, marks []crdt.Mark, from, to int) (string, []crdt.Mark) {
	r := []rune(t)
	var out []crdt.Mark
	for _, m := range marks {
		s, e := max(m.Start, from), min(m.End, to)
		if s < e {
			m.Start, m.End = s-from, e-from
			out = append(out, m)
		}
	}
	return string(r[from:to]), out
}
