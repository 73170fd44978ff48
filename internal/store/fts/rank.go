package fts

import "math"

// Doc is an object as the memory store searches it: the words of its
// columns.
type Doc struct {
	Title, Body, Tags []Token
}

// Len is the words of all its columns, which bm25 weighs a match by.
func (d Doc) Len() int { return len(d.Title) + len(d.Body) + len(d.Tags) }

// Counts is how often each part of q stands in d, in the columns the
// part searches (tags for a tag, else title and body).
func (q Query) Counts(d Doc) []int {
	out := make([]int, len(q.Parts))
	for i, p := range q.Parts {
		if p.Tag {
			out[i] = len(p.Positions(d.Tags))
		} else {
			out[i] = len(p.Positions(d.Title)) + len(p.Positions(d.Body))
		}
	}
	return out
}

// Found reports whether a document of counts (Counts) matches: every
// part that finds stands in it, none that leaves out does.
func (q Query) Found(counts []int) bool {
	for i, p := range q.Parts {
		if (counts[i] > 0) == p.Not {
			return false
		}
	}
	return true
}

// Corpus is what bm25 needs of all the documents indexed: how many there
// are, their words in all, and in how many each part of the query
// stands (Counts > 0).
type Corpus struct {
	Rows, Words int
	Hits        []int
}

// Rank is FTS5's bm25() of a document matching q, with counts (Counts)
// and len words (Doc.Len), among corpus: lower is better, as FTS5's rank
// orders. It is FTS5's computation step by step (fts5Bm25Function: k1
// 1.2, b 0.75, an idf of at most 1e-6 when a phrase is in over half the
// documents), products kept apart so that no fused multiply-add rounds
// otherwise than SQLite: the memory store ranks as the SQLite store.
func (q Query) Rank(c Corpus, counts []int, words int) float64 {
	const k1, b = 1.2, 0.75
	avgdl := float64(c.Words) / float64(c.Rows)
	d := float64(words)
	score := 0.0
	for i := range q.Parts {
		idf := math.Log((float64(c.Rows-c.Hits[i]) + 0.5) / (float64(c.Hits[i]) + 0.5))
		if idf <= 0 {
			idf = 1e-6
		}
		f := float64(counts[i])
		norm := float64(k1 * (float64(1-b) + float64(float64(b*d)/avgdl)))
		score += float64(idf * (float64(f*(k1+1.0)) / (f + norm)))
	}
	return -score
}
