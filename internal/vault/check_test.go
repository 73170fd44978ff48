package vault

import (
	"database/sql"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/object"
	"mycel/internal/store"
)

// damage runs SQL on an engine's store file behind its back.
func damage(t *testing.T, e *Engine, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(e.Dir(), DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s changed %d rows", query, n)
	}
}

// runCheck runs Check and returns the kinds of problem found.
func runCheck(t *testing.T, e *Engine, repair bool) (CheckReport, string) {
	t.Helper()
	r, err := e.Check(ctx, repair)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, p := range r.Problems {
		kinds = append(kinds, p.Kind)
	}
	return r, strings.Join(kinds, ",")
}

// objectWithHistory makes an object of a root and four changes and returns
// its id and the id of a change in the middle.
func objectWithHistory(t *testing.T, e *Engine) (change.ID, change.ID) {
	t.Helper()
	id, err := e.Create(ctx, NewPage{Title: "Diary", Blocks: markdown.Parse("one\n")})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"one two\n", "one two three\n", "one two three four\n"} {
		if _, err := e.Edit(ctx, id, EditOptions{}, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse(text)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	ids, _, _ := e.Changes(ctx, id)
	return id, ids[len(ids)/2]
}

func TestCheckPassesAHealthyStore(t *testing.T) {
	a, _ := pair(t)
	a.Policy = object.SnapshotPolicy{MinChanges: 1, MaxChanges: 2} // a local snapshot among the changes
	id, _ := objectWithHistory(t, a)
	if err := a.db.View(ctx, func(tx store.Tx) error { _, err := tx.Snapshot(id); return err }); err != nil {
		t.Fatalf("no snapshot to check: %v", err)
	}
	r, kinds := runCheck(t, a, false)
	if kinds != "" || r.Objects != 1 || r.Changes < 5 {
		t.Fatalf("healthy store: %+v (%s)", r, kinds)
	}
}

// A local snapshot whose state is not what its changes make is found, and
// repair drops it (the object replays from its changes).
func TestCheckFindsAWrongSnapshot(t *testing.T) {
	a, _ := pair(t)
	id, _ := objectWithHistory(t, a)
	err := a.db.Update(ctx, func(tx store.Tx) error {
		l, err := a.load(tx, id)
		if err != nil {
			return err
		}
		t2 := l.doc.Begin(string(a.DeviceKey()))
		t2.SetDetail("title", "Not what the changes say")
		t2.Commit()
		sealed, err := sealSnapshot(l.key, id, l.doc)
		if err != nil {
			return err
		}
		return tx.PutSnapshot(id, store.Snapshot{Seq: l.seq, Sealed: sealed})
	})
	if err != nil {
		t.Fatal(err)
	}
	a.forget(id)
	if _, kinds := runCheck(t, a, false); !strings.Contains(kinds, "snapshot") {
		t.Fatalf("problems %q, want snapshot", kinds)
	}
	runCheck(t, a, true)
	if _, kinds := runCheck(t, a, false); kinds != "" {
		t.Fatalf("after repair: %q", kinds)
	}
	if o, _ := a.Get(ctx, id); o.Title() != "Diary" {
		t.Fatalf("title after repair: %q", o.Title())
	}
}

func TestCheckFindsAndRepairsAStaleIndexRow(t *testing.T) {
	a, _ := pair(t)
	id, _ := objectWithHistory(t, a)
	damage(t, a, `UPDATE objects SET title = 'Stale', changes = 1 WHERE id = ?`, id[:])
	if _, kinds := runCheck(t, a, false); kinds != "index" {
		t.Fatalf("problems %q, want index", kinds)
	}
	r, _ := runCheck(t, a, true)
	if r.Repaired != 1 {
		t.Fatalf("repaired %d objects", r.Repaired)
	}
	if _, kinds := runCheck(t, a, false); kinds != "" {
		t.Fatalf("after repair: %q", kinds)
	}
	if list, _ := a.List(ctx, ListOptions{All: true}); list[0].Title != "Diary" {
		t.Fatalf("index row after repair: %+v", list[0])
	}
}

func TestCheckFindsAFlippedByte(t *testing.T) {
	a, _ := pair(t)
	_, mid := objectWithHistory(t, a)
	db, err := sql.Open("sqlite", filepath.Join(a.Dir(), DBFile))
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := db.QueryRow(`SELECT raw FROM changes WHERE id = ?`, mid[:]).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw[len(raw)/2] ^= 1
	damage(t, a, `UPDATE changes SET raw = ? WHERE id = ?`, raw, mid[:])
	r, kinds := runCheck(t, a, false)
	if kinds != "change" || !strings.Contains(r.Problems[0].Detail, mid.Short()) {
		t.Fatalf("problems %q (%+v), want the damaged change named", kinds, r.Problems)
	}
	// Repair moves it aside (and what is built on it): the object opens
	// without it, shows it is damaged, and check says sync brings it back.
	if r, _ := runCheck(t, a, true); r.Repaired != 1 {
		t.Fatalf("repaired %d", r.Repaired)
	}
	r, kinds = runCheck(t, a, false)
	if kinds != "damaged" || !strings.Contains(r.Problems[0].Detail, "bring it back") {
		t.Fatalf("after repair: %q %+v", kinds, r.Problems)
	}
}

func TestCheckFindsAHoleInTheHistory(t *testing.T) {
	a, _ := pair(t)
	_, mid := objectWithHistory(t, a)
	damage(t, a, `DELETE FROM changes WHERE id = ?`, mid[:])
	r, kinds := runCheck(t, a, false)
	if kinds != "history" || !strings.Contains(r.Problems[0].Detail, mid.Short()) {
		t.Fatalf("problems %q (%+v), want the missing change named", kinds, r.Problems)
	}
}

func TestAnonymizeKeepsShapeOnly(t *testing.T) {
	in := "Hello, World 2026!\n- [ ] Buy milk & eggs.\n"
	out := Anonymize(in)
	if len([]rune(out)) != len([]rune(in)) {
		t.Fatalf("length changed: %q", out)
	}
	for i, r := range []rune(in) {
		o := []rune(out)[i]
		switch {
		case unicode.IsUpper(r) && !unicode.IsUpper(o), unicode.IsLower(r) && !unicode.IsLower(o), unicode.IsDigit(r) && !unicode.IsDigit(o):
			t.Fatalf("kind changed at %d: %q → %q", i, r, o)
		case !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != o:
			t.Fatalf("punctuation or space changed at %d: %q → %q", i, r, o)
		}
	}
	for _, w := range []string{"Hello", "World", "2026", "milk", "eggs"} {
		if strings.Contains(out, w) {
			t.Fatalf("%q survived: %q", w, out)
		}
	}
}

// A JSON export imports into another vault with the same state, links
// pointing to the imported objects; importing it again duplicates nothing,
// and into the vault it came from changes nothing.
func TestExportImportJSON(t *testing.T) {
	a, _ := pair(t)
	target, _ := a.Create(ctx, NewPage{Details: map[string]string{"title": "Target", "tags": "x, y"}, Blocks: markdown.Parse("# Head\n\n- [ ] todo\n- item\n\n> quote\n")})
	src, _ := a.Create(ctx, NewPage{Title: "Source", Blocks: markdown.Parse("see\n\n[Target](" + "mycel:" + target.String() + ")\n")})
	if _, err := a.Archive(ctx, src, true); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "export")
	if n, err := a.ExportJSON(ctx, dir, nil); err != nil || n != 2 {
		t.Fatalf("export: %d, %v", n, err)
	}
	c, _, err := Init(ctx, filepath.Join(t.TempDir(), "c"), "other")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.ImportJSON(ctx, dir)
	if err != nil || r.Created != 2 {
		t.Fatalf("import: %+v, %v", r, err)
	}
	list, _ := c.List(ctx, ListOptions{All: true})
	byTitle := map[string]change.ID{}
	for _, o := range list {
		byTitle[o.Title] = o.ID
	}
	for title, orig := range map[string]change.ID{"Target": target, "Source": src} {
		want, _ := a.Get(ctx, orig)
		got, err := c.Get(ctx, byTitle[title])
		if err != nil {
			t.Fatalf("%s not imported: %v", title, err)
		}
		w, g := markdown.Render(want.Doc.Blocks()), markdown.Render(got.Doc.Blocks())
		if title == "Source" { // the link points to the imported target
			w = strings.ReplaceAll(w, target.String(), byTitle["Target"].String())
		}
		if w != g || !maps.Equal(want.Details, got.Details) {
			t.Fatalf("%s: imported as %q %v, want %q %v", title, g, got.Details, w, want.Details)
		}
	}
	if r, err := c.ImportJSON(ctx, dir); err != nil || r.Created != 0 || r.Unchanged != 2 {
		t.Fatalf("second import: %+v, %v", r, err)
	}
	if list, _ := c.List(ctx, ListOptions{All: true}); len(list) != 2 {
		t.Fatalf("after a second import: %d objects", len(list))
	}
	if r, err := a.ImportJSON(ctx, dir); err != nil || r.Created != 0 || r.Unchanged != 2 {
		t.Fatalf("import into the vault it came from: %+v, %v", r, err)
	}
}
