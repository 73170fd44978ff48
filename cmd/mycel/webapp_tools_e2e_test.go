package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/webdrive"
)

// setSelect chooses value in the <select> sel, as a person picking it
// does (the change event follows).
func setSelect(b *webdrive.Browser, sel, value string) error {
	_, err := webdrive.Eval[bool](b, fmt.Sprintf(`(() => {
		const s = document.querySelector(%s);
		s.value = %s;
		s.dispatchEvent(new Event("input", {bubbles: true}));
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return s.value === %[2]s;
	})()`, webdrive.Quote(sel), webdrive.Quote(value)))
	return err
}

// pageTools: a version restored from the history panel; a page made with
// the new-page button, renamed, found by search, moved to the bin and
// back; the peers behind the badge.
func pageTools(t *testing.T, e *webE2E) {
	q := webdrive.Quote
	t.Run("RestoreFromHistory", func(t *testing.T) {
		id := strings.TrimSpace(e.a.ok("new", "--title", "E2E history", "--text", "version one"))
		md := filepath.Join(t.TempDir(), "h.md")
		os.WriteFile(md, []byte("---\ntitle: E2E history\n---\n\nversion two\n"), 0o600)
		e.a.ok("write", id, "--file", md)
		e.shows(t, e.b, id, "\nversion two\n")
		e.must(t, e.ba.OpenPage("E2E history"), "open on a")
		e.must(t, e.bb.OpenPage("E2E history"), "open on b")
		e.must(t, e.ba.Click("#history-btn"), "open the history")
		versions := `document.querySelectorAll("#history li.version")`
		e.must(t, e.ba.WaitFor("two versions listed", versions+`.length >= 2`, versions+`.length`), "history")
		// Newest first: the oldest, version one, is the last.
		e.must(t, e.ba.Click("#history li.version:last-child"), "pick the first version")
		e.must(t, e.ba.WaitFor("version one shown read-only", `document.querySelector("#version-view")?.textContent.includes("version one")`,
			`document.querySelector("#version-view")?.textContent`), "version view")
		e.shot(t, "history")
		e.must(t, e.ba.Click("#restore"), "restore")
		e.must(t, e.ba.WaitLine(0, "version one"), "the editor shows the version restored")
		e.shows(t, e.b, id, "\nversion one\n")
		e.must(t, e.bb.WaitLine(0, "version one"), "b shows the version restored")
		e.shot(t, "restored")
		// The restore is undone from the same panel (a restore of the
		// version that was newest before it).
		e.must(t, e.ba.Click("#undo-restore"), "undo the restore")
		e.must(t, e.ba.WaitLine(0, "version two"), "the editor shows the version before the restore")
		e.shows(t, e.b, id, "\nversion two\n")
	})

	t.Run("NewRenameSearchBin", func(t *testing.T) {
		b := e.ba
		e.must(t, b.Click("#new-page"), "new page")
		current := `document.querySelector("#pages li[aria-current=page]")`
		e.must(t, b.WaitFor("an Untitled page open", `document.querySelector("#title")?.value === "Untitled" && `+current+`?.dataset.id && document.querySelector(`+q(webdrive.Editor)+`)`,
			`document.querySelector("#title")?.value`), "new page")
		id, err := webdrive.Eval[string](b, current+`.dataset.id`)
		e.must(t, err, "its id")
		row := fmt.Sprintf(`document.querySelector('#pages li[data-id="%s"]')`, id)

		// Renamed: the title field, all of it selected, typed over, Enter.
		_, err = webdrive.Eval[bool](b, `(() => { const t = document.querySelector("#title"); t.focus(); t.select(); return true; })()`)
		e.must(t, err, "focus the title")
		e.must(t, b.Type("E2E renamed page\r"), "type the title")
		e.must(t, b.WaitFor("the new title in the list", row+`?.textContent === "E2E renamed page"`, row+`?.textContent`), "rename")
		waitFor(t, "the new title on b", func() bool {
			out, _, err := e.b.run("", "ls")
			return err == nil && strings.Contains(out, "E2E renamed page")
		}, e.node, e.upA, e.upB)

		// Text typed into it is found by search, as it is typed.
		e.must(t, b.Select(0, 0, 0), "caret in the page")
		e.must(t, b.Type("quixotic walrus"), "type")
		e.shows(t, e.a, id, "\nquixotic walrus\n")
		e.must(t, b.Click("#search"), "focus search")
		e.must(t, b.Type("walrus"), "type the search")
		rows := `Array.from(document.querySelectorAll("#pages li"))`
		e.must(t, b.WaitFor("only the page found", fmt.Sprintf(`%s.length === 1 && %[1]s[0].dataset.id === %s`, rows, q(id)),
			rows+`.map(li => li.textContent)`), "search")
		e.shot(t, "search")
		_, err = webdrive.Eval[bool](b, `(() => { const s = document.querySelector("#search"); s.value = ""; s.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`)
		e.must(t, err, "clear the search")
		e.must(t, b.WaitFor("every page listed again", rows+`.length > 1`, rows+`.length`), "search cleared")

		// To the bin and back.
		e.must(t, b.Click("#delete"), "delete")
		e.must(t, b.WaitFor("the page gone from the list", row+` === null`, ""), "deleted")
		waitFor(t, "the page in a's bin", func() bool {
			out, _, err := e.a.run("", "bin")
			return err == nil && strings.Contains(out, "E2E renamed page")
		}, e.upA)
		e.must(t, setSelect(b, "#filter", "bin"), "show the bin")
		e.must(t, b.WaitFor("the page in the bin's list", row+` !== null`, rows+`.map(li => li.textContent)`), "bin list")
		e.must(t, b.Click(fmt.Sprintf(`#pages li[data-id="%s"]`, id)), "open the binned page")
		e.must(t, b.Click("#undelete"), "restore from the bin")
		e.shot(t, "undeleted")
		e.must(t, setSelect(b, "#filter", "all"), "show all")
		e.must(t, b.WaitFor("the page back in the list", row+` !== null`, rows+`.map(li => li.textContent)`), "restored")
		waitFor(t, "the page out of a's bin", func() bool {
			out, _, err := e.a.run("", "bin")
			return err == nil && !strings.Contains(out, "E2E renamed page")
		}, e.upA)
	})

	t.Run("PeersBehindTheBadge", func(t *testing.T) {
		b := e.ba
		e.must(t, b.Click("#badge"), "click the badge")
		e.must(t, b.WaitFor("the peers panel", `!document.querySelector("#peers").hidden`, ""), "peers panel")
		e.must(t, b.WaitFor("the node among the peers", `document.querySelector('#peers li[data-kind="node"]')`,
			`Array.from(document.querySelectorAll("#peers li")).map(li => li.dataset.kind + ": " + li.textContent)`), "peers")
		e.shot(t, "peers")
	})
}
