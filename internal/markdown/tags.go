package markdown

import (
	"regexp"
	"strings"

	"mycel/internal/crdt"
)

// A #tag as Obsidian reads it: after a space or the start of the text,
// letters, digits, _, - and / (nested tags), not digits alone.
var tagRe = regexp.MustCompile(`(?:^|[\s(])#([\p{L}\p{N}_/-]*[\p{L}_/-][\p{L}\p{N}_/-]*)`)

// Tags lists the #tags in the blocks' text (not in code, raw source or
// links), each once, in the order they first appear. The text keeps them.
func Tags(blocks []*crdt.Block) []string {
	seen := map[string]bool{}
	var out []string
	var walk func([]*crdt.Block)
	walk = func(bs []*crdt.Block) {
		for _, b := range bs {
			if b.Type != crdt.TypeCode && b.Type != crdt.TypeRaw && b.Type != crdt.TypeMath {
				for _, t := range textTags(b.Text, b.Marks) {
					if !seen[strings.ToLower(t)] {
						seen[strings.ToLower(t)] = true
						out = append(out, t)
					}
				}
			}
			walk(b.Children)
		}
	}
	walk(blocks)
	return out
}

// textTags finds the tags of one block's text outside code, raw source,
// links and mentions (blanked out first).
func textTags(text string, marks []crdt.Mark) []string {
	if !strings.Contains(text, "#") {
		return nil
	}
	rs := []rune(text)
	for _, m := range marks {
		switch m.Type {
		case crdt.MarkCode, MarkRaw, crdt.MarkLink, crdt.MarkMention:
			for i := max(0, m.Start); i < min(len(rs), m.End); i++ {
				rs[i] = ' '
			}
		}
	}
	var out []string
	for _, m := range tagRe.FindAllStringSubmatch(string(rs), -1) {
		out = append(out, m[1])
	}
	return out
}
