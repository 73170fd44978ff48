package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/fts"
)

// benchText is a page of n words drawn from a vocabulary of 5,000 (some
// words far more common than others, as in notes), a Japanese sentence
// in one page of ten and an emoji in one of twenty.
func benchText(r *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString([]string{" ", " ", " ", ", ", ". ", "\n"}[r.IntN(6)])
		}
		w := int(r.ExpFloat64() * 400)
		fmt.Fprintf(&b, "w%d", w%5000)
	}
	if r.IntN(10) == 0 {
		b.WriteString(" 私は日本語を勉強しています。東京タワーに行きました。")
	}
	if r.IntN(20) == 0 {
		b.WriteString(" 🌱")
	}
	return b.String()
}

// hugeText is a page of 2.5 MB whose only "needle" is near its end.
func hugeText() string {
	filler := strings.Repeat("lorem ipsum dolor sit amet consectetur ", 64_000) // 2.5 MB
	return filler[:len(filler)-1000] + " the needle is here " + filler[len(filler)-1000:]
}

// benchStore is a store of n pages of about 150 words, and one of
// 2.5 MB titled "Haystack".
func benchStore(b *testing.B, n int) *DB {
	b.Helper()
	db, err := Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	r := rand.New(rand.NewPCG(1, 2))
	err = db.Update(context.Background(), func(tx store.Tx) error {
		for i := range n {
			o := store.Object{ID: change.ID{byte(i >> 16), byte(i >> 8), byte(i), 1}, Title: fmt.Sprintf("Note %d w%d", i, r.IntN(5000)), Type: "page",
				Created: time.UnixMilli(1000), Updated: time.UnixMilli(int64(1000 + i)), Body: benchText(r, 50+r.IntN(200)), Tags: []string{fmt.Sprint("t", i%50)}}
			if err := tx.PutObject(o); err != nil {
				return err
			}
		}
		return tx.PutObject(store.Object{ID: change.ID{0xff, 1}, Title: "Haystack lorem", Type: "page", Created: time.UnixMilli(1000), Updated: time.UnixMilli(1000), Body: hugeText()})
	})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkSearch searches 10,000 pages and one of 2.5 MB: a common word
// (hits everywhere, a page of 20), a rare one, a phrase, a tag, CJK and
// emoji, the needle near the end of the big page, its title alone, and
// the fifth page of 20 of a common word through the cursor.
func BenchmarkSearch(b *testing.B) {
	db := benchStore(b, 10_000)
	var after *store.SearchAfter
	q, _ := fts.Parse("w1")
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(db.View(context.Background(), func(tx store.Tx) error {
		for range 4 {
			hits, err := tx.Search(store.SearchQuery{Query: q, Limit: 20, After: after})
			if err != nil {
				return err
			}
			last := hits[len(hits)-1]
			after = &store.SearchAfter{Rank: last.Rank, ID: last.ID}
		}
		return nil
	}))
	for _, c := range []struct {
		name, query string
		after       *store.SearchAfter
		min         int
	}{
		{"common", "w1", nil, 20},
		{"prefix", "w12", nil, 20},
		{"rare", "w4999", nil, 0},
		{"phrase", `"w1 w2"`, nil, 1},
		{"tag", "tag:t7", nil, 20},
		{"cjk", "東京", nil, 20},
		{"emoji", "🌱", nil, 20},
		{"needle", "needle", nil, 1},
		{"title", "haystack", nil, 1},
		{"page5", "w1", after, 20},
	} {
		q, err := fts.Parse(c.query)
		must(err)
		b.Run(c.name, func(b *testing.B) {
			cpu := cpuTime()
			defer func() { b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op") }()
			for b.Loop() {
				must(db.View(context.Background(), func(tx store.Tx) error {
					hits, err := tx.Search(store.SearchQuery{Query: q, Limit: 20, After: c.after})
					if err == nil && len(hits) < c.min {
						err = fmt.Errorf("%d hits", len(hits))
					}
					return err
				}))
			}
		})
	}
}

// cpuTime is the CPU time this process has used: on a machine shared
// with other work, steadier than the time on the clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIndexFormats indexes 3,000 pages (and the page of 2.5 MB) the
// ways considered for finding CJK and emoji, and reports the file's size
// and the time: format 6's FTS5 table of the text itself (which finds
// neither), format 7's contentless table of fts.IndexText with the text
// in a table beside it, and format 6's with a trigram table beside it
// (which finds no word of fewer than 3 characters: not 東京). Run with
// -benchtime=1x.
func BenchmarkIndexFormats(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var bodies []string
	for range 3000 {
		bodies = append(bodies, benchText(r, 50+r.IntN(200)))
	}
	bodies = append(bodies, hugeText())
	for _, f := range []struct {
		name, schema string
		insert       []string // the text as typed, then as indexed
		index        func(string) string
	}{
		{"unicode61", `CREATE VIRTUAL TABLE f USING fts5(id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2')`,
			[]string{`INSERT INTO f(id, title, body) VALUES (?, 'Note', ?)`}, nil},
		{"indextext", `CREATE VIRTUAL TABLE f USING fts5(title, body, tags, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE texts (rowid INTEGER PRIMARY KEY, id BLOB NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)`,
			[]string{`INSERT INTO texts(id, title, body) VALUES (?, 'Note', ?)`, `INSERT INTO f(rowid, title, body, tags) VALUES (last_insert_rowid(), 'note', ?, '')`}, fts.IndexText},
		{"indextext-prefix", `CREATE VIRTUAL TABLE f USING fts5(title, body, tags, content = '', contentless_delete = 1, prefix = '2 3', tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE texts (rowid INTEGER PRIMARY KEY, id BLOB NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL)`,
			[]string{`INSERT INTO texts(id, title, body) VALUES (?, 'Note', ?)`, `INSERT INTO f(rowid, title, body, tags) VALUES (last_insert_rowid(), 'note', ?, '')`}, fts.IndexText},
		{"trigram", `CREATE VIRTUAL TABLE f USING fts5(id UNINDEXED, title, body, tokenize = 'unicode61 remove_diacritics 2');
CREATE VIRTUAL TABLE g USING fts5(title, body, content = 'f', tokenize = 'trigram')`,
			[]string{`INSERT INTO f(id, title, body) VALUES (?, 'Note', ?)`, `INSERT INTO g(rowid, title, body) VALUES (last_insert_rowid(), 'Note', ?)`}, nil},
	} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				path := filepath.Join(b.TempDir(), "f.db")
				db, err := sql.Open("sqlite", "file:"+path)
				if err != nil {
					b.Fatal(err)
				}
				db.SetMaxOpenConns(1)
				if _, err := db.Exec(f.schema); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				for i, body := range bodies {
					if _, err := tx.Exec(f.insert[0], []byte{byte(i >> 8), byte(i)}, body); err != nil {
						b.Fatal(err)
					}
					if len(f.insert) > 1 {
						indexed := body
						if f.index != nil {
							indexed = f.index(body)
						}
						if _, err := tx.Exec(f.insert[1], indexed); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				took := time.Since(start)
				// The CJK word of two characters each finds.
				q := `"東京"`
				if f.index != nil {
					q = `"東 京"`
				}
				var n int
				if err := db.QueryRow(`SELECT count(*) FROM f WHERE f MATCH ?`, q).Scan(&n); err != nil {
					b.Fatal(err)
				}
				if f.name == "trigram" {
					if err := db.QueryRow(`SELECT count(*) FROM g WHERE g MATCH ?`, q).Scan(&n); err != nil {
						b.Fatal(err)
					}
				}
				// A prefix of two characters, in every other page.
				pstart := time.Now()
				for range 10 {
					rows, err := db.Query(`SELECT rowid FROM f WHERE f MATCH '"w1"*' ORDER BY rank LIMIT 20`)
					if err != nil {
						b.Fatal(err)
					}
					for rows.Next() {
					}
					rows.Close()
				}
				b.ReportMetric(time.Since(pstart).Seconds()*100, "ms/prefix")
				db.Close()
				b.ReportMetric(float64(n), "東京-hits")
				st, err := os.Stat(path)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(st.Size())/1e6, "MB")
				b.ReportMetric(took.Seconds(), "s/index")
			}
		})
	}
}
