package memstore

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/fts"
)

// PutObject writes an object's row and, unless its text is stale, its
// search text. An object keeps the creation time of its first put.
func (t *tx) PutObject(o store.Object) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	rec := &objectRec{}
	if old, ok := st.objects.get(idKey(o.ID)); ok {
		o.Created = old.row.Created
		rec.text, rec.links = old.text, old.links
	}
	if !o.TextStale {
		rec.text = newIndexed(o.Title, o.Body, o.Tags)
		rec.links = slices.Clone(o.Links)
	}
	o.Links, o.Tags = nil, nil
	o.Body = ""
	o.Created, o.Updated = ms(o.Created), ms(o.Updated)
	rec.row = o
	st.objects.put(t.gen, idKey(o.ID), rec)
	return nil
}

// Backlinks scans every object's links: the reference implementation
// favours plainness over speed.
func (t *tx) Backlinks(id change.ID) ([]change.ID, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	var out []change.ID
	st.objects.ascend("", func(_ string, rec *objectRec) bool {
		if slices.Contains(rec.links, id) {
			out = append(out, rec.row.ID)
		}
		return true
	})
	slices.SortFunc(out, func(a, b change.ID) int { return strings.Compare(string(a[:]), string(b[:])) })
	return out, nil
}

func (t *tx) Object(id change.ID) (store.Object, error) {
	st, err := t.r()
	if err != nil {
		return store.Object{}, err
	}
	rec, ok := st.objects.get(idKey(id))
	if !ok {
		return store.Object{}, fmt.Errorf("object %s: %w", id.Short(), store.ErrNotFound)
	}
	return rec.row, nil
}

// Objects lists the rows most recently updated first, the same time in id
// order.
func (t *tx) Objects() ([]store.Object, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	var rows []store.Object
	st.objects.ascend("", func(_ string, rec *objectRec) bool {
		rows = append(rows, rec.row)
		return true
	})
	slices.SortStableFunc(rows, func(a, b store.Object) int {
		return b.Updated.Compare(a.Updated) // ties stay in id order
	})
	return rows, nil
}

func (t *tx) CountObjects() (int, error) {
	rows, err := t.Objects()
	return len(rows), err
}

func (t *tx) ObjectsPage(q store.ObjectQuery) ([]store.Object, error) {
	rows, err := t.Objects()
	if err != nil {
		return nil, err
	}
	rows = slices.DeleteFunc(rows, func(o store.Object) bool {
		if !q.Keeps(o) {
			return true
		}
		if a := q.After; a != nil {
			u, au := o.Updated.UnixMilli(), a.Updated.UnixMilli()
			return u > au || u == au && bytes.Compare(o.ID[:], a.ID[:]) <= 0
		}
		return false
	})
	if q.Limit > 0 && len(rows) > q.Limit {
		rows = rows[:q.Limit]
	}
	return rows, nil
}

// Search ranks every indexed object as FTS5 does (fts.Query.Rank: bm25
// over all of them, the bin included, as FTS5's statistics are), keeps
// those the query finds, not in the bin, after the cursor, and snippets
// them as the SQLite store does: the reference implementation reads
// everything, for plainness.
func (t *tx) Search(q store.SearchQuery) ([]store.Hit, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	if len(q.Query.Parts) == 0 {
		return nil, nil
	}
	type found struct {
		rec    *objectRec
		counts []int
	}
	var all []found
	c := fts.Corpus{Hits: make([]int, len(q.Query.Parts))}
	st.objects.ascend("", func(_ string, rec *objectRec) bool {
		if rec.text == nil {
			return true
		}
		counts := q.Query.Counts(rec.text.doc)
		c.Rows++
		c.Words += rec.text.doc.Len()
		for i, n := range counts {
			if n > 0 {
				c.Hits[i]++
			}
		}
		if q.Query.Found(counts) && !rec.row.Deleted {
			all = append(all, found{rec, counts})
		}
		return true
	})
	hits := make([]store.Hit, 0, len(all))
	for _, f := range all {
		h := store.Hit{Object: f.rec.row, Rank: q.Query.Rank(c, f.counts, f.rec.text.doc.Len())}
		if a := q.After; a != nil && (h.Rank < a.Rank || h.Rank == a.Rank && bytes.Compare(h.ID[:], a.ID[:]) <= 0) {
			continue
		}
		hits = append(hits, h)
	}
	slices.SortFunc(hits, func(a, b store.Hit) int {
		if a.Rank != b.Rank {
			return cmp.Compare(a.Rank, b.Rank)
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	if q.Limit > 0 && len(hits) > q.Limit {
		hits = hits[:q.Limit]
	}
	snips := q.Query.Snippets()
	for i := range hits {
		rec, _ := st.objects.get(idKey(hits[i].ID))
		hits[i].Match = snips.Of(rec.text.body, q.Query.InBody(rec.text.doc.Body))
	}
	return hits, nil
}

func (t *tx) StaleText() ([]change.ID, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	var ids []change.ID
	st.objects.ascend("", func(k string, rec *objectRec) bool {
		if rec.row.TextStale {
			ids = append(ids, keyID(k))
		}
		return true
	})
	return ids, nil
}

func (t *tx) IndexedText(id change.ID) (title, body string, ok bool, err error) {
	st, err := t.r()
	if err != nil {
		return "", "", false, err
	}
	rec, found := st.objects.get(idKey(id))
	if !found || rec.row.TextStale || rec.text == nil {
		return "", "", false, nil
	}
	return rec.text.title, rec.text.body, true, nil
}

// ObjectsWithPrefix seeks to the whole bytes the prefix names, then
// checks the half byte of an odd prefix.
func (t *tx) ObjectsWithPrefix(prefix string) ([]change.ID, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	p := strings.ToLower(prefix)
	whole, err := hex.DecodeString(p[:len(p)&^1])
	if err != nil || len(p) > 2*len(change.ID{}) {
		return nil, nil // not hex, or longer than an id: no id starts so
	}
	var ids []change.ID
	st.objects.prefixed(string(whole), func(k string, _ *objectRec) bool {
		if len(p)%2 == 0 || hex.EncodeToString([]byte{k[len(whole)]})[0] == p[len(p)-1] {
			ids = append(ids, keyID(k))
		}
		return true
	})
	return ids, nil
}
