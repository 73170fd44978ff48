package markdown

import (
	"strings"

	"mycel/internal/crdt"
)

// Parse reads Markdown into blocks. It accepts what Render writes and the
// common variants a person types (* or + bullets, any list numbering,
// ~~~ fences, tabs for indentation, CRLF line ends).
func Parse(md string) []*crdt.Block {
	md = strings.ReplaceAll(strings.ReplaceAll(md, "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(md, "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	var roots []*crdt.Block
	// stack[d] is the last block at depth d.
	var stack []*crdt.Block
	var last *crdt.Block // block a following line may continue
	add := func(depth int, b *crdt.Block) {
		if depth > len(stack) {
			depth = len(stack)
		}
		stack = stack[:depth]
		if depth == 0 {
			roots = append(roots, b)
		} else {
			p := stack[depth-1]
			p.Children = append(p.Children, b)
		}
		stack = append(stack, b)
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.Trim(line, " \t") == "" { // blank: spaces and tabs only
			last = nil
			continue
		}
		line = expandIndent(line)
		spaces := len(line) - len(strings.TrimLeft(line, " "))
		depth := spaces / 2
		content := line[depth*2:]
		if content != "" && content[0] == ' ' {
			content = strings.TrimLeft(content, " ")
		}
		// Continuation of a paragraph or quote: same depth, no blank line.
		if last != nil && depth == len(stack)-1 {
			if last.Type == crdt.TypeParagraph && !startsBlock(content) {
				last.Text += "\n" + unescape(content)
				continue
			}
			if last.Type == crdt.TypeQuote && (content == ">" || strings.HasPrefix(content, "> ")) {
				last.Text += "\n" + strings.TrimPrefix(strings.TrimPrefix(content, ">"), " ")
				continue
			}
		}
		b := &crdt.Block{Attrs: map[string]string{}}
		last = nil
		switch {
		case strings.HasPrefix(content, "```") || strings.HasPrefix(content, "~~~"):
			fenceChar := content[:1]
			fence := content[:len(content)-len(strings.TrimLeft(content, fenceChar))]
			b.Type = crdt.TypeCode
			if lang := strings.TrimSpace(content[len(fence):]); lang != "" {
				b.Attrs["language"] = lang
			}
			var code []string
			prefix := strings.Repeat(" ", depth*2)
			j := i + 1
			for ; j < len(lines); j++ {
				l := strings.TrimPrefix(lines[j], prefix)
				if strings.TrimRight(strings.TrimLeft(l, " "), " ") == fence {
					break
				}
				code = append(code, l)
			}
			b.Text = strings.Join(code, "\n")
			i = j
		case heading(content) > 0:
			n := heading(content)
			b.Type = []string{"", crdt.TypeHeading1, crdt.TypeHeading2, crdt.TypeHeading3}[n]
			b.Text = afterMarker(content, n)
		case strings.HasPrefix(content, "- [ ]") || strings.HasPrefix(content, "- [x]") || strings.HasPrefix(content, "- [X]"):
			b.Type = crdt.TypeTodo
			b.Attrs["checked"] = "false"
			if content[3] != ' ' {
				b.Attrs["checked"] = "true"
			}
			b.Text = afterMarker(content, 5)
		case content == "-" || content == "*" || content == "+" || strings.HasPrefix(content, "- ") || strings.HasPrefix(content, "* ") || strings.HasPrefix(content, "+ "):
			b.Type = crdt.TypeBulleted
			b.Text = unescape(afterMarker(content, 1))
		case content[0] >= '0' && content[0] <= '9' && numberedRe.MatchString(content):
			b.Type = crdt.TypeNumbered
			b.Text = numberedRe.FindStringSubmatch(content)[2]
		case content == ">" || strings.HasPrefix(content, "> "):
			b.Type = crdt.TypeQuote
			b.Text = strings.TrimPrefix(strings.TrimPrefix(content, ">"), " ")
			last = b
		case content[0] == '[' && linkRe.MatchString(content):
			m := linkRe.FindStringSubmatch(content)
			b.Type = crdt.TypeLink
			b.Text = m[1]
			b.Attrs["target"] = strings.ToLower(m[2])
		default:
			b.Type = crdt.TypeParagraph
			b.Text = unescape(content)
			last = b
		}
		add(depth, b)
	}
	return roots
}

// heading returns the level (1-3) of a heading line, or 0.
func heading(s string) int {
	n := 0
	for n < len(s) && n < 4 && s[n] == '#' {
		n++
	}
	if n == 0 || n > 3 || n < len(s) && s[n] != ' ' {
		return 0
	}
	return n
}

// afterMarker drops an n-byte marker and the one space after it.
func afterMarker(s string, n int) string {
	s = s[n:]
	return strings.TrimPrefix(s, " ")
}

// unescape drops the backslash Render puts before a line that would read
// as markup: only there, so a backslash a person typed before a letter
// ("\a") stays, as CommonMark keeps it too.
func unescape(l string) string {
	if rest, ok := strings.CutPrefix(l, `\`); ok && needsEscape(rest) {
		return rest
	}
	return l
}

// startsBlock reports whether a line opens a new block rather than
// continuing a paragraph.
func startsBlock(l string) bool {
	return !strings.HasPrefix(l, `\`) && needsEscape(l)
}

// expandIndent turns tabs in a line's indentation into two spaces each.
func expandIndent(l string) string {
	i := 0
	for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
		i++
	}
	return strings.ReplaceAll(l[:i], "\t", "  ") + l[i:]
}
