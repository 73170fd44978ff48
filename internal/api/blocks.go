package api

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"mycel/internal/crdt"
)

// Block is a block as the API (and `mycel show --json`) gives it and as
// the web app sends it back: its id, so that an edit names the blocks it
// changes, with the formatting of its text.
type Block struct {
	ID       string            `json:"id"`
	Type     string            `json:"type"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	Text     string            `json:"text"`
	Marks    []Mark            `json:"marks,omitempty"`
	Kept     bool              `json:"kept,omitempty"`
	Children []Block           `json:"children,omitempty"`
}

// Mark is inline formatting over characters [start, end) of a block's
// text (characters, not bytes).
type Mark struct {
	Start int    `json:"start"`
	End   int    `json:"end"`
	Type  string `json:"type"`
	Value string `json:"value,omitempty"`
}

// Blocks is the API form of a block tree.
func Blocks(bs []*crdt.Block) []Block {
	out := []Block{}
	for _, b := range bs {
		j := Block{ID: b.ID.String(), Type: b.Type, Attrs: b.Attrs, Text: b.Text, Kept: b.Kept, Children: Blocks(b.Children)}
		for _, m := range b.Marks {
			j.Marks = append(j.Marks, Mark{m.Start, m.End, m.Type, m.Value})
		}
		out = append(out, j)
	}
	return out
}

// maxDepth bounds how deeply blocks sent to the API nest.
const maxDepth = 64

// CRDTBlocks checks a block tree sent to the API and converts it: known
// block and mark types, ids as the API gives them (or none, for a new
// block), marks within their text, UTF-8 everywhere.
func CRDTBlocks(bs []Block) ([]*crdt.Block, error) { return crdtBlocks(bs, 0, nil) }

// errUnknownType is wrapped when a block's type is not one this version
// knows.
var errUnknownType = errors.New("unknown type")

// crdtBlocksKeeping is CRDTBlocks that takes too the blocks and marks of
// types this version does not know that the page has so (kept: block id →
// its type there; "id mark type" for a block that has such marks): a
// newer mycel's, which an editor sends back as it got them. Refused, they
// made every edit of their page fail, so nothing typed on it was saved.
func crdtBlocksKeeping(bs []Block, page []*crdt.Block) ([]*crdt.Block, error) {
	kept := map[string]string{}
	var walk func([]*crdt.Block)
	walk = func(bs []*crdt.Block) {
		for _, b := range bs {
			if !crdt.IsBlockType(b.Type) {
				kept[b.ID.String()] = b.Type
			}
			for _, m := range b.Marks {
				if !crdt.IsMarkType(m.Type) {
					kept[b.ID.String()+" mark "+m.Type] = m.Type
				}
			}
			walk(b.Children)
		}
	}
	walk(page)
	return crdtBlocks(bs, 0, kept)
}

func crdtBlocks(bs []Block, depth int, kept map[string]string) ([]*crdt.Block, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("blocks nest more than %d deep", maxDepth)
	}
	out := make([]*crdt.Block, 0, len(bs))
	for _, j := range bs {
		b := &crdt.Block{Type: j.Type, Text: j.Text, Attrs: j.Attrs}
		if j.ID != "" {
			id, err := crdt.ParseID(j.ID)
			if err != nil {
				return nil, fmt.Errorf("block id %q: %w", j.ID, err)
			}
			b.ID = id
		}
		if !crdt.IsBlockType(j.Type) && (j.ID == "" || kept[j.ID] != j.Type) {
			return nil, fmt.Errorf("block %q: %w %q", j.ID, errUnknownType, j.Type)
		}
		if !utf8.ValidString(j.Text) {
			return nil, fmt.Errorf("block %q: text is not UTF-8", j.ID)
		}
		for k, v := range j.Attrs {
			if k == "" || k == "type" || !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, fmt.Errorf("block %q: bad attribute %q", j.ID, k)
			}
		}
		n := utf8.RuneCountInString(j.Text)
		for _, m := range j.Marks {
			if !crdt.IsMarkType(m.Type) && (j.ID == "" || kept[j.ID+" mark "+m.Type] != m.Type) {
				return nil, fmt.Errorf("block %q: a mark of %w %q", j.ID, errUnknownType, m.Type)
			}
			if m.Start < 0 || m.Start >= m.End || m.End > n || !utf8.ValidString(m.Value) {
				return nil, fmt.Errorf("block %q: bad mark %s over [%d, %d) of %d characters", j.ID, m.Type, m.Start, m.End, n)
			}
			if m.Type == crdt.MarkLink && unsafeURL(m.Value) {
				return nil, fmt.Errorf("block %q: a link to %q is refused (a script, not a place)", j.ID, m.Value)
			}
			b.Marks = append(b.Marks, crdt.Mark{Start: m.Start, End: m.End, Type: m.Type, Value: m.Value})
		}
		var err error
		if b.Children, err = crdtBlocks(j.Children, depth+1, kept); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// unsafeURL reports whether a link would run code where it is opened.
func unsafeURL(u string) bool {
	u = strings.ToLower(strings.TrimSpace(u))
	for _, p := range []string{"javascript:", "vbscript:", "data:"} {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}
