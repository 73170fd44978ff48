package markdown

import (
	"regexp"
	"sort"
	"strings"
	"unicode"

	"mycel/internal/crdt"
)

// Where inline text is written: escaping depends on it.
type inlineCtx int

const (
	ctxText inlineCtx = iota // a paragraph, heading, list item, quote
	ctxCell                  // a table cell: | is escaped, line breaks are spaces
	ctxLink                  // a link's text: [ and ] are escaped
)

// inlineRenderer writes text with marks as Markdown.
type inlineRenderer struct {
	cfg  config
	refs map[string]bool // link reference labels defined in the document (normalized)
}

// Nesting order of marks over the same characters, outermost first.
var markRank = map[string]int{crdt.MarkLink: 0, crdt.MarkMention: 1, crdt.MarkItalic: 2, crdt.MarkBold: 3,
	crdt.MarkStrike: 4, crdt.MarkHighlight: 5, crdt.MarkCode: 6, MarkRaw: 7}

func atomic(t string) bool { return t == crdt.MarkCode || t == MarkRaw || t == crdt.MarkMention }

// render writes text with marks; lines are joined with "\n" (a line break
// of the text, written as the flavor wants it).
func (r *inlineRenderer) render(text string, marks []crdt.Mark, ctx inlineCtx) string {
	lines, _ := r.lines(text, marks, ctx)
	return strings.Join(lines, "\n")
}

// lines writes text with marks, one string per output line, and for each
// whether it starts with text (which a line-start escape may touch).
func (r *inlineRenderer) lines(text string, marks []crdt.Mark, ctx inlineCtx) ([]string, []bool) {
	rs := []rune(text)
	marks = r.clipMarks(marks, rs)
	w := lineWriter{}
	bounds := map[int]bool{}
	for _, m := range marks {
		bounds[m.Start], bounds[m.End] = true, true
	}
	esc := r.escapes(rs, bounds, marks, ctx)
	var stack []crdt.Mark
	closeTo := func(i int) {
		// Close every mark ending at i, and those above it (reopened after).
		var reopen []crdt.Mark
		for k := len(stack) - 1; k >= 0; k-- {
			if stack[k].End > i {
				continue
			}
			for len(stack) > k {
				top := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				w.other(r.closer(top, rs))
				if top.End > i {
					reopen = append(reopen, top)
				}
			}
		}
		for k := len(reopen) - 1; k >= 0; k-- {
			m := reopen[k]
			m.Start = i
			w.other(r.opener(m))
			stack = append(stack, m)
		}
	}
	for i := 0; i <= len(rs); {
		closeTo(i)
		if i == len(rs) {
			break
		}
		// Open the marks starting here, longest (then outermost) first.
		var starting []crdt.Mark
		for _, m := range marks {
			if m.Start == i {
				starting = append(starting, m)
			}
		}
		sort.SliceStable(starting, func(a, b int) bool {
			if starting[a].End != starting[b].End {
				return starting[a].End > starting[b].End
			}
			return markRank[starting[a].Type] < markRank[starting[b].Type]
		})
		// An atom (code, raw, mention, autolink) is written whole, inside
		// the marks that start with it and reach as far.
		var atom *crdt.Mark
		for k, m := range starting {
			if r.isAtom(m, rs) {
				atom = &starting[k]
				break
			}
		}
		for _, m := range starting {
			if r.isAtom(m, rs) || atom != nil && m.End < atom.End {
				continue
			}
			w.other(r.opener(m))
			stack = append(stack, m)
		}
		if atom != nil {
			if auto, ok := autolink(*atom, rs); ok {
				w.other(auto)
			} else {
				w.other(r.atom(*atom, rs, ctx))
			}
			i = atom.End
			continue
		}
		r.char(&w, rs, i, esc[i], ctx)
		i++
	}
	for len(stack) > 0 { // cannot happen: every mark ends by len(rs)
		w.other(r.closer(stack[len(stack)-1], rs))
		stack = stack[:len(stack)-1]
	}
	w.finish()
	return w.lines, w.textStart
}

var (
	schemeRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\x00-\x20<>]*$`)
	emailRe  = regexp.MustCompile(`^[a-zA-Z0-9.!#$%&'*+/=?^_{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)
	wwwRe    = regexp.MustCompile(`^www\.[^\s<]*$`)
)

