package markdown

import (
	"sort"
	"strings"

	"mycel/internal/crdt"
)

// RenderDocument writes an object: its details as front matter (one
// "key: value" per line between --- lines), then its blocks.
func RenderDocument(details map[string]string, blocks []*crdt.Block) string {
	var b strings.Builder
	if len(details) > 0 {
		keys := make([]string, 0, len(details))
		for k := range details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("---\n")
		for _, k := range keys {
			b.WriteString(k + ": " + oneLine(details[k]) + "\n")
		}
		b.WriteString("---\n\n")
	}
	b.WriteString(Render(blocks))
	return b.String()
}

// ParseDocument reads what RenderDocument writes. details is nil when the
// text has no front matter (so the caller leaves details as they are).
func ParseDocument(md string) (details map[string]string, blocks []*crdt.Block) {
	md = strings.ReplaceAll(strings.ReplaceAll(md, "\r\n", "\n"), "\r", "\n")
	if rest, ok := strings.CutPrefix(md, "---\n"); ok {
		if fm, body, ok := strings.Cut(rest, "\n---\n"); ok {
			details = map[string]string{}
			for _, line := range strings.Split(fm, "\n") {
				k, v, ok := strings.Cut(line, ":")
				if k = strings.TrimSpace(k); ok && k != "" {
					details[k] = strings.TrimSpace(v)
				}
			}
			return details, Parse(strings.TrimPrefix(body, "\n"))
		}
	}
	return nil, Parse(md)
}
