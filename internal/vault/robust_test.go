package vault

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/markdown"
	"mycel/internal/object"
	"mycel/internal/store"
)

// copyFolder copies a data folder as a person would (cp -r), store and
// keys: two stores with one device key.
func copyFolder(t *testing.T, e *Engine) string {
	t.Helper()
	if err := e.db.Update(ctx, func(tx store.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	os.MkdirAll(dst, 0o700)
	// A consistent copy of the store (as cp of a quiet WAL store is), and
	// the keys.
	if err := e.db.CopyTo(ctx, filepath.Join(dst, DBFile), store.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(e.Dir(), SecretsFile))
	os.WriteFile(filepath.Join(dst, SecretsFile), b, 0o600)
	return dst
}

// Two copies of one data folder edit the same page: each refuses the
// other's overlapping change for the same reason, every device keeps the
// same one (not the one it saw first), the copy that receives a change by
// its own key refuses to write until repaired, and repair gives it a key
// of its own and writes its lost edit again: nothing is lost.
func TestSameKeyStoresDoNotForkForGood(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "Shared", Blocks: markdown.Parse("start\n")})
	send(t, a, b, id)
	c, err := Open(copyFolder(t, a)) // a copy of a's folder: same key
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := a.WriteMarkdown(ctx, id, "start\n\nwritten by the original\n", EditOptions{NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteMarkdown(ctx, id, "start\n\nwritten by the copy\n", EditOptions{NewVersion: true}); err != nil {
		t.Fatal(err)
	}
	// b gets the copy's change first, then the original's; a gets the
	// copy's; the copy gets the original's.
	send(t, c, b, id)
	send(t, a, b, id)
	send(t, c, a, id)
	send(t, a, c, id)
	// All three show the same page, whatever order they saw.
	want := md(t, b, id)
	for name, e := range map[string]*Engine{"a": a, "c": c} {
		if got := md(t, e, id); got != want {
			t.Fatalf("%s shows %q, b %q", name, got, want)
		}
	}
	// Both copies now know their key is used elsewhere and refuse to write.
	for _, e := range []*Engine{a, c} {
		if _, err := e.WriteMarkdown(ctx, id, "more\n", EditOptions{}); !errors.Is(err, ErrKeyInUse) || !strings.Contains(err.Error(), "mycel check --repair") {
			t.Fatalf("a copy writes with a key another copy uses: %v", err)
		}
	}
	// Repair: each gets a key of its own and writes again what lost.
	for _, e := range []*Engine{a, c} {
		r, err := e.Check(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Rekeyed {
			t.Fatalf("repair did not give a new key: %+v", r)
		}
	}
	for _, pair := range [][2]*Engine{{a, b}, {c, b}, {b, a}, {b, c}} {
		recs, _ := pair[0].MemberRecords(ctx) // what sync exchanges first
		pair[1].AddMemberRecords(ctx, recs)
		send(t, pair[0], pair[1], id)
	}
	got := md(t, b, id)
	for _, text := range []string{"written by the original", "written by the copy"} {
		if !strings.Contains(got, text) {
			t.Fatalf("after repair, %q is lost: %q", text, got)
		}
	}
	for _, e := range []*Engine{a, c} {
		if md(t, e, id) != got {
			t.Fatalf("after repair the devices differ: %q vs %q", md(t, e, id), got)
		}
		if a.DeviceKey().Equal(c.DeviceKey()) {
			t.Fatal("the copies still share a key")
		}
		if _, err := e.WriteMarkdown(ctx, id, got+"\nagain\n", EditOptions{}); err != nil {
			t.Fatalf("after repair: %v", err)
		}
		if _, err := e.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// A restored backup with its keys is a new device: it and the device it
// came from go on writing without forking anything.
func TestRestoredBackupIsANewDevice(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "T", Blocks: markdown.Parse("x\n")})
	dest := filepath.Join(t.TempDir(), "backup")
	if _, err := a.Backup(ctx, dest, true); err != nil {
		t.Fatal(err)
	}
	r, err := RestoreBackup(ctx, dest, filepath.Join(t.TempDir(), "restored"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.DeviceKey().Equal(a.DeviceKey()) {
		t.Fatal("the restore writes with the backed-up device's key")
	}
	devs, _ := r.Devices(ctx)
	names := map[string]int{}
	for _, d := range devs {
		names[d.Name]++
	}
	if names["laptop"] != 2 {
		t.Fatalf("the restored device does not keep the name: %+v", devs)
	}
	recs, _ := r.MemberRecords(ctx) // what sync exchanges first
	b.AddMemberRecords(ctx, recs)
	a.WriteMarkdown(ctx, id, "x\n\nfrom a\n", EditOptions{})
	r.WriteMarkdown(ctx, id, "x\n\nfrom the restore\n", EditOptions{})
	send(t, a, b, id)
	send(t, r, b, id)
	if got := md(t, b, id); !strings.Contains(got, "from a") || !strings.Contains(got, "from the restore") {
		t.Fatalf("b shows %q", got)
	}
}

// A device that only receives writes snapshots by the same policy as the
// author: opening the object replays a bounded tail, not its history.
func TestReceiversSnapshot(t *testing.T) {
	a, b := pair(t)
	id, _ := a.Create(ctx, NewPage{Title: "Long", Blocks: markdown.Parse("0\n")})
	for i := 1; i <= 300; i++ {
		a.AppendMarkdown(ctx, id, fmt.Sprint(i)+"\n")
	}
	send(t, a, b, id)
	var tail int
	err := b.db.View(ctx, func(tx store.Tx) error {
		l, err := b.load(tx, id)
		tail = l.sinceSnap
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if tail > object.DefaultSnapshotPolicy.MaxChanges || tail > 150 {
		t.Fatalf("opening replays %d changes on the receiver", tail)
	}
	if got, want := md(t, b, id), md(t, a, id); got != want {
		t.Fatalf("receiver %q, author %q", got, want)
	}
}

// A byte flipped in a stored change: the object opens without it (and
// what is built on it), shows it is damaged, and the next sync brings it
// back; then everything is as before.
func TestDamagedChangeIsHealedBySync(t *testing.T) {
	a, b := pair(t)
	id, mid := objectWithHistory(t, a)
	send(t, a, b, id)
	want := md(t, b, id)
	db, err := sql.Open("sqlite", filepath.Join(b.Dir(), DBFile))
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	db.QueryRow(`SELECT raw FROM changes WHERE id = ?`, mid[:]).Scan(&raw)
	raw[len(raw)/2] ^= 1
	if _, err := db.Exec(`UPDATE changes SET raw = ? WHERE id = ?`, raw, mid[:]); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b.forget(id)
	o, err := b.Get(ctx, id)
	if err != nil {
		t.Fatalf("a damaged change makes the object unreadable: %v", err)
	}
	if o.Damaged != 1 || o.Parked == 0 {
		t.Fatalf("damaged %d, parked %d", o.Damaged, o.Parked)
	}
	if n, _ := b.DamagedCount(ctx, id); n != 1 {
		t.Fatalf("damaged count %d", n)
	}
	send(t, a, b, id) // what sync does: the peer sends what b lacks
	o, _ = b.Get(ctx, id)
	if o.Damaged != 0 || o.Parked != 0 || markdown.Render(o.Doc.Blocks()) != want {
		t.Fatalf("after sync: damaged %d, parked %d, %q", o.Damaged, o.Parked, markdown.Render(o.Doc.Blocks()))
	}
	if _, err := b.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// A backup without keys holds no title, snippet or text: only ciphertext.
// Restored with the phrase, its index is rebuilt.
func TestBackupWithoutKeysHoldsOnlyCiphertext(t *testing.T) {
	a, phrase, err := Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	secrets := map[string]string{"Zanzibar holiday plans": "Quetzalcoatl lives in the volcano", "Mortgage papers": "account number 8675309"}
	for title, text := range secrets {
		if _, err := a.Create(ctx, NewPage{Title: title, Blocks: markdown.Parse(text + "\n")}); err != nil {
			t.Fatal(err)
		}
	}
	search(a, "volcano", 5) // the index is filled
	dest := filepath.Join(t.TempDir(), "backup")
	if _, err := a.Backup(ctx, dest, false); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(dest, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		for title, text := range secrets {
			for _, w := range append(strings.Fields(title), strings.Fields(text)...) {
				if len(w) > 5 && bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(w))) {
					t.Errorf("%s holds %q in plaintext", filepath.Base(p), w)
				}
			}
		}
		return nil
	})
	r, err := RestoreBackup(ctx, dest, filepath.Join(t.TempDir(), "restored"), phrase, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if hits, _ := search(r, "volcano", 5); len(hits) != 1 || hits[0].Title != "Zanzibar holiday plans" {
		t.Fatalf("after restore, search: %+v", hits)
	}
	if _, err := r.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}
