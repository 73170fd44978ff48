package markdown

import (
	"sort"
	"strings"

	"mycel/internal/crdt"
)

// Meta is what a document's front matter says about the object itself
// rather than its details: written by show and export, read back by write
// and import, never stored as a detail.
type Meta struct {
	ID string // the object's id
	// Heads name the version the document shows (change ids, hex): an
	// edit of the file is based on that version, so it merges with what
	// happened to the object since instead of undoing it.
	Heads   []string
	Created string
	Updated string
}

// MetaKeys are the front-matter keys that are Meta, not details.
var MetaKeys = []string{"id", "heads", "created", "updated"}

func isMeta(k string) bool {
	for _, m := range MetaKeys {
		if k == m {
			return true
		}
	}
	return false
}

// Document is a Markdown file as mycel reads it.
type Document struct {
	// Details is the front matter but its Meta keys; nil when the file
	// has none (the caller leaves details as they are).
	Details map[string]string
	Meta    Meta
	// Body is the Markdown after the front matter.
	Body   string
	Blocks []*crdt.Block
	// Tags are the #tags of the body (see Tags), for the tags detail.
	Tags []string
}

// RenderDocument writes an object: its details and meta as front matter
// (one "key: value" per line between --- lines, keys sorted; a list value,
// "[a, b]", as the YAML list it is), then its blocks.
func RenderDocument(details map[string]string, meta Meta, blocks []*crdt.Block, opts ...Option) string {
	fields := map[string]string{}
	for k, v := range details {
		if !isMeta(k) {
			fields[k] = v
		}
	}
	for k, v := range map[string]string{"id": meta.ID, "heads": strings.Join(meta.Heads, ", "), "created": meta.Created, "updated": meta.Updated} {
		if v != "" {
			fields[k] = v
		}
	}
	var b strings.Builder
	if len(fields) > 0 {
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("---\n")
		for _, k := range keys {
			b.WriteString(k + ": " + frontValue(oneLine(fields[k])) + "\n")
		}
		b.WriteString("---\n\n")
	}
	b.WriteString(Render(blocks, opts...))
	return b.String()
}

// ParseDocument reads what RenderDocument writes, and the front matter
// other tools write (see SplitFrontMatter).
func ParseDocument(md string, opts ...Option) Document {
	fields, body, ok := SplitFrontMatter(md)
	doc := Document{Body: body}
	if ok {
		doc.Details = map[string]string{}
		for k, v := range fields {
			switch k {
			case "id":
				doc.Meta.ID = strings.ToLower(v)
			case "heads":
				for _, h := range strings.Split(v, ",") {
					if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
						doc.Meta.Heads = append(doc.Meta.Heads, h)
					}
				}
			case "created":
				doc.Meta.Created = v
			case "updated":
				doc.Meta.Updated = v
			default:
				doc.Details[k] = v
			}
		}
	}
	doc.Blocks = Parse(body, opts...)
	doc.Tags = Tags(doc.Blocks)
	return doc
}

// SplitFrontMatter separates a document's front matter from its body. The
// front matter is YAML as notes apps write it: "key: value" lines, quotes
// around a value dropped, and lists (tags: [a, b], or "- a" lines under a
// key) as a list value: "[a, b]", the YAML flow list, which writes back as
// the same list (ListValue makes one, ListItems reads one). ok is false
// when there is none.
func SplitFrontMatter(md string) (fields map[string]string, body string, ok bool) {
	md = strings.ReplaceAll(strings.ReplaceAll(md, "\r\n", "\n"), "\r", "\n")
	rest, ok := strings.CutPrefix(md, "---\n")
	if !ok {
		return nil, md, false
	}
	fm, body, ok := strings.Cut(rest, "\n---\n")
	if !ok {
		if fm, ok = strings.CutSuffix(rest, "\n---"); !ok {
			return nil, md, false
		}
		body = ""
	}
	fields = map[string]string{}
	last := ""
	var items []string // of the block list under last
	flush := func() {
		if items != nil {
			fields[last] = ListValue(items)
			items = nil
		}
	}
	for _, line := range strings.Split(fm, "\n") {
		t := strings.TrimSpace(line)
		if item, ok := strings.CutPrefix(t, "- "); (ok || t == "-") && last != "" && fields[last] == "" {
			if item = unquote(strings.TrimSpace(item)); item != "" {
				items = append(items, item)
			} else if items == nil {
				items = []string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if k = strings.TrimSpace(k); !ok || k == "" || strings.HasPrefix(k, "#") || strings.HasPrefix(k, "- ") {
			continue
		}
		flush()
		fields[k], last = readValue(v), k
	}
	flush()
	return fields, strings.TrimPrefix(body, "\n"), true
}

// ListValue writes items as a list value: "[a, b]", each item quoted
// when it holds what would end it (a comma, a bracket, a quote) or has
// spaces around it.
func ListValue(items []string) string {
	q := make([]string, len(items))
	for i, it := range items {
		if strings.ContainsAny(it, ",[]\"'#") || strings.TrimSpace(it) != it || it == "" {
			it = `"` + strings.ReplaceAll(strings.ReplaceAll(it, `\`, `\\`), `"`, `\"`) + `"`
		}
		q[i] = it
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// ListItems reads a list value ("[a, b]"); ok is false when v is not one.
func ListItems(v string) (items []string, ok bool) {
	if !strings.HasPrefix(v, "[") || !strings.HasSuffix(v, "]") {
		return nil, false
	}
	items = []string{}
	for _, it := range splitItems(v[1 : len(v)-1]) {
		if it = unquoteItem(strings.TrimSpace(it)); it != "" {
			items = append(items, it)
		}
	}
	return items, true
}

// splitItems splits a flow list's inside at the commas outside quotes.
func splitItems(s string) []string {
	var out []string
	var cur strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			cur.WriteByte(c)
			if c == '\\' && quote == '"' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
			cur.WriteByte(c)
		case c == ',':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String())
}

// unquoteItem drops the quotes around a list item, reading "\"" and
// "\\\\" inside double quotes and ” inside single ones.
func unquoteItem(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var b strings.Builder
		for i := 1; i < len(s)-1; i++ {
			if s[i] == '\\' && i+1 < len(s)-1 {
				i++
			}
			b.WriteByte(s[i])
		}
		return b.String()
	}
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	return s
}

// readValue reads a front-matter value: spaces around it dropped, a list
// ([a, b]) as its list value (ListValue), quotes around it dropped.
func readValue(v string) string {
	v = strings.TrimSpace(v)
	if items, ok := ListItems(v); ok {
		return ListValue(items)
	}
	return unquote(v)
}

// frontValue writes a value so that readValue gives it back as it is:
// quoted when it would not be (quotes or spaces around it, brackets).
func frontValue(v string) string {
	if readValue(v) != v {
		return `"` + v + `"`
	}
	return v
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
