package markdown

import (
	"html"
	"regexp"
	"strconv"
	"strings"

	"mycel/internal/crdt"
)

// Render writes blocks as Markdown of the flavor chosen (Obsidian unless
// WithFlavor says otherwise). Parse(Render(Parse(x))) gives Parse(x).
func Render(blocks []*crdt.Block, opts ...Option) string {
	r := renderer{inl: inlineRenderer{cfg: newConfig(opts), refs: map[string]bool{}}}
	r.collectRefs(blocks)
	lines := r.seq(blocks, false)
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

type renderer struct {
	inl inlineRenderer
}

var refDefRe = regexp.MustCompile(`(?m)^ {0,3}\[((?:[^\]\\]|\\.)+)\]:`)

// collectRefs notes the link reference labels that raw blocks define:
// text that would read as a reference to one of them must be escaped.
func (r *renderer) collectRefs(bs []*crdt.Block) {
	for _, b := range bs {
		if b.Type == crdt.TypeRaw {
			for _, m := range refDefRe.FindAllStringSubmatch(b.Text, -1) {
				r.inl.refs[normLabel(unescape(m[1]))] = true
			}
		}
		r.collectRefs(b.Children)
	}
}

func family(t string) string {
	if t == crdt.TypeNumbered {
		return "ol"
	}
	return "ul"
}

// startsList reports whether item b begins a list of its own.
func startsList(b *crdt.Block) bool {
	if b.Type == crdt.TypeNumbered {
		_, ok := b.Attrs["start"]
		return ok
	}
	return b.Attrs["break"] == "true"
}

func loose(b *crdt.Block) bool { return b.Attrs["loose"] == "true" }

// filesNeedRoom reports whether an item's children must be parted by blank
// lines for its file blocks to read back as such: in a tight item a file
// followed by other text joins it as one paragraph, and one after a
// sub-list reads as the last sub-item's. (The item then reads back loose:
// an attribute, never a file, changes.)
func filesNeedRoom(kids []*crdt.Block) bool {
	for i, k := range kids {
		if k.Type != crdt.TypeFile {
			continue
		}
		if i+1 < len(kids) && kids[i+1].Type != crdt.TypeFile && !isList(kids[i+1].Type) {
			return true
		}
		if i > 0 && isList(kids[i-1].Type) {
			return true
		}
	}
	return false
}

// seq renders sibling blocks, a blank line between them unless tight (the
// content of a tight list item, which a blank line would make loose).
func (r *renderer) seq(bs []*crdt.Block, tight bool) []string {
	var out []string
	bullets := 0 // index into "-*+" of the current bulleted list
	delim := 0   // index into ".)" of the current numbered list
	num := 0
	for i, b := range bs {
		var prev *crdt.Block
		if i > 0 {
			prev = bs[i-1]
		}
		sameFamily := prev != nil && isList(prev.Type) && isList(b.Type) && family(prev.Type) == family(b.Type)
		sameList := sameFamily && !startsList(b)
		if i > 0 && !tight && !(sameList && !loose(b) && !loose(prev)) {
			out = append(out, "")
		}
		var lines []string
		switch {
		case isList(b.Type):
			if !sameList {
				if sameFamily { // two lists in a row: a new marker parts them
					bullets, delim = (bullets+1)%3, (delim+1)%2
				} else {
					bullets, delim = 0, 0
				}
				num = 1
				if s, err := strconv.Atoi(b.Attrs["start"]); err == nil && s >= 0 && s < 1e9 {
					num = s
				}
			} else {
				num++
			}
			marker := string("-*+"[bullets])
			if b.Type == crdt.TypeNumbered {
				marker = strconv.Itoa(num) + string(".)"[delim])
			}
			lines = r.item(b, marker)
		case b.Type == crdt.TypeDivider && tight:
			lines = []string{"***"} // "---" under a line of text is a heading
		default:
			lines = r.block(b)
		}
		out = append(out, lines...)
	}
	return out
}

var todoLikeRe = regexp.MustCompile(`^\[[\sxX]\]`)

// isThematic reports whether a line is a thematic break: three or more
// of one of - * _, spaces between allowed.
func isThematic(l string) bool {
	t := strings.TrimLeft(l, " ")
	if len(l)-len(t) > 3 || t == "" || !strings.ContainsRune("-*_", rune(t[0])) {
		return false
	}
	n := 0
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case t[0]:
			n++
		case ' ', '\t':
		default:
			return false
		}
	}
	return n >= 3
}

