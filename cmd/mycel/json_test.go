package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
)

// jsonRun is one invocation: arguments (after --data), standard input,
// extra environment, and the data folder (default: the prepared vault).
type jsonRun struct {
	args  []string
	stdin string
	env   []string
	on    *cli
}

// jsonCase is a command with one run that succeeds and one that fails.
// gap, when set, says why the success's output is not JSON yet (it is
// printed by a file another branch owns); the failure is checked anyway.
type jsonCase struct {
	command  string
	ok, fail jsonRun
	gap      string
}

// oneJSON reports whether s is exactly one JSON document.
func oneJSON(s string) error {
	dec := json.NewDecoder(strings.NewReader(s))
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON document")
	}
	return nil
}

// With --json every command prints one JSON document on stdout, and a
// failing one {"error": "…"} on stderr with the message it prints without
// --json, and a non-zero exit code. Every command of the tree is listed.
func TestJSONEverywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every command, benchmarks and a node included")
	}
	dir := t.TempDir()
	a := newCLI(t)
	phrase := jsonOf[map[string]string](t, a.ok("init", "--show-phrase", "--name", "laptop", "--json"))["phrase"]
	id := strings.TrimSpace(a.ok("new", "--title", "Garden", "--text", "Water the beds."))
	md := filepath.Join(dir, "page.md")
	os.WriteFile(md, []byte("Water the beds on Sundays.\n"), 0o600)
	keyed := filepath.Join(dir, "keyed")
	a.ok("backup", keyed, "--include-device-key")
	full := filepath.Join(dir, "full") // a folder that is not empty
	os.MkdirAll(full, 0o700)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o600)
	trace := filepath.Join(dir, "trace.json")
	os.WriteFile(trace, []byte(`{"kind":"sequential","startContent":"","endContent":"hi","numAgents":1,
		"txns":[{"time":"2024-01-01T00:00:00Z","parents":[],"numChildren":0,"agent":0,"patches":[[0,0,"hi"]]}]}`), 0o600)
	attachment := filepath.Join(dir, "note.txt")
	os.WriteFile(attachment, []byte("a small attachment"), 0o600)
	fileID := jsonOf[struct {
		Files []struct {
			FileID string `json:"file_id"`
		} `json:"files"`
	}](t, a.ok("files", "add", id, attachment, "--json")).Files[0].FileID
	nodeData := filepath.Join(dir, "node")
	node := runNode(t, nodeData, loopbackListen(t))
	naddr := nodeAddr(t, node)
	fresh := func() *cli { return newCLI(t) }
	empty := fresh() // never gets a vault
	in := func(d string) string { return filepath.Join(dir, d) }
	run := func(args ...string) jsonRun { return jsonRun{args: args} }

	cases := []jsonCase{
		{command: "", ok: run(), fail: run("nosuch")},
		{command: "init", ok: jsonRun{args: []string{"init", "--show-phrase", "--name", "x"}, on: fresh()}, fail: run("init")},
		{command: "recover", ok: jsonRun{args: []string{"recover"}, stdin: phrase + "\n", on: fresh()},
			fail: jsonRun{args: []string{"recover"}, stdin: "not a phrase\n", on: fresh()}},
		{command: "new", ok: run("new", "--title", "T", "--text", "x"), fail: run("new", "--text", "x")},
		{command: "ls", ok: run("ls"), fail: jsonRun{args: []string{"ls"}, on: empty}},
		{command: "search", ok: run("search", "water"), fail: run("search")},
		{command: "show", ok: run("show", id), fail: run("show", "abcdef")},
		{command: "backlinks", ok: run("backlinks", id), fail: run("backlinks", "abcdef")},
		{command: "write", ok: run("write", id, "--file", md), fail: run("write", id)},
		{command: "edit", ok: jsonRun{args: []string{"edit", id}, env: []string{"VISUAL=", "EDITOR=sed -i s/beds/roses/"}},
			fail: jsonRun{args: []string{"edit", id}, env: []string{"VISUAL=", "EDITOR=false"}}},
		{command: "append", ok: run("append", id, "--text", "- [ ] seeds"), fail: run("append", id)},
		{command: "set", ok: run("set", id, "tags", "home"), fail: run("set", id, "archived", "x")},
		{command: "files gc", ok: run("files", "gc", "--dry-run"), fail: run("files", "gc", "--grace", "soon")},
		{command: "archive", ok: run("archive", id), fail: run("archive", "zz")},
		{command: "unarchive", ok: run("unarchive", id), fail: run("unarchive", "zz")},
		{command: "rm", ok: run("rm", id), fail: run("rm", "zz")},
		{command: "bin", ok: run("bin"), fail: jsonRun{args: []string{"bin"}, on: empty}},
		{command: "history", ok: run("history", id), fail: run("history", "zz")},
		{command: "diff", ok: run("diff", id, "1", "1"), fail: run("diff", id, "x", "1")},
		{command: "restore", ok: run("restore", id, "1"), fail: run("restore", id, "999")},
		{command: "devices", ok: run("devices"), fail: jsonRun{args: []string{"devices"}, on: empty}},
		{command: "devices rename", ok: run("devices", "rename", "laptop", "desk"), fail: run("devices", "rename", "tablet", "x")},
		{command: "up", fail: run("up", "--no-lan", "--lan-only")},                   // its success: below
		{command: "node", fail: jsonRun{args: []string{"--data", nodeData, "node"}}}, // its success: below
		{command: "open", fail: run("open", "--print")},                              // no mycel up runs here; its success: TestWebAppLogin
		{command: "nodes", ok: run("nodes"), fail: run("nodes", "bogus")},
		{command: "files", ok: run("files"), fail: run("files", "bogus")},
		{command: "files add", ok: run("files", "add", id, attachment), fail: run("files", "add", id, in("nosuch"))},
		{command: "files ls", ok: run("files", "ls"), fail: run("files", "ls", "zz")},
		{command: "files get", ok: run("files", "get", fileID, "-o", in("got.txt")), fail: run("files", "get", "zzzzzzzz", "-o", in("x"))},
		{command: "files keep", ok: run("files", "keep", id), fail: run("files", "keep", "--off")},
		{command: "nodes add", ok: run("nodes", "add", naddr), fail: run("nodes", "add", "notamultiaddr")},
		{command: "nodes ls", ok: run("nodes", "ls"), fail: jsonRun{args: []string{"nodes", "ls"}, on: empty}},
		{command: "nodes rm", ok: run("nodes", "rm", naddr), fail: run("nodes", "rm", naddr)},
		{command: "nodes trust", ok: run("nodes", "trust", "--all"), fail: run("nodes", "trust", "/ip4/127.0.0.1/tcp/1")},
		{command: "status", ok: run("status"), fail: run("status", "zz")},
		{command: "sync", ok: run("sync"), fail: run("sync", "bogus")},
		{command: "sync mode", ok: run("sync", "mode", "all"), fail: run("sync", "mode", "sometimes")},
		{command: "sync off", ok: run("sync", "off", id), fail: run("sync", "off", "zz")},
		{command: "sync on", ok: run("sync", "on", id), fail: run("sync", "on")},
		{command: "log", ok: run("log"), fail: run("log", "--object", "zz")},
		{command: "check", ok: run("check"), fail: jsonRun{args: []string{"check"}, on: empty}},
		{command: "backup", ok: run("backup", in("backup")), fail: run("backup", full)},
		{command: "restore-backup", ok: jsonRun{args: []string{"restore-backup", keyed}, on: fresh()}, fail: run("restore-backup", in("none"))},
		{command: "diagnostics", ok: run("diagnostics", id, "-o", in("diag.json")), fail: run("diagnostics", id)},
		{command: "export", ok: run("export", in("export"), "--format", "json"), fail: run("export", in("x"), "--format", "pdf")},
		{command: "import", ok: run("import", in("export")), fail: run("import", in("none"))},
		{command: "bench", ok: run("bench"), fail: run("bench", "bogus")},
		{command: "bench trace", ok: run("bench", "trace", trace), fail: run("bench", "trace", in("none.json"))},
		{command: "bench reconcile", ok: run("bench", "reconcile", "--n", "1000"), fail: run("bench", "reconcile", "--n", "5")},
		{command: "bench sync", ok: run("bench", "sync", "--objects", "2", "--changes-per-object", "2", "--edits", "2"),
			fail: run("bench", "sync", "--edits", "0")},
		{command: "bench lan", ok: run("bench", "lan", "--edits", "2"), fail: run("bench", "lan", "--edits", "0")},
		{command: "bench backup", ok: run("bench", "backup", "--objects", "2", "--changes-per-object", "2"), fail: run("bench", "backup", "--objects", "0")},
		{command: "bench crdt", ok: run("bench", "crdt", "--n", "100", "--reps", "1"), fail: run("bench", "crdt", "--reps", "0")},
		{command: "bench edit", ok: run("bench", "edit", "--blocks", "20", "--megabytes", "1", "--changes", "20", "--runs", "1"), fail: run("bench", "edit", "--runs", "0")},
		{command: "bench files", ok: run("bench", "files", "--size", "2MB"), fail: run("bench", "files", "--size", "lots")},
		{command: "bench scale", ok: run("bench", "scale", "--objects", "3", "--changes-per-object", "2", "--runs", "1"), fail: run("bench", "scale", "--objects", "0")},
		{command: "bench node-load", ok: run("bench", "node-load", "--devices", "2", "--vaults", "1", "--duration", "300ms", "--rate", "0", "--kill=false"),
			fail: run("bench", "node-load", "--vaults", "0")},
		{command: "bench rich", ok: run("bench", "rich", "--mark-ops", "100", "--page-marks", "100", "--runs", "1"), fail: run("bench", "rich", "--runs", "0")},
		{command: "bench web", gap: "TestBenchWeb runs it with --json: it needs a browser", fail: run("bench", "web", "--keystrokes", "0")},
		{command: "completion", ok: run("completion"), fail: run("completion", "bogus")},
		{command: "help", ok: run("help", "nodes", "add"), fail: run("help", "nosuch")},
	}
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		cases = append(cases, jsonCase{command: "completion " + sh, ok: run("completion", sh), fail: run("completion", sh, "extra")})
	}

	// Every command is here: one added without a case fails this test.
	var all []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		all = append(all, strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), "mycel"), " "))
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk((&app{stdout: io.Discard, stderr: io.Discard}).root())
	for _, c := range all {
		if !slices.ContainsFunc(cases, func(k jsonCase) bool { return k.command == c }) {
			t.Errorf("no --json case for 'mycel %s'", c)
		}
	}

	invoke := func(r jsonRun, asJSON bool) (string, string, error) {
		c := a
		if r.on != nil {
			c = r.on
		}
		cc := *c
		cc.env = r.env
		args := r.args
		if asJSON {
			args = append(slices.Clone(args), "--json")
		}
		return cc.run(r.stdin, args...)
	}
	for _, k := range cases {
		name := "mycel " + k.command
		if k.ok.args != nil || k.command == "" {
			out, errOut, err := invoke(k.ok, true)
			if err != nil {
				t.Errorf("%s %q failed: %v\n%s", name, k.ok.args, err, errOut)
			} else if err := oneJSON(out); err != nil {
				t.Errorf("%s %q --json: stdout is not one JSON document (%v):\n%s", name, k.ok.args, err, out)
			}
		} else if k.gap != "" {
			t.Logf("not checked: the output of %s with --json (%s)", name, k.gap)
		}
		out, errOut, err := invoke(k.fail, true)
		if err == nil {
			t.Errorf("%s %q succeeded; it should fail", name, k.fail.args)
			continue
		}
		if out != "" {
			if err := oneJSON(out); err != nil {
				t.Errorf("%s %q --json failed, and its stdout is not one JSON document (%v):\n%s", name, k.fail.args, err, out)
			}
		}
		var e struct{ Error string }
		if err := oneJSON(errOut); err != nil || json.Unmarshal([]byte(errOut), &e) != nil || e.Error == "" {
			t.Errorf("%s %q --json: stderr is not one {\"error\": …} (%v):\n%s", name, k.fail.args, err, errOut)
			continue
		}
		if _, plain, _ := invoke(k.fail, false); !strings.Contains(plain, "mycel: "+e.Error+"\n") {
			t.Errorf("%s %q: the error with --json, %q, is not the one without:\n%s", name, k.fail.args, e.Error, plain)
		}
	}

	// A running node prints one JSON object a line: up, then stopped; and
	// its log on stderr is JSON lines too.
	node.stop()
	p := &proc{}
	var logs bytes.Buffer
	p.cmd = exec.Command(bin, "--data", nodeData, "node", "--json")
	p.cmd.Stdout, p.cmd.Stderr = p, &logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	up := printed(t, p, "the node's up line", func(l string) (string, bool) { return l, strings.Contains(l, `"event":"up"`) })
	var ev struct {
		Event     string
		Addresses []string
	}
	if err := json.Unmarshal([]byte(up), &ev); err != nil || len(ev.Addresses) == 0 || !strings.Contains(ev.Addresses[0], "/p2p/") {
		t.Fatalf("the node's up line %q: %v", up, err)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("node --json did not stop cleanly: %v\n%s", err, logs.String())
	}
	var events []string
	for _, stream := range []string{p.output(), logs.String()} {
		sc := bufio.NewScanner(strings.NewReader(stream))
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Errorf("node --json printed a line that is not a JSON object: %q", sc.Text())
			}
			if ev, ok := v["event"].(string); ok {
				events = append(events, ev)
			}
		}
	}
	if !slices.Equal(events, []string{"up", "stopped"}) {
		t.Fatalf("node --json events %q, want up, stopped", events)
	}

	// So does a running device (mycel up).
	d := &proc{}
	var dlogs bytes.Buffer
	d.cmd = exec.Command(bin, "--data", a.data, "up", "--json", "--no-lan", "--listen", "/ip4/127.0.0.1/tcp/0")
	d.cmd.Stdout, d.cmd.Stderr = d, &dlogs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	dup := printed(t, d, "the device's up line", func(l string) (string, bool) { return l, strings.Contains(l, `"event":"up"`) })
	if err := json.Unmarshal([]byte(dup), &ev); err != nil || len(ev.Addresses) == 0 || !strings.Contains(ev.Addresses[0], "/p2p/") {
		t.Fatalf("the device's up line %q: %v", dup, err)
	}
	d.cmd.Process.Signal(syscall.SIGINT)
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("up --json did not stop cleanly: %v\n%s", err, dlogs.String())
	}
	events = nil
	for _, stream := range []string{d.output(), dlogs.String()} {
		sc := bufio.NewScanner(strings.NewReader(stream))
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Errorf("up --json printed a line that is not a JSON object: %q", sc.Text())
			}
			if ev, ok := v["event"].(string); ok {
				events = append(events, ev)
			}
		}
	}
	if !slices.Equal(events, []string{"up", "stopped"}) {
		t.Fatalf("up --json events %q, want up, stopped", events)
	}
}
