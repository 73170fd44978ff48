package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"mycel/internal/webdrive"
)

// keptFile is one file of 'mycel files ls ID --json': how much is here
// and whether its page is kept offline.
type keptFile struct {
	Name string `json:"name"`
	Size uint64 `json:"size"`
	Here uint64 `json:"bytes_here"`
	Kept bool   `json:"kept_offline"`
}

// keptFiles is 'mycel files ls ID --json' on c.
func keptFiles(t *testing.T, c *cli, id string) []keptFile {
	var out struct {
		Files []keptFile `json:"files"`
	}
	if err := json.Unmarshal([]byte(c.ok("files", "ls", id, "--json")), &out); err != nil {
		t.Fatal(err)
	}
	return out.Files
}

// keptMark is 'mycel files keep --json' on c: what it keeps offline.
func keptMark(t *testing.T, c *cli) (all bool, pages []string) {
	var out struct {
		All   bool     `json:"all"`
		Pages []string `json:"pages"`
	}
	if err := json.Unmarshal([]byte(c.ok("files", "keep", "--json")), &out); err != nil {
		t.Fatal(err)
	}
	return out.All, out.Pages
}

// keepTools: on the device that lacks a page's file (b), the page's "Keep
// offline" toggle keeps it (the CLI says the page is kept and the file
// comes, and the page says so), and off again; settings' "Keep all files
// offline" keeps the whole vault (the page's toggle then shows it kept,
// and fixed) and off again; and a mark the CLI sets shows in the app.
func keepTools(t *testing.T, e *webE2E) {
	q := webdrive.Quote
	b := e.bb
	id := e.page(t, "E2E keep", "Files to keep")
	// Larger than an opened page fetches by itself (64 MiB): without keep,
	// b would not fetch it.
	data := make([]byte, 65<<20)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "kept.bin")
	os.WriteFile(path, data, 0o600)
	e.a.ok("files", "add", id, path)
	e.must(t, b.WaitFor("kept.bin on b's page", `Array.from(document.querySelectorAll("#page .b-file .file-link")).some(a => a.textContent === "kept.bin")`, fileBlocksJS), "the file on b")

	toggle := func(sel string) string { return `document.querySelector(` + q(sel) + `)` }
	page, all := toggle("#keep-offline"), toggle("#keep-all")
	state := func(el string) string {
		return `(el => el && (el.checked ? "on" : "off") + (el.disabled ? " fixed" : ""))(` + el + `)`
	}
	waitState := func(what, el, want string) {
		t.Helper()
		e.must(t, b.WaitFor(what+" "+want, state(el)+` === `+q(want), state(el)), what)
	}
	note := toggle("#keep-note")

	// The page's toggle, shown once the device said the page is not kept.
	e.must(t, b.WaitFor("the page's toggle", `!document.querySelector("#keep").hidden`, `document.querySelector("#keep").outerHTML`), "toggle shown")
	waitState("the page's toggle", page, "off")
	// The node holds the file (a's page is Synced once it pinned it), so
	// b can fetch it whenever it can reach the node.
	waitFor(t, "a's page Synced (the node pinned kept.bin)", func() bool { return objectStatus(t, e.a, id) == "Synced" }, e.node, e.upA)
	if fs := keptFiles(t, e.b, id); len(fs) != 1 || fs[0].Kept || fs[0].Here != 0 {
		e.fatalf(t, "before the click, b's files: %+v, not kept.bin not kept and not here", fs)
	}
	// Clicked while every peer that holds the file is silent (SIGSTOP:
	// connected, not answering), so the page says its file is on its way
	// until they answer again, whatever the speed of the fetch.
	peers := []*proc{e.node, e.upA}
	for _, p := range peers {
		p.cmd.Process.Signal(syscall.SIGSTOP)
	}
	stopped := true
	resume := func() {
		if stopped {
			for _, p := range peers {
				p.cmd.Process.Signal(syscall.SIGCONT)
			}
		}
		stopped = false
	}
	defer resume()
	e.must(t, b.Click("#keep-offline"), "keep the page offline")
	waitState("the page's toggle", page, "on")
	e.must(t, b.WaitFor("the note to say the file is downloading", note+`.dataset.downloading === "true" && `+note+`.textContent === "Downloading to keep offline: 0 of 1 files here (0 B of 68.2 MB)" && !`+note+`.hidden`, note+`.textContent`), "downloading")
	e.shot(t, "kept-offline-downloading")
	if fs := keptFiles(t, e.b, id); len(fs) != 1 || !fs[0].Kept {
		e.fatalf(t, "after the click, b's files: %+v, not kept.bin kept", fs)
	}
	resume()
	e.must(t, b.WaitFor("the note to say the file is here", note+`.textContent === "Kept offline: its file is on this device" && !`+note+`.hidden`, note+`.textContent`), "kept")
	fs := keptFiles(t, e.b, id)
	if len(fs) != 1 || !fs[0].Kept || fs[0].Here != uint64(len(data)) {
		e.fatalf(t, "after the click, b's files: %+v, not kept.bin kept and all here", fs)
	}
	if all, pages := keptMark(t, e.b); all || !slices.Equal(pages, []string{id}) {
		e.fatalf(t, "b keeps all %v, pages %q; want page %s", all, pages, id)
	}
	e.shot(t, "kept-offline")

	e.must(t, b.Click("#keep-offline"), "stop keeping the page")
	waitState("the page's toggle", page, "off")
	e.must(t, b.WaitFor("the note gone", note+`.hidden`, note+`.textContent`), "no note")
	if fs := keptFiles(t, e.b, id); len(fs) != 1 || fs[0].Kept {
		e.fatalf(t, "after the second click, b's files: %+v, not kept", fs)
	}

	// The whole vault, from settings.
	e.must(t, b.Click("#settings-btn"), "open settings")
	// Once the panel has its lists (the mode is shown last): until then
	// what they add moves the toggle down, and a click aimed at it landed
	// on "Add node".
	e.must(t, b.WaitFor("the settings loaded", `document.querySelectorAll("#devices li").length === 2 && document.querySelector("#mode").textContent !== ""`, `document.querySelector("#settings").innerText`), "settings")
	waitState("keep all", all, "off")
	e.must(t, b.Click("#keep-all"), "keep all files offline")
	waitState("keep all", all, "on")
	waitState("the page's toggle with all kept", page, "on fixed")
	if all, _ := keptMark(t, e.b); !all {
		e.fatalf(t, "b does not keep every file after keep all was clicked")
	}
	if fs := keptFiles(t, e.b, id); len(fs) != 1 || !fs[0].Kept {
		e.fatalf(t, "with all kept, b's files: %+v", fs)
	}
	e.shot(t, "kept-all")
	e.must(t, b.Click("#keep-all"), "keep all files offline, off")
	waitState("keep all", all, "off")
	waitState("the page's toggle with all off", page, "off")
	if all, pages := keptMark(t, e.b); all || len(pages) != 0 {
		e.fatalf(t, "after keep all off, b keeps all %v, pages %q", all, pages)
	}
	e.must(t, b.Click("#settings-close"), "close settings")

	// The device's state, whoever changes it: the CLI's mark shows.
	e.b.ok("files", "keep", id)
	waitState("the page's toggle after 'mycel files keep'", page, "on")
	e.b.ok("files", "keep", "--off", id)
	waitState("the page's toggle after 'mycel files keep --off'", page, "off")
	if fs := keptFiles(t, e.b, id); len(fs) != 1 || fs[0].Kept {
		e.fatalf(t, "after 'mycel files keep --off', b's files: %+v", fs)
	}
}