// autolink writes a link whose text is its URL as an autolink, <url>
// (or bare for www. links, which GFM links by itself): nothing in it is
// markup then.
func autolink(m crdt.Mark, rs []rune) (string, bool) {
	if m.Type != crdt.MarkLink {
		return "", false
	}
	t := string(rs[m.Start:m.End])
	switch {
	case t == m.Value && schemeRe.MatchString(t):
		return "<" + t + ">", true
	case "mailto:"+t == m.Value && emailRe.MatchString(t):
		return "<" + t + ">", true
	case "http://"+t == m.Value && wwwRe.MatchString(t):
		return t, true
	}
	return "", false
}

// clipMarks keeps marks within the text, and out of atomic ones (code,
// raw, mentions) that they only partly overlap.
func (r *inlineRenderer) clipMarks(marks []crdt.Mark, rs []rune) []crdt.Mark {
	n := len(rs)
	var atoms []crdt.Mark
	for _, m := range marks {
		if r.isAtom(m, rs) {
			atoms = append(atoms, m)
		}
	}
	var out []crdt.Mark
	lastAtomEnd := 0
	for _, m := range marks {
		m.Start, m.End = max(0, m.Start), min(n, m.End)
		if m.Start < m.End && r.isAtom(m, rs) {
			if m.Start < lastAtomEnd { // atoms do not overlap
				m.Start = lastAtomEnd
			}
			if m.Start < m.End {
				lastAtomEnd = m.End
			}
		} else {
			for _, a := range atoms {
				if a.Start < m.Start && m.Start < a.End {
					m.Start = a.End
				}
				if a.Start < m.End && m.End < a.End {
					m.End = a.Start
				}
			}
		}
		if m.Start < m.End {
			out = append(out, m)
		}
	}
	return out
}

// isAtom reports whether m is written whole, with no marks inside.
func (r *inlineRenderer) isAtom(m crdt.Mark, rs []rune) bool {
	if atomic(m.Type) {
		return true
	}
	if m.Start < 0 || m.End > len(rs) || m.Start >= m.End {
		return false
	}
	_, ok := autolink(m, rs)
	return ok
}

// lineWriter collects output lines.
type lineWriter struct {
	cur       strings.Builder
	started   bool // something is on the current line
	lines     []string
	textStart []bool
	curText   bool
}

func (w *lineWriter) text(s string) {
	if !w.started {
		w.started, w.curText = true, true
	}
	w.cur.WriteString(s)
}

func (w *lineWriter) other(s string) {
	if s == "" {
		return
	}
	if !w.started {
		w.started, w.curText = true, false
	}
	// Verbatim source may hold line breaks of its own.
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			w.cur.WriteString(s)
			return
		}
		w.cur.WriteString(s[:i])
		w.newline()
		s = s[i+1:]
		if s != "" {
			w.started, w.curText = true, false
		}
	}
}

func (w *lineWriter) newline() {
	w.lines = append(w.lines, w.cur.String())
	w.textStart = append(w.textStart, w.curText)
	w.cur.Reset()
	w.started, w.curText = false, false
}

func (w *lineWriter) finish() { w.newline() }

// lineEmpty reports whether nothing is on the current line yet.
func (w *lineWriter) lineEmpty() bool { return !w.started }

func (r *inlineRenderer) opener(m crdt.Mark) string {
	switch m.Type {
	case crdt.MarkHighlight:
		if r.cfg.flavor == Obsidian {
			return "=="
		}
		return "<mark>"
	case crdt.MarkLink:
		return "[" // a "!" just before is escaped (see escapes)
	}
	return delimiter(m.Type)
}

// delimiter is what opens and closes emphasis of type typ ("" for others).
func delimiter(typ string) string {
	switch typ {
	case crdt.MarkBold:
		return "**"
	case crdt.MarkItalic:
		return "*"
	case crdt.MarkStrike:
		return "~~"
	}
	return ""
}

func (r *inlineRenderer) closer(m crdt.Mark, rs []rune) string {
	switch m.Type {
	case crdt.MarkHighlight:
		if r.cfg.flavor == Obsidian {
			return "=="
		}
		return "</mark>"
	case crdt.MarkLink:
		return "](" + destination(m.Value) + ")"
	}
	return delimiter(m.Type)
}

