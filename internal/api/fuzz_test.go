package api

import (
	"encoding/json"
	"testing"

	"mycel/internal/crdt"
)

// FuzzDocEdit: whatever a browser sends as an edit's blocks is refused or
// applied (by id onto a page, as the API does) without a panic, and the
// page's state then encodes and decodes.
func FuzzDocEdit(f *testing.F) {
	for _, s := range []string{
		`{"base":["00"],"blocks":[{"type":"paragraph","text":"a","marks":[{"start":0,"end":1,"type":"bold"}]}]}`,
		`{"blocks":[{"id":"1@aa","type":"table","children":[{"type":"column"},{"type":"row","children":[{"type":"cell","attrs":{"col":"#0"},"text":"x"}]}]}]}`,
		`{"blocks":[{"type":"cell","attrs":{"col":"9@ff"}},{"id":"2@aa","type":"todo","attrs":{"checked":"true"},"text":"😀"}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var in DocEdit
		if json.Unmarshal([]byte(s), &in) != nil {
			return
		}
		blocks, err := CRDTBlocks(in.Blocks)
		if err != nil {
			return
		}
		d := crdt.NewDoc()
		tx := d.Begin("a")
		tx.Replace([]*crdt.Block{{Type: crdt.TypeParagraph, Text: "first"}, {Type: crdt.TypeParagraph, Text: "second"}})
		tx.Commit()
		for _, b := range d.Blocks() {
			if len(blocks) > 0 && blocks[0].ID.IsZero() {
				blocks[0].ID = b.ID // some edits name a block the page has
			}
		}
		tx = d.Begin("a")
		tx.ReplaceByID(blocks)
		tx.Commit()
		if _, err := crdt.UnmarshalState(d.MarshalState()); err != nil {
			t.Fatalf("the state after an edit does not read back: %v", err)
		}
	})
}
