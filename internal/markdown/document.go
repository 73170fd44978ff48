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
}

// RenderDocument writes an object: its details and meta as front matter
// (one "key: value" per line between --- lines, keys sorted), then its
// blocks.
func RenderDocument(details map[string]string, meta Meta, blocks []*crdt.Block) string {
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
	b.WriteString(Render(blocks))
	return b.String()
}

// ParseDocument reads what RenderDocument writes, and the front matter
// other tools write (see SplitFrontMatter).
func ParseDocument(md string) Document {
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
	doc.Blocks = Parse(body)
	return doc
}

// SplitFrontMatter separates a document's front matter from its body. The
// front matter is YAML as notes apps write it: "key: value" lines, quotes
// around a value dropped, and lists (tags: [a, b], or "- a" lines under a
// key) as comma-separated values. ok is false when there is none.
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
	for _, line := range strings.Split(fm, "\n") {
		if item, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok && last != "" {
			if fields[last] != "" {
				fields[last] += ", "
			}
			fields[last] += unquote(strings.TrimSpace(item))
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if k = strings.TrimSpace(k); !ok || k == "" || strings.HasPrefix(k, "#") {
			continue
		}
		fields[k], last = readValue(v), k
	}
	return fields, strings.TrimPrefix(body, "\n"), true
}

// readValue reads a front-matter value: spaces around it dropped, a list
// ([a, b]) as "a, b", quotes around it dropped.
func readValue(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		var items []string
		for _, it := range strings.Split(v[1:len(v)-1], ",") {
			if it = unquote(strings.TrimSpace(it)); it != "" {
				items = append(items, it)
			}
		}
		return strings.Join(items, ", ")
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
