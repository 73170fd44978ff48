package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mycel/internal/api"
	"mycel/internal/change"
	"mycel/internal/device"
	"mycel/internal/status"
	"mycel/internal/vault"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mycel-cli-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "mycel")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		panic("build mycel: " + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the binary on one data folder.
type cli struct {
	t    *testing.T
	data string
	env  []string
}

func newCLI(t *testing.T) *cli { return &cli{t: t, data: filepath.Join(t.TempDir(), "data")} }

func (c *cli) run(stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(bin, append([]string{"--data", c.data}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// ok runs a command that must succeed and returns its output.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run("", args...)
	if err != nil {
		c.t.Fatalf("mycel %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// fails runs a command that must fail, with stderr naming the cause.
func (c *cli) fails(want string, args ...string) {
	c.t.Helper()
	out, errOut, err := c.run("", args...)
	if err == nil {
		c.t.Fatalf("mycel %s succeeded: %s", strings.Join(args, " "), out)
	}
	if !strings.Contains(errOut, want) {
		c.t.Fatalf("mycel %s: stderr %q does not say %q", strings.Join(args, " "), errOut, want)
	}
}

// withoutMeta drops the id and heads lines from a shown document.
func withoutMeta(md string) string {
	var out []string
	for _, l := range strings.SplitAfter(md, "\n") {
		if !strings.HasPrefix(l, "heads: ") && !strings.HasPrefix(l, "id: ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func jsonOf[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

func TestScenario(t *testing.T) {
	a := newCLI(t)
	a.fails("has no vault", "ls")
	init := jsonOf[map[string]string](t, a.ok("init", "--show-phrase", "--name", "laptop", "--json"))
	if n := len(strings.Fields(init["phrase"])); n != 12 {
		t.Fatalf("phrase has %d words", n)
	}
	a.fails("already holds a vault", "init")

	// A second device from the same phrase has the same vault id.
	b := newCLI(t)
	out, errOut, err := b.run(init["phrase"]+"\n", "recover", "--name", "phone", "--json")
	if err != nil {
		t.Fatalf("recover: %v %s", err, errOut)
	}
	if got := jsonOf[map[string]string](t, out)["vault_id"]; got != init["vault_id"] {
		t.Fatalf("recovered vault id %s, want %s", got, init["vault_id"])
	}
	bad := newCLI(t)
	if _, errOut, err := bad.run(strings.Replace(init["phrase"], strings.Fields(init["phrase"])[0], "notaword", 1), "recover"); err == nil || !strings.Contains(errOut, `("notaword") is not in the BIP39`) {
		t.Fatalf("bad phrase: %v %q", err, errOut)
	}
	if _, err := os.Stat(filepath.Join(bad.data, "secrets.json")); err == nil {
		t.Fatal("a refused recover left keys behind")
	}

	a.fails("needs a title", "new", "--text", "x")
	id := strings.TrimSpace(a.ok("new", "--title", "Garden", "--text", "# Beds\n\n- tomatoes\n\nWater on Sundays."))
	if len(id) != 64 {
		t.Fatalf("new printed %q", id)
	}
	short := id[:6]
	md := filepath.Join(t.TempDir(), "g.md")
	os.WriteFile(md, []byte("---\ntitle: Garden plans\n---\n\n# Beds\n\n- tomatoes\n- basil\n  - genovese\n\nWater on Sundays.\n"), 0o600)
	a.ok("write", short, "--file", md)
	if got := a.ok("write", short, "--file", md); !strings.Contains(got, "No changes") {
		t.Fatalf("writing the same content again: %q", got)
	}

	// Later (past the idle gap, so a new version), edit in a fake $EDITOR.
	a.env = []string{"MYCEL_CLOCK_OFFSET=10m", "VISUAL=", "EDITOR=sed -i s/Sundays/Saturdays/"}
	a.ok("edit", short)
	shown := a.ok("show", short)
	heads := jsonOf[map[string]any](t, a.ok("show", short, "--json"))["heads"].([]any)
	wantNow := "---\nheads: " + heads[0].(string) + "\nid: " + id + "\ntitle: Garden plans\ntype: page\n---\n\n# Beds\n\n- tomatoes\n- basil\n  - genovese\n\nWater on Saturdays.\n"
	if shown != wantNow {
		t.Fatalf("show after edit:\n%s\nwant:\n%s", shown, wantNow)
	}
	a.env = []string{"EDITOR=false"}
	a.fails("nothing was saved", "edit", short)

	// Every command is a version: new, write, edit.
	hist := jsonOf[[]map[string]any](t, a.ok("history", short, "--json"))
	if len(hist) != 3 || hist[0]["device"] != "laptop" {
		t.Fatalf("history = %v", hist)
	}
	d := a.ok("diff", short, "2", "3")
	if !strings.Contains(d, "-Water on Sundays.\n") || !strings.Contains(d, "+Water on Saturdays.\n") {
		t.Fatalf("diff:\n%s", d)
	}
	v1 := a.ok("show", short, "--at", "1")
	a.env = []string{"MYCEL_CLOCK_OFFSET=20m"}
	a.ok("restore", short, "1")
	if got := withoutMeta(a.ok("show", short)); got != v1 {
		t.Fatalf("after restore:\n%s\nwant version 1:\n%s", got, v1)
	}
	if hist := jsonOf[[]map[string]any](t, a.ok("history", short, "--json")); len(hist) != 4 {
		t.Fatalf("restore should add a version: %v", hist)
	}
	a.ok("restore", short, "3") // undo the restore
	if got := withoutMeta(a.ok("show", short)); got != withoutMeta(wantNow) {
		t.Fatalf("after undoing the restore:\n%s", got)
	}
	a.fails("not 9", "restore", short, "9")

	a.ok("append", short, "--text", "- [ ] buy seeds")
	a.ok("set", short, "tags", "home")
	if got := a.ok("show", short, "--format", "json"); !strings.Contains(got, `"checked": "false"`) || !strings.Contains(got, `"tags": "home"`) {
		t.Fatalf("show json: %s", got)
	}
	if hits := jsonOf[[]map[string]any](t, a.ok("search", "genov", "--json")); len(hits) != 1 || hits[0]["id"] != id {
		t.Fatalf("search: %v", hits)
	}
	a.ok("archive", short)
	if ls := jsonOf[[]map[string]any](t, a.ok("ls", "--json")); len(ls) != 0 {
		t.Fatalf("archived object listed: %v", ls)
	}
	if ls := jsonOf[[]map[string]any](t, a.ok("ls", "--all", "--json")); len(ls) != 1 || ls[0]["archived"] != true {
		t.Fatalf("ls --all: %v", ls)
	}
	a.ok("unarchive", short)
	a.fails("no object id starts with", "show", "abcdef")
	a.fails("not an object id", "show", "zz")
}

func TestUpServesUntilInterrupted(t *testing.T) {
	c := newCLI(t)
	cmd := exec.Command(bin, "--data", c.data, "up", "--show-phrase", "--name", "desk")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	client := api.Client(c.data, 5*time.Second)
	var status map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("http://mycel/v1/status")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status = jsonOf[map[string]any](t, string(b))
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("API did not come up: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	if objs, _ := status["objects"].([]any); objs == nil || len(objs) != 0 || status["status"] != "No connection" || len(status["vault_id"].(string)) != 64 {
		t.Fatalf("status = %v", status)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("up did not stop cleanly: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "recovery phrase") || !strings.Contains(out.String(), "Stopped.") {
		t.Fatalf("up output:\n%s", out.String())
	}
}

// downloadingDevice stands in for a running device that is still
// downloading one object.
type downloadingDevice struct{ id string }

func (d downloadingDevice) Status(context.Context, *change.ID) (device.VaultStatus, error) {
	return device.VaultStatus{Status: status.Syncing, Objects: []device.ObjectStatus{{
		ID: d.id, Status: status.Syncing, Reason: "downloading from …node01: 12 of 40 changes",
		Peers: []device.PeerStatus{{Peer: "node01", Node: true, Incoming: true, IncomingCount: 28}},
	}}}, nil
}
func (downloadingDevice) Poke()        {}
func (downloadingDevice) Mode() string { return "all" }

// While the running device is still downloading an object, show says the
// object is incomplete and how far along it is, rather than pretending.
func TestShowSaysIncompleteWhileDownloading(t *testing.T) {
	a := newCLI(t)
	a.ok("init", "--show-phrase", "--name", "laptop")
	id := strings.TrimSpace(a.ok("new", "--title", "Big", "--text", "first part"))
	if _, errOut, _ := a.run("", "show", id); strings.Contains(errOut, "incomplete") {
		t.Fatalf("with no device running, show says: %s", errOut)
	}
	e, err := vault.Open(a.data)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	l, err := api.Listen(a.data)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.Handler(e, downloadingDevice{id})}
	go srv.Serve(l)
	defer srv.Close()

	out, errOut, err := a.run("", "show", id)
	if err != nil || !strings.Contains(out, "first part") {
		t.Fatalf("show: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "incomplete") || !strings.Contains(errOut, "12 of 40 changes") {
		t.Fatalf("show while downloading says %q; want incomplete, 12 of 40 changes", errOut)
	}
	js := jsonOf[map[string]any](t, a.ok("show", id, "--json"))
	if js["incomplete"] != true || !strings.Contains(js["downloading"].(string), "12 of 40") {
		t.Fatalf("show --json while downloading: %v", js)
	}
}

// check passes a healthy store, names what is wrong in a damaged one (exit
// code not 0), and --repair rebuilds what can be rebuilt.
func TestCheck(t *testing.T) {
	a := newCLI(t)
	a.ok("init", "--show-phrase", "--name", "laptop")
	id := strings.TrimSpace(a.ok("new", "--title", "Diary", "--text", "one"))
	a.ok("append", id, "--text", "two")
	if out := a.ok("check"); !strings.Contains(out, "all good") {
		t.Fatalf("healthy: %s", out)
	}
	db, err := sql.Open("sqlite", filepath.Join(a.data, vault.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	full, _ := change.ParseID(id)
	if _, err := db.Exec(`UPDATE objects SET title = 'Stale' WHERE id = ?`, full[:]); err != nil {
		t.Fatal(err)
	}
	a.fails("problems remain", "check")
	if out, _, _ := a.run("", "check"); !strings.Contains(out, "index") || !strings.Contains(out, "--repair") {
		t.Fatalf("check does not name the problem and its fix:\n%s", out)
	}
	if out := a.ok("check", "--repair"); !strings.Contains(out, "Repaired 1 objects") {
		t.Fatalf("repair: %s", out)
	}
	a.ok("check")
	if out := a.ok("ls"); !strings.Contains(out, "Diary") {
		t.Fatalf("ls after repair: %s", out)
	}
	// A change damaged on disk cannot be repaired here.
	var cid, raw []byte
	if err := db.QueryRow(`SELECT id, raw FROM changes WHERE object = ? ORDER BY seq DESC LIMIT 1`, full[:]).Scan(&cid, &raw); err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0x10
	if _, err := db.Exec(`UPDATE changes SET raw = ? WHERE id = ?`, raw, cid); err != nil {
		t.Fatal(err)
	}
	a.fails("problems remain", "check", "--repair")
	r := jsonOf[map[string]any](t, func() string { out, _, _ := a.run("", "check", "--json"); return out }())
	if r["remaining"] != float64(1) {
		t.Fatalf("check --json: %v", r)
	}
}

// A backup taken while another process keeps writing restores, whole and
// consistent, on another device: with the phrase as a new device, or with
// the device key as the same device; a damaged backup or a folder in use
// is refused.
func TestBackupWhileWriting(t *testing.T) {
	a := newCLI(t)
	phrase := jsonOf[map[string]string](t, a.ok("init", "--show-phrase", "--name", "laptop", "--json"))["phrase"]
	id := strings.TrimSpace(a.ok("new", "--title", "Log", "--text", "start"))
	stop := make(chan struct{})
	done := make(chan int)
	go func() { // the writer: one process per edit, as fast as it goes
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			if _, _, err := a.run("", "append", id, "--text", fmt.Sprintf("line %d", n)); err == nil {
				n++
			}
		}
	}()
	dest := filepath.Join(t.TempDir(), "backup")
	var m map[string]any
	for i := 0; i < 3; i++ { // backups while it writes
		d := fmt.Sprintf("%s%d", dest, i)
		m = jsonOf[map[string]any](t, a.ok("backup", d, "--json"))
		dest = d
	}
	close(stop)
	if n := <-done; n == 0 {
		t.Fatal("the writer wrote nothing meanwhile")
	}
	keyed := filepath.Join(t.TempDir(), "keyed")
	a.ok("backup", keyed, "--include-device-key")

	// Restored with the phrase: a new device, every change of the backup.
	b := newCLI(t)
	if _, errOut, err := b.run(phrase+"\n", "restore-backup", dest, "--name", "restored"); err != nil {
		t.Fatalf("restore: %v %s", err, errOut)
	}
	if out := b.ok("check"); !strings.Contains(out, "all good") {
		t.Fatalf("check after restore: %s", out)
	}
	r := jsonOf[map[string]any](t, b.ok("check", "--json"))
	if r["changes"] != m["changes"] || r["objects"] != m["objects"] {
		t.Fatalf("restored %v changes of %v objects, the manifest says %v of %v", r["changes"], r["objects"], m["changes"], m["objects"])
	}
	if devs := b.ok("devices"); !strings.Contains(devs, "restored") || !strings.Contains(devs, "laptop") {
		t.Fatalf("devices after restore: %s", devs)
	}
	// Restored with the key: the same device, no phrase.
	c := newCLI(t)
	c.ok("restore-backup", keyed)
	type devicesReply struct {
		Devices []struct {
			Key  string
			This bool `json:"this_device"`
		}
	}
	thisDevice := func(c *cli) string {
		for _, d := range jsonOf[devicesReply](t, c.ok("devices", "--json")).Devices {
			if d.This {
				return d.Key
			}
		}
		return ""
	}
	// Even with the keys, a restore is a new device (two stores writing
	// with one key would fork pages), named like the one backed up.
	if ad, cd := thisDevice(a), thisDevice(c); ad == "" || cd == "" || ad == cd {
		t.Fatalf("keyed restore is device %q, the original %q", cd, ad)
	}
	if bd := thisDevice(b); bd == "" || bd == thisDevice(a) {
		t.Fatalf("a restore with the phrase is device %q, the same as the original", bd)
	}
	c.fails("not empty", "restore-backup", keyed)
	// A damaged backup is refused.
	f := filepath.Join(dest, vault.DBFile)
	raw, _ := os.ReadFile(f)
	raw[len(raw)/2] ^= 1
	os.WriteFile(f, raw, 0o600)
	d := newCLI(t)
	if _, errOut, err := d.run(phrase+"\n", "restore-backup", dest); err == nil || !strings.Contains(errOut, "damaged") {
		t.Fatalf("restoring a damaged backup: %v %s", err, errOut)
	}
}

// A diagnostics file shows an object's graph but none of its words, unless
// asked; never the device names.
func TestDiagnosticsHideContent(t *testing.T) {
	a := newCLI(t)
	a.ok("init", "--show-phrase", "--name", "Marguerite's laptop")
	id := strings.TrimSpace(a.ok("new", "--title", "Zanzibar itinerary", "--text", "Pack the snorkelling equipment, 42 sunscreen tubes."))
	a.ok("append", id, "--text", "Remember Mombasa ferry timetable.")
	secret := []string{"Zanzibar", "itinerary", "snorkelling", "equipment", "sunscreen", "Mombasa", "timetable", "Marguerite"}
	f := filepath.Join(t.TempDir(), "diag.json")
	a.ok("diagnostics", id, "-o", f)
	b, _ := os.ReadFile(f)
	for _, w := range secret {
		if strings.Contains(strings.ToLower(string(b)), strings.ToLower(w)) {
			t.Fatalf("diagnostics hold %q:\n%s", w, b)
		}
	}
	d := jsonOf[vault.Diagnostics](t, string(b))
	if !d.Anonymized || len(d.Changes) < 3 || len(d.Heads) != 1 || len(d.Verification) != 0 || d.StoreFormat == 0 {
		t.Fatalf("diagnostics: %+v", d)
	}
	// The shape is kept: same length, same punctuation.
	if len(d.Text) == 0 || !strings.Contains(d.Text, ", ") || !strings.HasSuffix(strings.TrimSpace(d.Text), ".") {
		t.Fatalf("anonymized text lost its shape: %q", d.Text)
	}
	if len(d.Log) != 0 {
		t.Fatalf("log lines with no log: %q", d.Log)
	}
	a.fails("give a new file", "diagnostics", id, "-o", f)
	// The sync log's lines about this object, and only those, come along.
	full, _ := change.ParseID(id)
	os.WriteFile(filepath.Join(a.data, vault.LogFile), []byte("level=WARN msg=\"change refused\" object="+full.Short()+" err=x\nlevel=INFO msg=other object=0123456789ab\n"), 0o600)
	h := filepath.Join(t.TempDir(), "diag-log.json")
	a.ok("diagnostics", id, "-o", h)
	hb, _ := os.ReadFile(h)
	if dl := jsonOf[vault.Diagnostics](t, string(hb)).Log; len(dl) != 1 || !strings.Contains(dl[0], "change refused") {
		t.Fatalf("log lines %q", dl)
	}
	g := filepath.Join(t.TempDir(), "diag-content.json")
	a.ok("diagnostics", id, "-o", g, "--include-content")
	c, _ := os.ReadFile(g)
	for _, w := range secret[:7] {
		if !strings.Contains(string(c), w) {
			t.Fatalf("with --include-content, %q is missing", w)
		}
	}
	if strings.Contains(string(c), "Marguerite") {
		t.Fatal("diagnostics hold a device name")
	}
}

// export → import (JSON) through the command line, into another vault and
// again without duplicates.
func TestExportImport(t *testing.T) {
	a, b := newCLI(t), newCLI(t)
	a.ok("init", "--show-phrase", "--name", "laptop")
	b.ok("init", "--show-phrase", "--name", "desk")
	a.ok("new", "--title", "Recipes", "--text", "# Bread\n\n- flour\n- water")
	a.ok("new", "--title", "Garden", "--text", "Water on Sundays.")
	dir := filepath.Join(t.TempDir(), "export")
	if out := a.ok("export", dir, "--format", "json"); !strings.Contains(out, "Exported 2 objects") {
		t.Fatalf("export: %s", out)
	}
	a.fails("not empty", "export", dir)
	a.fails("markdown, obsidian or json", "export", filepath.Join(t.TempDir(), "x"), "--format", "pdf")
	md := filepath.Join(t.TempDir(), "md")
	a.ok("export", md)
	c := newCLI(t)
	c.ok("init", "--show-phrase", "--name", "other")
	if out := c.ok("import", md); !strings.Contains(out, ": 2 new objects, 0 updated") {
		t.Fatalf("import markdown: %s", out)
	}
	if ls := c.ok("ls"); !strings.Contains(ls, "Recipes") || !strings.Contains(ls, "Garden") {
		t.Fatalf("after a Markdown import:\n%s", ls)
	}
	if out := b.ok("import", dir); !strings.Contains(out, "2 new objects") {
		t.Fatalf("import: %s", out)
	}
	if out := b.ok("import", dir); !strings.Contains(out, "0 new objects") {
		t.Fatalf("second import: %s", out)
	}
	ls := b.ok("ls")
	if strings.Count(ls, "Recipes") != 1 || strings.Count(ls, "Garden") != 1 {
		t.Fatalf("after two imports:\n%s", ls)
	}
	b.fails("not a folder", "import", filepath.Join(t.TempDir(), "none"))
}

// What a person does through the CLI loses nothing: a change stored while
// the editor is open (here by another process, as `mycel up` would store
// one from another device) stays; a wrong file written seconds after
// creating a page can be undone; the bin hides and gives back.
func TestNothingLostByEditing(t *testing.T) {
	a := newCLI(t)
	a.ok("init", "--show-phrase", "--name", "laptop")
	id := strings.TrimSpace(a.ok("new", "--title", "Plan", "--text", "first\n\nsecond"))
	script := filepath.Join(t.TempDir(), "editor.sh")
	// The "editor": meanwhile a change arrives; then the person edits.
	os.WriteFile(script, []byte("#!/bin/sh\n"+bin+" --data "+a.data+" write "+id+" --file - <<EOF\nfirst\n\nsecond, arrived meanwhile\nEOF\nsed -i s/^first$/first,\\ edited/ \"$1\"\n"), 0o700)
	a.env = []string{"VISUAL=", "EDITOR=" + script}
	if out := a.ok("edit", id); !strings.Contains(out, "merged") {
		t.Fatalf("edit: %s", out)
	}
	a.env = nil
	if got := withoutMeta(a.ok("show", id)); !strings.Contains(got, "first, edited\n\nsecond, arrived meanwhile\n") {
		t.Fatalf("after the edit:\n%s", got)
	}
	// A wrong file right after creating a page: undone.
	b := strings.TrimSpace(a.ok("new", "--title", "Letter", "--text", "the original"))
	wrong := filepath.Join(t.TempDir(), "wrong.md")
	os.WriteFile(wrong, []byte("oops\n"), 0o600)
	a.ok("write", b, "--file", wrong)
	a.ok("restore", b, "1")
	if got := withoutMeta(a.ok("show", b)); !strings.HasSuffix(got, "the original\n") {
		t.Fatalf("after undo:\n%s", got)
	}
	// The bin.
	a.ok("rm", b)
	if ls := a.ok("ls"); strings.Contains(ls, "Letter") {
		t.Fatalf("ls shows a page in the bin:\n%s", ls)
	}
	if bin := a.ok("bin"); !strings.Contains(bin, "Letter") {
		t.Fatalf("bin:\n%s", bin)
	}
	if _, errOut, _ := a.run("", "show", b); !strings.Contains(errOut, "in the bin") {
		t.Fatalf("show of a page in the bin says nothing: %q", errOut)
	}
	a.ok("rm", "--undo", b)
	if ls := a.ok("ls"); !strings.Contains(ls, "Letter") {
		t.Fatalf("after rm --undo:\n%s", ls)
	}
	if steps := jsonOf[[]map[string]any](t, a.ok("history", b, "--all", "--json")); len(steps) != 6 {
		t.Fatalf("history --all: %v", steps)
	}
}

// Links between pages are data, across processes: a [[Title]] typed into a
// page becomes a mention of that page by id, so renaming the page breaks
// nothing; backlinks and show say what links where, show --json gives the
// marks; a link to a page in the bin is said to be.
func TestLinksBetweenPages(t *testing.T) {
	a := newCLI(t)
	a.ok("init", "--show-phrase", "--name", "laptop")
	garden := strings.TrimSpace(a.ok("new", "--title", "Garden", "--text", "Water on Sundays."))
	home := strings.TrimSpace(a.ok("new", "--title", "Home", "--text", "See the **[[Garden|beds]]** and [[Nowhere]]."))
	a.ok("set", garden, "title", "Allotment")
	if out := a.ok("backlinks", garden); !strings.Contains(out, "Home") {
		t.Fatalf("backlinks: %s", out)
	}
	_, errOut, err := a.run("", "show", garden)
	if err != nil || !strings.Contains(errOut, `linked from "Home"`) {
		t.Fatalf("show: %v %s", err, errOut)
	}
	var doc struct {
		Blocks []struct {
			Text  string `json:"text"`
			Marks []struct {
				Start, End int
				Type       string
				Value      string
			} `json:"marks"`
		} `json:"blocks"`
		Links []struct {
			ID, Title string
			Missing   bool `json:"missing"`
		} `json:"links"`
	}
	if err := json.Unmarshal([]byte(a.ok("show", home, "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Blocks) != 1 || doc.Blocks[0].Text != "See the beds and Nowhere." || len(doc.Links) != 1 || doc.Links[0].Title != "Allotment" {
		t.Fatalf("home: %+v", doc)
	}
	var bold, mention, unresolved bool
	for _, m := range doc.Blocks[0].Marks {
		bold = bold || m.Type == "bold" && m.Start == 8 && m.End == 12
		mention = mention || m.Type == "mention" && strings.HasPrefix(m.Value, garden[:12])
		unresolved = unresolved || m.Type == "mention" && m.Value == "Nowhere"
	}
	if !bold || !mention || !unresolved {
		t.Fatalf("marks %+v", doc.Blocks[0].Marks)
	}
	a.ok("rm", garden)
	if _, errOut, _ := a.run("", "show", home); !strings.Contains(errOut, "in the bin") {
		t.Fatalf("show of a page linking to one in the bin: %s", errOut)
	}
}
