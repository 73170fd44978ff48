package vault

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/keys"
	"mycel/internal/store/memstore"
)

// fuzzEngine is a vault for a fuzz target, over memory (fast), with one
// object of its own so that exports can name an object of this vault.
func fuzzEngine(f *testing.F) (*Engine, string) {
	phrase, err := keys.NewPhrase()
	if err != nil {
		f.Fatal(err)
	}
	e, err := Create(ctx, filepath.Join(f.TempDir(), "v"), memstore.New(), phrase, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { e.Close() })
	id, err := e.Create(ctx, NewPage{Title: "Mine"})
	if err != nil {
		f.Fatal(err)
	}
	return e, id.String()
}

// listed maps every object (archived and in the bin too) to when it was
// last updated.
func listed(t *testing.T, e *Engine) map[change.ID]time.Time {
	objs, err := e.List(ctx, ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[change.ID]time.Time, len(objs))
	for _, o := range objs {
		out[o.ID] = o.Updated
	}
	return out
}

// Whatever a JSON export's manifest and object file hold (a stranger's
// crafted folder), importing it never panics, and what it creates or
// updates is a readable object.
func FuzzImportJSON(f *testing.F) {
	e, mine := fuzzEngine(f)
	other := strings.Repeat("ab", 32)
	manifest := func(ids ...string) string {
		b, _ := json.Marshal(exportManifest{Format: "mycel-json", Version: 1, Objects: ids})
		return string(b)
	}
	for _, seed := range [][2]string{
		{manifest(other), `{"id":"` + other + `","details":{"title":"T"},"blocks":[{"id":"1","type":"paragraph","text":"x","children":[{"id":"2","type":"todo","text":"y"}]}]}`},
		{manifest(mine), `{"id":"` + mine + `","details":{"title":"New"},"heads":["` + strings.Repeat("00", 32) + `"]}`},
		{manifest(mine), `{"id":"` + mine + `","details":{"title":""},"blocks":[{"id":"1","type":"link","attrs":{"target":"mycel:` + other + `"}}]}`},
		{manifest(other), `{"id":"` + other + `","details":{"archived":"true","deleted":"true","id":"x"},"blocks":[{"id":"1","type":"no such type"},{"id":"1"}]}`},
		{manifest(other), `{"id":"` + other + `","blocks":[{"id":"","children":[{"children":[{}]}]}]}`},
		{manifest(other, other), `{"id":"` + other + `","heads":["zz"]}`},
		{`{"format":"mycel-json","version":1,"objects":["../../etc/passwd"]}`, `{}`},
		{`{"format":"mycel-json","version":2}`, `null`},
		{`[]`, `{"id":1}`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, manifest, object string) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ExportManifest), []byte(manifest), 0o600)
		var m exportManifest
		if json.Unmarshal([]byte(manifest), &m) == nil {
			for _, id := range m.Objects {
				if len(id) == 64 && !strings.ContainsAny(id, `/\.`) {
					os.WriteFile(filepath.Join(dir, id+".json"), []byte(object), 0o600)
				}
			}
		}
		before := listed(t, e)
		if _, err := e.ImportJSON(ctx, dir); err != nil {
			return
		}
		// The objects the import made or changed (only those: reading
		// every object each time would slow the fuzzer down as it goes).
		for id, updated := range listed(t, e) {
			if was, ok := before[id]; ok && was.Equal(updated) {
				continue
			}
			if _, err := e.Get(ctx, id); err != nil {
				t.Fatalf("imported object %s unreadable: %v", id.Short(), err)
			}
		}
	})
}

// Whatever Markdown files a folder holds (front matter, links, fences,
// invalid text), importing it never panics and each file becomes a
// readable object with a title.
func FuzzImportMarkdown(f *testing.F) {
	e, _ := fuzzEngine(f)
	for _, seed := range [][2]string{
		{"---\ntitle: A\ntags: [x, y]\n---\n# H\n\n[[B]]\n", "[back](A.md)\n"},
		{"---\nid: ab\nheads: cd\narchived: true\ntitle:\n---\n", "---\n---\n"},
		{"```\n[[B]]\n```\n[[B|alias]] and `[[B]]`\n", "[[A#section|x]]\n[x](../A.md)\n[y](B.md)\n"},
		{"[[]]\n[[|]]\n[](.md)\n", "\xff\xfe not text"},
		{"---\ntitle: \"unterminated\n", "~~~~\n```\n~~~\n"},
		{"\x00\r\n\r\n---", "- [ ] todo\n  - nested\n> quote\n\\[[not]]\n"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "A.md"), []byte(a), 0o600)
		os.WriteFile(filepath.Join(dir, "B.md"), []byte(b), 0o600)
		before := listed(t, e)
		r, err := e.ImportMarkdown(ctx, dir)
		if err != nil {
			return
		}
		after := listed(t, e)
		if len(after) != len(before)+r.Created {
			t.Fatalf("%d objects created, %d more listed", r.Created, len(after)-len(before))
		}
		for id := range after {
			if _, old := before[id]; old {
				continue
			}
			got, err := e.Get(ctx, id)
			if err != nil || got.Title() == "" {
				t.Fatalf("imported object %s: %v, title %q", id.Short(), err, got.Title())
			}
		}
	})
}

// Whatever a data folder's secrets.json holds (damaged, truncated, edited
// by hand), reading it never panics: it is refused, or it gives keys of
// the right sizes that derive a vault.
func FuzzReadSecrets(f *testing.F) {
	good, _ := json.Marshal(secrets{Version: 1, VaultSeed: make([]byte, 64), DeviceSeed: make([]byte, 32)})
	for _, s := range []string{string(good), `{"version":1}`, `{"version":1,"vault_seed":"AAAA","device_seed":"AAAA"}`,
		`{"version":1,"vault_seed":null,"device_seed":[]}`, `{"version":"1"}`, `{"version":1e400}`,
		strings.Replace(string(good), `"version":1`, `"version":1,"version":2`, 1), string(good[:len(good)/2]), "", "\x00", "[]", "null"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, SecretsFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := readSecrets(dir)
		if err != nil {
			return
		}
		if len(s.VaultSeed) != 64 || len(s.DeviceSeed) != ed25519.SeedSize {
			t.Fatalf("accepted seeds of %d and %d bytes", len(s.VaultSeed), len(s.DeviceSeed))
		}
		if _, err := keys.DeriveVault(s.VaultSeed); err != nil {
			t.Fatalf("accepted a seed that derives no vault: %v", err)
		}
		ed25519.NewKeyFromSeed(s.DeviceSeed)
	})
}
