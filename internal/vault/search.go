package vault

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/store"
	"mycel/internal/store/fts"
)

// SearchOptions say which page of a search Search returns.
type SearchOptions struct {
	// Limit bounds the hits returned (0: all); After continues a search
	// after the hit whose Cursor it is (empty: from the first hit).
	Limit int
	After string
}

// SearchHit is a search result, and where the results after it start.
type SearchHit struct {
	store.Hit
	Cursor string // SearchOptions.After for the page after this hit
}

// SearchPage is a page of search results, best first.
type SearchPage struct {
	Hits []SearchHit
	// More says that hits follow the last: the next page is After the
	// last hit's Cursor.
	More bool
}

// Search runs a full-text search over titles, text and tags (the query
// language is package fts's: words, the last a prefix, "phrases",
// tag:NAME, -word); objects in the bin are left out. Hits come by bm25,
// then id: a total order, so that the pages of a search, each After the
// last hit of the one before, neither repeat nor skip a hit (an edit
// between two pages may move a hit across the cut, as with ls). It is
// the one search of the CLI, the local API and the web app.
func (e *Engine) Search(ctx context.Context, query string, opt SearchOptions) (SearchPage, error) {
	q, err := fts.Parse(query)
	if err != nil {
		return SearchPage{}, &SearchError{fmt.Errorf("search: %w", err)}
	}
	sq := store.SearchQuery{Query: q}
	if opt.After != "" {
		if sq.After, err = parseCursor(opt.After, q); err != nil {
			return SearchPage{}, &SearchError{err}
		}
	}
	if opt.Limit > 0 {
		sq.Limit = opt.Limit + 1 // one more says whether there are more
	}
	// On a full disk the search goes on over the text as last indexed.
	if err := e.refreshText(ctx); err != nil && !errors.Is(err, store.ErrFull) {
		return SearchPage{}, err
	}
	var hits []store.Hit
	err = e.db.View(ctx, func(tx store.Tx) (err error) {
		hits, err = tx.Search(sq)
		return err
	})
	if err != nil {
		return SearchPage{}, err
	}
	var page SearchPage
	if opt.Limit > 0 && len(hits) > opt.Limit {
		hits, page.More = hits[:opt.Limit], true
	}
	for _, h := range hits {
		page.Hits = append(page.Hits, SearchHit{h, cursorOf(h, q)})
	}
	return page, nil
}

// SearchError is a query or cursor that cannot be searched: the asker's
// to fix (the local API answers it 400, not 500).
type SearchError struct{ err error }

func (e *SearchError) Error() string { return e.err.Error() }
func (e *SearchError) Unwrap() error { return e.err }

// A cursor is the rank and id of the hit a page ends with (the store's
// SearchAfter), and 4 bytes of a hash of the query it was a hit of, so
// that a cursor given to another search is an error, not a page of
// something else: base64url of cursorVersion, the rank's 8 bytes, the id
// and the hash.
const (
	cursorVersion = 1
	cursorLen     = 1 + 8 + len(change.ID{}) + 4
)

func cursorOf(h store.Hit, q fts.Query) string {
	b := make([]byte, 0, cursorLen)
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(h.Rank))
	b = append(b, h.ID[:]...)
	b = append(b, queryHash(q)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func queryHash(q fts.Query) []byte {
	sum := sha256.Sum256([]byte(q.String()))
	return sum[:4]
}

// parseCursor reads a cursor of q's hits (see cursorOf).
func parseCursor(s string, q fts.Query) (*store.SearchAfter, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != cursorLen || b[0] != cursorVersion {
		return nil, fmt.Errorf("search after %q: not a cursor of a search (each page of results ends with the one for the next)", s)
	}
	if string(b[cursorLen-4:]) != string(queryHash(q)) {
		return nil, fmt.Errorf("search after %q: the cursor is of another search: search for the same words as on the page before, or start again without the cursor", s)
	}
	a := &store.SearchAfter{Rank: math.Float64frombits(binary.BigEndian.Uint64(b[1:9]))}
	copy(a.ID[:], b[9:cursorLen-4])
	return a, nil
}

// tagsOf is what tag:NAME finds an object by: the tags of its tags detail
// (a list, "[a, b]", as a Markdown import writes it, or names apart by
// commas or spaces, as typed: "home, food"), and the #tags of its text,
// which a notes app takes for tags too.
func tagsOf(details map[string]string, blocks []*crdt.Block) []string {
	v := details["tags"]
	tags, ok := markdown.ListItems(v)
	if !ok {
		tags = strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	}
	return append(tags, markdown.Tags(blocks)...)
}