// atom writes a code span, verbatim source or a mention whole.
func (r *inlineRenderer) atom(m crdt.Mark, rs []rune, ctx inlineCtx) string {
	s := string(rs[m.Start:m.End])
	switch m.Type {
	case MarkRaw:
		return s
	case crdt.MarkCode:
		s = strings.ReplaceAll(s, "\n", " ")
		if ctx == ctxCell {
			s = strings.ReplaceAll(s, "|", `\|`)
		}
		return codeSpan(s)
	case crdt.MarkMention:
		shown := strings.ReplaceAll(s, "\n", " ")
		if r.cfg.flavor == Obsidian {
			target := m.Value
			if r.cfg.links != nil {
				if t, ok := r.cfg.links(m.Value); ok {
					target = t
				}
			}
			sep := "|"
			if ctx == ctxCell {
				sep = `\|`
			}
			if shown == target {
				return "[[" + target + "]]"
			}
			return "[[" + target + sep + shown + "]]"
		}
		sub := inlineRenderer{cfg: r.cfg, refs: r.refs}
		label := sub.render(shown, nil, ctxLink)
		if r.cfg.links != nil {
			if href, ok := r.cfg.links(m.Value); ok {
				return "[" + label + "](" + destination(href) + ")"
			}
		}
		return escapeText(shown) + " (missing)"
	}
	return s
}

// escapeText escapes every character that could be markup: for the few
// places that need no care to be minimal.
func escapeText(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c < 128 && isASCIIPunct(byte(c)) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// codeSpan writes s as a code span: a backtick run longer than any in s,
// with a space inside each end when s starts or ends with a backtick or
// with a space at both ends.
func codeSpan(s string) string {
	n := 1
	for strings.Contains(s, strings.Repeat("`", n)) {
		// need a run length that does not occur exactly
		if !hasRun(s, n) {
			break
		}
		n++
	}
	fence := strings.Repeat("`", n)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") ||
		(len(s) >= 2 && s[0] == ' ' && s[len(s)-1] == ' ' && strings.Trim(s, " ") != "") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// hasRun reports whether s holds a run of exactly n backticks.
func hasRun(s string, n int) bool {
	run := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] == '`' {
			run++
			continue
		}
		if run == n {
			return true
		}
		run = 0
	}
	return false
}

