// Package markdown converts between block trees and Markdown. Every block
// kind round-trips: Parse(Render(blocks)) gives the same tree.
//
//	paragraph     text (several lines; a line that would read as markup is escaped with "\")
//	heading1..3   # text, ## text, ### text
//	todo          - [ ] text / - [x] text
//	bulleted      - text
//	numbered      1. text
//	quote         > text (every line)
//	code          ```language … ``` (a longer fence when the code holds one)
//	link          [title](mycel:OBJECT-ID)
//
// Children follow their parent, indented two spaces per level. Headings,
// list items and links hold one line: a newline in them renders as a space.
package markdown

import (
	"fmt"
	"regexp"
	"strings"

	"mycel/internal/crdt"
)

// Render writes blocks as Markdown.
func Render(blocks []*crdt.Block) string {
	var b strings.Builder
	r := renderer{b: &b, first: true}
	r.level(blocks, 0)
	return b.String()
}

func isList(t string) bool {
	return t == crdt.TypeBulleted || t == crdt.TypeNumbered || t == crdt.TypeTodo
}

type renderer struct {
	b        *strings.Builder
	first    bool
	prevList bool // the block written last is a list item
}

func (r *renderer) level(blocks []*crdt.Block, depth int) {
	ind := strings.Repeat("  ", depth)
	num := 0
	for _, blk := range blocks {
		if blk.Type == crdt.TypeNumbered {
			num++
		} else {
			num = 0
		}
		// Blocks are separated by a blank line, except list items that
		// follow list items (at any depth): a tight list.
		if !r.first && !(r.prevList && isList(blk.Type)) {
			r.b.WriteString("\n")
		}
		r.first = false
		for _, line := range blockLines(blk, num) {
			if line != "" { // only code has empty lines; they need no indent
				r.b.WriteString(ind + line)
			}
			r.b.WriteString("\n")
		}
		r.prevList = isList(blk.Type)
		r.level(blk.Children, depth+1)
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

func blockLines(blk *crdt.Block, num int) []string {
	text := blk.Text
	switch blk.Type {
	case crdt.TypeHeading1:
		return []string{"# " + oneLine(text)}
	case crdt.TypeHeading2:
		return []string{"## " + oneLine(text)}
	case crdt.TypeHeading3:
		return []string{"### " + oneLine(text)}
	case crdt.TypeTodo:
		box := "[ ]"
		if blk.Attrs["checked"] == "true" {
			box = "[x]"
		}
		return []string{"- " + box + " " + oneLine(text)}
	case crdt.TypeBulleted:
		t := oneLine(text)
		// Escape what would read as a to-do box (Parse accepts any case).
		if strings.HasPrefix(t, `\`) || strings.HasPrefix(t, "[ ]") || strings.HasPrefix(t, "[x]") || strings.HasPrefix(t, "[X]") {
			t = `\` + t
		}
		return []string{"- " + t}
	case crdt.TypeNumbered:
		return []string{fmt.Sprintf("%d. %s", num, oneLine(text))}
	case crdt.TypeQuote:
		var out []string
		for _, l := range strings.Split(text, "\n") {
			if l == "" {
				out = append(out, ">")
			} else {
				out = append(out, "> "+l)
			}
		}
		return out
	case crdt.TypeCode:
		// Backticks, or tildes when the language holds a backtick (a
		// backtick fence cannot); longer than any such run opening a line.
		lang := strings.TrimSpace(oneLine(blk.Attrs["language"]))
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
		if strings.HasPrefix(lang, fc) {
			lang = " " + lang
		}
		out := []string{fence + lang}
		if text != "" {
			out = append(out, strings.Split(text, "\n")...)
		}
		return append(out, fence)
	case crdt.TypeLink:
		return []string{"[" + oneLine(text) + "](mycel:" + blk.Attrs["target"] + ")"}
	}
	// Paragraphs, and any type this version does not know.
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if needsEscape(l) {
			l = `\` + l
		}
		out = append(out, l)
	}
	return out
}

var (
	numberedRe = regexp.MustCompile(`^(\d+)\.(?: (.*))?$`)
	linkRe     = regexp.MustCompile(`^\[(.*)\]\(mycel:([0-9a-fA-F]*)\)$`)
)

func needsEscape(l string) bool {
	if l == "" || l[0] == ' ' || l[0] == '\t' || l[0] == '\\' {
		return true
	}
	for _, p := range []string{"#", "-", "*", "+", ">", "```", "~~~", "[", "|"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return l[0] >= '0' && l[0] <= '9' // a numbered item, or what could read as one
}