// item renders a list item: its marker, its text, then its children
// indented to the text.
func (r *renderer) item(b *crdt.Block, marker string) []string {
	var content []string
	if b.Text != "" || b.Type == crdt.TypeTodo {
		content = r.text(b.Text, b.Marks, ctxText)
		if len(content) > 0 {
			first := content[0]
			if (b.Type == crdt.TypeBulleted || b.Type == crdt.TypeNumbered) && todoLikeRe.MatchString(first) || isThematic(marker+" "+first) {
				first = `\` + first
			}
			if b.Type == crdt.TypeTodo {
				box := "[ ]"
				if b.Attrs["checked"] == "true" {
					box = "[x]"
				}
				first = strings.TrimSuffix(box+" "+first, " ")
			}
			content[0] = first
		}
	}
	kids := r.seq(b.Children, !loose(b) && !filesNeedRoom(b.Children))
	if len(content) == 0 && len(kids) > 0 && isThematic(marker+" "+kids[0]) {
		// No text, and the first child on the marker's line would read as
		// a rule ("- ---", "- * *"): a rule child is written "***" ("- ***"
		// is no rule); other children start on the next line.
		if b.Children[0].Type == crdt.TypeDivider {
			kids[0] = "***"
		} else {
			return append([]string{marker}, indent(kids, strings.Repeat(" ", len(marker)+1), "")...)
		}
	}
	if len(content) > 0 && len(kids) > 0 && loose(b) {
		content = append(content, "")
	}
	content = append(content, kids...)
	if len(content) == 0 {
		return []string{marker}
	}
	ind := strings.Repeat(" ", len(marker)+1)
	out := []string{strings.TrimRight(marker+" "+content[0], " ")}
	if content[0] == "" {
		out[0] = marker
	}
	return append(out, indent(content[1:], ind, "")...)
}

// indent prefixes lines (blank ones stay blank).
func indent(lines []string, prefix, blank string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		if l == "" {
			out[i] = blank
		} else {
			out[i] = prefix + l
		}
	}
	return out
}

// text renders inline text as lines, escaping what would start a block.
func (r *renderer) text(t string, marks []crdt.Mark, ctx inlineCtx) []string {
	lines, starts := r.inl.lines(t, marks, ctx)
	for i := range lines {
		if starts[i] {
			lines[i] = r.escapeLineStart(lines[i], i == 0)
		}
	}
	return lines
}

var (
	atxRe       = regexp.MustCompile(`^#{1,6}(?:[ \t]|$)`)
	bulletRe    = regexp.MustCompile(`^[-+*](?:[ \t]|$)`)
	setextRe    = regexp.MustCompile(`^(?:=+|-+)[ \t]*$`)
	orderedRe   = regexp.MustCompile(`^(\d{1,9})([.)])(?:([ \t])(.*)|$)`)
	delimRowRe  = regexp.MustCompile(`^\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$`)
	trailHashRe = regexp.MustCompile(`(^|[ \t])(#+)[ \t]*$`)
)

// escapeLineStart puts a backslash where a line of text would otherwise
// start a block (first: the first line of its paragraph).
func (r *renderer) escapeLineStart(l string, first bool) string {
	switch {
	case l == "":
		return l
	case atxRe.MatchString(l), l[0] == '>', bulletRe.MatchString(l), isThematic(l),
		strings.HasPrefix(l, "~~~"), first && strings.HasPrefix(l, "$$"):
		return `\` + l
	case !first && setextRe.MatchString(l):
		return `\` + l
	case !first && strings.ContainsAny(l, "|:") && delimRowRe.MatchString(l):
		return `\` + l
	}
	if m := orderedRe.FindStringSubmatchIndex(l); m != nil {
		n, _ := strconv.Atoi(l[m[2]:m[3]])
		if first || n == 1 && m[8] >= 0 && strings.TrimSpace(l[m[8]:m[9]]) != "" {
			return l[:m[4]] + `\` + l[m[4]:]
		}
	}
	return l
}

func (r *renderer) block(b *crdt.Block) []string {
	switch b.Type {
	case crdt.TypeHeading1, crdt.TypeHeading2, crdt.TypeHeading3, crdt.TypeHeading4, crdt.TypeHeading5, crdt.TypeHeading6:
		return r.heading(b)
	case crdt.TypeCode:
		return codeBlock(b.Text, b.Attrs["language"])
	case crdt.TypeDivider:
		return []string{"---"}
	case crdt.TypeMath:
		lines := strings.Split(b.Text, "\n")
		for _, l := range lines {
			if strings.HasSuffix(strings.TrimRight(l, " \t"), "$$") {
				return codeBlock(b.Text, "math") // a $$ block would end there
			}
		}
		out := []string{"$$"}
		if b.Text != "" {
			out = append(out, lines...)
		}
		return append(out, "$$")
	case crdt.TypeQuote:
		var lines []string
		if len(b.Children) > 0 {
			lines = r.seq(b.Children, false)
		} else {
			lines = r.text(b.Text, b.Marks, ctxText)
		}
		if r.inl.cfg.flavor == Obsidian && len(lines) > 0 && calloutRe.MatchString(lines[0]) {
			lines[0] = `\` + lines[0]
		}
		if len(lines) == 0 || len(lines) == 1 && lines[0] == "" {
			return []string{">"}
		}
		return indent(lines, "> ", ">")
	case crdt.TypeCallout:
		head := "[!" + b.Attrs["kind"] + "]" + b.Attrs["fold"]
		if title := r.inl.render(strings.ReplaceAll(b.Text, "\n", " "), b.Marks, ctxText); title != "" {
			head += " " + title
		}
		body := r.seq(b.Children, false)
		if len(b.Children) > 0 && b.Children[0].Type == crdt.TypeFile {
			// On the title's line it would be part of the title.
			body = append([]string{""}, body...)
		}
		return indent(append([]string{head}, body...), "> ", ">")
	case crdt.TypeTable:
		return r.table(b)
	case crdt.TypeLink:
		// Exported, a link to another page is a link to its file (or a
		// wikilink); otherwise it names the object, and reads back as
		// this link block.
		title := strings.ReplaceAll(b.Text, "\n", " ")
		if r.inl.cfg.links != nil {
			if href, ok := r.inl.cfg.links(b.Attrs["target"]); ok && !strings.HasPrefix(href, "mycel:") {
				if r.inl.cfg.flavor == Obsidian {
					if title == href || title == "" {
						return []string{"[[" + href + "]]"}
					}
					return []string{"[[" + href + "|" + title + "]]"}
				}
				return []string{"[" + r.inl.render(title, nil, ctxLink) + "](" + destination(href) + ")"}
			}
		}
		return []string{"[" + r.inl.render(title, nil, ctxLink) + "](mycel:" + b.Attrs["target"] + ")"}
	case crdt.TypeEmbed:
		return []string{r.embed(b)}
	case crdt.TypeFile:
		return strings.Split(r.file(b), "\n")
	case crdt.TypeBookmark:
		title := b.Text
		if title == "" {
			title = b.Attrs["url"]
		}
		return []string{"[" + r.inl.render(strings.ReplaceAll(title, "\n", " "), nil, ctxLink) + "](" + destination(b.Attrs["url"]) + ")"}
	case crdt.TypeToggle:
		out := []string{"<details>", "<summary>" + html.EscapeString(strings.ReplaceAll(b.Text, "\n", " ")) + "</summary>", ""}
		out = append(out, r.seq(b.Children, false)...)
		return append(out, "", "</details>")
	case crdt.TypeRaw:
		return strings.Split(b.Text, "\n")
	case crdt.TypeColumn, crdt.TypeRow, crdt.TypeCell:
		return nil // only inside a table
	}
	// Paragraphs, and any type this version does not know.
	return r.text(b.Text, b.Marks, ctxText)
}

func (r *renderer) heading(b *crdt.Block) []string {
	level := int(b.Type[len(b.Type)-1] - '0')
	if strings.Contains(b.Text, "\n") && level <= 2 && strings.Trim(b.Text, "\n") == b.Text {
		lines := r.text(b.Text, b.Marks, ctxText)
		return append(lines, strings.Repeat("=-"[level-1:level], 3))
	}
	line := r.inl.render(strings.ReplaceAll(b.Text, "\n", " "), b.Marks, ctxText)
	// A run of # at the end would be read as the closing sequence.
	if m := trailHashRe.FindStringSubmatchIndex(line); m != nil && !strings.HasSuffix(line[:m[4]], `\`) {
		line = line[:m[4]] + `\` + line[m[4]:]
	}
	h := strings.Repeat("#", level)
	if line == "" {
		return []string{h}
	}
	return []string{h + " " + line}
}

// codeBlock writes a fenced code block: backticks, or tildes when the
// info string holds a backtick; longer than any such run opening a line.
func codeBlock(text, lang string) []string {
	lang = strings.ReplaceAll(lang, "\n", " ")
	fc := "`"
	if strings.Contains(lang, "`") {
		fc = "~"
	}
	fence := strings.Repeat(fc, 3)
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimLeft(l, " \t")
		for strings.HasPrefix(l, fence) {
			fence += fc
		}
	}
	info := lang
	if strings.HasPrefix(info, fc) || strings.HasPrefix(info, " ") {
		info = " " + info
	}
	info = escapeInfo(info)
	out := []string{fence + info}
	if text != "" {
		out = append(out, strings.Split(text, "\n")...)
	}
	return append(out, fence)
}

// escapeInfo escapes the backslashes and character references of an info
// string, which the parser would read.
func escapeInfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && isASCIIPunct(s[i+1]) || c == '&' && entityAt(s, i) {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (r *renderer) embed(b *crdt.Block) string {
	target := b.Attrs["target"]
	if r.inl.cfg.flavor == Obsidian {
		if r.inl.cfg.links != nil {
			if t, ok := r.inl.cfg.links(target); ok {
				target = t
			}
		}
		if s := b.Attrs["size"]; s != "" {
			return "![[" + target + "|" + s + "]]"
		}
		return "![[" + target + "]]"
	}
	href := target
	if r.inl.cfg.links != nil {
		if h, ok := r.inl.cfg.links(target); ok {
			href = h
		}
	}
	return "![" + r.inl.render(target, nil, ctxLink) + "](" + destination(href) + ")"
}

func (r *renderer) table(b *crdt.Block) []string {
	// Cells by their column (a row may lack one, when a column and a row
	// were added on two devices at once), then loose ones (their column
	// deleted while they were edited) after the columns: no text is lost.
	g := crdt.TableGrid(b)
	var aligns []string
	for _, c := range g.Columns {
		aligns = append(aligns, c.Attrs["align"])
	}
	var rows [][]string
	for i := range g.Rows {
		var cells []string
		for _, cell := range g.Cells[i] {
			if cell == nil {
				cells = append(cells, "")
			} else {
				cells = append(cells, r.inl.render(cell.Text, cell.Marks, ctxCell))
			}
		}
		for _, cell := range g.Loose[i] {
			cells = append(cells, r.inl.render(cell.Text, cell.Marks, ctxCell))
		}
		rows = append(rows, cells)
	}
	n := len(aligns)
	for _, row := range rows {
		n = max(n, len(row))
	}
	if n == 0 {
		return nil
	}
	if len(rows) == 0 {
		rows = append(rows, nil)
	}
	line := func(cells []string) string {
		var s strings.Builder
		s.WriteString("|")
		for _, c := range cells {
			s.WriteString(" " + c + " |")
		}
		return s.String()
	}
	header := append([]string(nil), rows[0]...)
	for len(header) < n {
		header = append(header, "")
	}
	delims := make([]string, n)
	for i := range delims {
		a := ""
		if i < len(aligns) {
			a = aligns[i]
		}
		delims[i] = map[string]string{"left": ":--", "right": "--:", "center": ":-:"}[a]
		if delims[i] == "" {
			delims[i] = "---"
		}
	}
	out := []string{line(header), line(delims)}
	for _, row := range rows[1:] {
		out = append(out, line(row))
	}
	return out
}