// destination writes a link destination: bare when it can be, else in <…>.
func destination(d string) string {
	var b strings.Builder
	angle := d == "" || strings.ContainsAny(d, " \t\n<>") || !balanced(d)
	for i := 0; i < len(d); i++ {
		c := d[i]
		switch {
		case c == '\\' && (i+1 == len(d) || isASCIIPunct(d[i+1])):
			b.WriteString(`\\`)
		case c == '&' && entityAt(d, i):
			b.WriteString(`\&`)
		case angle && (c == '<' || c == '>'):
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	if angle {
		return "<" + b.String() + ">"
	}
	return b.String()
}

func balanced(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

var entityRe = regexp.MustCompile(`^&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});`)

func entityAt(s string, i int) bool { return entityRe.MatchString(s[i:]) }

func isASCIIPunct(c byte) bool {
	return c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~'
}

// char writes the text character at i.
func (r *inlineRenderer) char(w *lineWriter, rs []rune, i int, esc bool, ctx inlineCtx) {
	c := rs[i]
	if c == '\n' {
		switch {
		case ctx == ctxCell:
			w.text(" ")
			return
		case r.cfg.flavor == Markdown:
			w.other(`\`)
		case w.lineEmpty():
			w.other(`\`) // an empty line would end the paragraph
		}
		w.newline()
		return
	}
	if (c == ' ' || c == '\t') && ctx != ctxLink {
		// Spaces at the start or end of a line would be dropped.
		atEnd := i+1 == len(rs) || rs[i+1] == '\n'
		if w.lineEmpty() || atEnd {
			if c == ' ' {
				w.text("&#32;")
			} else {
				w.text("&#9;")
			}
			return
		}
	}
	if esc && (c == '~' || c == '=') && (i+1 == len(rs) || rs[i+1] != c) {
		// The parser takes no ~~ (==) just after a ~ (=), escaped or
		// not: a character reference is not one.
		w.text(map[rune]string{'~': "&#126;", '=': "&#61;"}[c])
		return
	}
	if esc {
		w.text(`\`)
	}
	w.text(string(c))
}

// escapes decides which characters of the text get a backslash.
func (r *inlineRenderer) escapes(rs []rune, bounds map[int]bool, marks []crdt.Mark, ctx inlineCtx) []bool {
	esc := make([]bool, len(rs)+1)
	// prev and next as the parser sees them: a mark boundary is a
	// delimiter (punctuation), the ends of the text are whitespace.
	kind := func(j int, at int) rune {
		if bounds[at] {
			return '*'
		}
		if j < 0 || j >= len(rs) {
			if ctx == ctxLink {
				return '['
			}
			return ' '
		}
		return rs[j]
	}
	obs := r.cfg.flavor == Obsidian
	inLink := make([]bool, len(rs))
	for _, m := range marks {
		if m.Type == crdt.MarkLink {
			for k := m.Start; k < m.End; k++ {
				inLink[k] = true
			}
		}
	}
	trig := r.bracketTriggers(rs, bounds)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch c {
		case '\\':
			esc[i] = i+1 == len(rs) || bounds[i+1] || rs[i+1] == '\n' || rs[i+1] < 128 && isASCIIPunct(byte(rs[i+1]))
		case '`':
			esc[i] = true
		case '*', '_', '~', '=', '%':
			j := i
			for j < len(rs) && rs[j] == c && (j == i || !bounds[j]) {
				j++
			}
			n := j - i
			var need bool
			switch c {
			case '*', '_':
				need = delimiterActs(c, kind(i-1, i), kind(j, j))
			case '~':
				need = n <= 2 && delimiterActs(c, kind(i-1, i), kind(j, j))
			case '=':
				need = obs && n >= 2 && delimiterActs(c, kind(i-1, i), kind(j, j))
			case '%':
				need = obs && n >= 2
			}
			for k := i; k < j; k++ {
				esc[k] = need
			}
			i = j - 1
		case '<':
			if i+1 < len(rs) {
				n := rs[i+1]
				esc[i] = n < 128 && (unicode.IsLetter(n) || n == '/' || n == '!' || n == '?')
			}
		case '&':
			esc[i] = entityRe.MatchString(string(rs[i:min(len(rs), i+40)]))
		case '|':
			esc[i] = ctx == ctxCell
		case '[':
			esc[i] = ctx == ctxLink || inLink[i] || trig[i] || r.bracketActs(rs, i)
		case ']':
			esc[i] = ctx == ctxLink || inLink[i]
		}
	}
	// "!" before a "[" that stays, or before a link, reads as an image.
	for i := 0; i+1 <= len(rs); i++ {
		if rs[i] != '!' {
			continue
		}
		if i+1 < len(rs) && rs[i+1] == '[' && !esc[i+1] && !bounds[i+1] {
			esc[i] = true
		}
		for _, m := range marks {
			if m.Start == i+1 && (m.Type == crdt.MarkLink || m.Type == crdt.MarkMention || m.Type == MarkRaw) {
				esc[i] = true
			}
		}
	}
	return esc
}

// delimiterActs reports whether a run of c between prev and next could
// open or close emphasis (CommonMark's flanking rules).
func delimiterActs(c rune, prev, next rune) bool {
	ws := func(r rune) bool { return unicode.IsSpace(r) }
	punct := func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) }
	left := !ws(next) && (!punct(next) || ws(prev) || punct(prev))
	right := !ws(prev) && (!punct(prev) || ws(next) || punct(next))
	if c == '_' {
		return left && (!right || punct(prev)) || right && (!left || punct(next))
	}
	return left || right
}

// bracketTriggers marks each position after which some "]" is followed
// by what makes brackets a link or a definition: "(", "[", ":" or markup.
func (r *inlineRenderer) bracketTriggers(rs []rune, bounds map[int]bool) []bool {
	out := make([]bool, len(rs)+1)
	seen := false
	for j := len(rs) - 1; j >= 0; j-- {
		out[j] = seen
		if rs[j] == ']' && j+1 < len(rs) && (rs[j+1] == '(' || rs[j+1] == '[' || rs[j+1] == ':' || bounds[j+1]) {
			seen = true
		}
	}
	return out
}

// bracketActs reports whether "[" at i could start a wiki link, a
// footnote, or a reference to a label the document defines.
func (r *inlineRenderer) bracketActs(rs []rune, i int) bool {
	if r.cfg.flavor == Obsidian && i+1 < len(rs) && (rs[i+1] == '[' || rs[i+1] == '^') {
		return true
	}
	if len(r.refs) == 0 {
		return false
	}
	for j := i + 1; j < len(rs) && j < i+1000; j++ {
		if rs[j] == ']' && r.refs[normLabel(string(rs[i+1:j]))] {
			return true
		}
	}
	return false
}

// normLabel is a link label as CommonMark matches it.
func normLabel(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
