package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mycel/internal/webdrive"
)

// The web app end to end, in two real browsers: a node and two devices of
// one vault (a, b) run 'mycel up' with the web app on loopback, and a
// headless Chromium is logged into each. What is typed in one browser is
// merged and shown in the other, concurrent typing in one paragraph keeps
// both, the cursor stays where it is while the other side types, marks
// travel, the badge follows sync, and the page tools (history, new page,
// rename, search, bin) work, and so do the editor's (the / menu, Markdown
// shortcuts, mentions, nesting, moves, the drag handle, to-dos, tables,
// devices and settings), and so do files and keeping them offline. Each
// step leaves a screenshot of both browsers (see artifacts).
func TestWebAppE2E(t *testing.T) {
	e := newWebE2E(t)
	q := webdrive.Quote

	t.Run("TypedInAShowsInB", func(t *testing.T) {
		id := e.page(t, "E2E typed", "Hello")
		e.must(t, e.ba.SelectEnd(0), "caret at the end")
		e.must(t, e.ba.Type(" from the laptop"), "type")
		e.must(t, e.bb.WaitLine(0, "Hello from the laptop"), "the typing in b")
		e.shows(t, e.b, id, "\nHello from the laptop\n")
		e.shot(t, "typed-in-a")
	})

	t.Run("ConcurrentTypingInOneParagraph", func(t *testing.T) {
		id := e.page(t, "E2E concurrent", "middle")
		e.must(t, e.ba.SelectEnd(0), "a's caret at the end")
		e.must(t, e.bb.Select(0, 0, 0), "b's caret at the start")
		// Both type at once, a key every 15 ms each: the typing spans
		// several of the app's 50 ms batches, so edits of both sides
		// cross on their way through the devices and the node.
		typeSlowly := func(b *webdrive.Browser, s string, errp *error) {
			tick := time.NewTicker(15 * time.Millisecond)
			defer tick.Stop()
			for _, r := range s {
				if *errp = b.Type(string(r)); *errp != nil {
					return
				}
				<-tick.C
			}
		}
		var wg sync.WaitGroup
		var errA, errB error
		wg.Add(2)
		go func() { defer wg.Done(); typeSlowly(e.ba, " alpha alpha", &errA) }()
		go func() { defer wg.Done(); typeSlowly(e.bb, "beta beta ", &errB) }()
		wg.Wait()
		e.must(t, errA, "a types")
		e.must(t, errB, "b types")
		want := "beta beta middle alpha alpha"
		e.must(t, e.ba.WaitLine(0, want), "both texts in a")
		e.must(t, e.bb.WaitLine(0, want), "both texts in b")
		e.shows(t, e.a, id, "\n"+want+"\n")
		e.shows(t, e.b, id, "\n"+want+"\n")
		e.shot(t, "concurrent")
	})

	t.Run("CursorStaysWhileOtherSideTypes", func(t *testing.T) {
		id := e.page(t, "E2E cursor", "First line\n\nSecond line\n\nThird line here")
		e.must(t, e.bb.Select(2, 6, 6), "b's caret after 'Third '")
		e.must(t, e.ba.SelectEnd(0), "a's caret at the end of the first line")
		e.must(t, e.ba.Type(" and more above"), "a types")
		e.must(t, e.bb.WaitLine(0, "First line and more above"), "a's typing in b")
		c, err := e.bb.Caret()
		e.must(t, err, "b's caret")
		if c != (webdrive.Caret{Line: 2, Offset: 6, Collapsed: true}) {
			e.fatalf(t, "b's caret moved to %+v while a typed above it (was line 2, offset 6)", c)
		}
		// And b's next key lands there.
		e.must(t, e.bb.Type("X"), "b types")
		e.must(t, e.ba.WaitLine(2, "Third Xline here"), "b's key in a")
		e.must(t, e.bb.WaitLine(2, "Third Xline here"), "b's key in b")
		e.shows(t, e.b, id, "\nThird Xline here\n")
		e.shot(t, "cursor-stays")
	})

	t.Run("MarkTravels", func(t *testing.T) {
		id := e.page(t, "E2E marks", "make this bold please")
		e.must(t, e.ba.Select(0, 10, 14), "select 'bold' in a")
		e.must(t, e.ba.Shortcut("b"), "Ctrl+B")
		strong := fmt.Sprintf(`document.querySelector(%s)?.textContent`, q(webdrive.Editor+" strong"))
		e.must(t, e.ba.WaitFor("bold in a", strong+` === "bold"`, strong), "a")
		e.must(t, e.bb.WaitFor("bold in b", strong+` === "bold"`, strong), "b")
		e.shows(t, e.b, id, "\nmake this **bold** please\n")
		e.shot(t, "mark")
	})

	var allowed = []string{"Preparing…", "Syncing…", "Synced", "No connection", "Not syncing"}

	t.Run("BadgeWalksSyncingToSynced", func(t *testing.T) {
		id := e.page(t, "E2E badge", "status")
		// Every label the badge shows is recorded in the page, with the
		// time it was set (the app refreshes it every 2 s).
		_, err := webdrive.Eval[bool](e.ba, `(() => {
			const b = document.querySelector("#badge");
			window.badges = [{label: b.textContent, at: Date.now()}];
			new MutationObserver(() => window.badges.push({label: b.textContent, at: Date.now()})).observe(b, {childList: true, characterData: true, subtree: true});
			return true;
		})()`)
		e.must(t, err, "watch the badge")
		labels := func(since float64) []string {
			type seen struct {
				Label string
				At    float64
			}
			all, err := webdrive.Eval[[]seen](e.ba, `window.badges`)
			e.must(t, err, "labels seen")
			var out []string
			for _, s := range all {
				if s.At >= since && (len(out) == 0 || out[len(out)-1] != s.Label) {
					out = append(out, s.Label)
				}
			}
			return out
		}
		now := func() float64 { v, _ := webdrive.Eval[float64](e.ba, `Date.now()`); return v }

		// Typing with the node answering: it acknowledges within
		// milliseconds, so the 2-second refresh rarely catches Syncing….
		// What must hold: every label is one of the five, and the badge
		// says Synced after the node has the text.
		e.must(t, e.ba.SelectEnd(0), "caret")
		e.must(t, e.ba.Type(" typed"), "type")
		e.shows(t, e.b, id, "\nstatus typed\n")
		synced := now()
		e.must(t, e.ba.WaitFor("a refresh of the badge after b has the text", fmt.Sprintf(`window.badges.some(s => s.at >= %f)`, synced), ""), "badge")
		e.must(t, e.ba.WaitText("#badge", "Synced"), "Synced after typing")
		for _, l := range labels(0) {
			if !slices.Contains(allowed, l) {
				e.fatalf(t, "the badge showed %q", l)
			}
		}

		// The walk made certain: the node stops answering (SIGSTOP: still
		// connected, silent), so what is typed waits for its
		// acknowledgement (Syncing…) until it answers again (Synced).
		e.node.cmd.Process.Signal(syscall.SIGSTOP)
		stopped := true
		defer func() {
			if stopped {
				e.node.cmd.Process.Signal(syscall.SIGCONT)
			}
		}()
		began := now()
		e.must(t, e.ba.Type(" again"), "type")
		e.must(t, e.ba.WaitText("#badge", "Syncing…"), "Syncing… while the node is silent")
		e.shot(t, "badge-syncing")
		e.node.cmd.Process.Signal(syscall.SIGCONT)
		stopped = false
		e.must(t, e.ba.WaitText("#badge", "Synced"), "Synced once the node answers")
		e.shows(t, e.b, id, "\nstatus typed again\n")
		if got := labels(began); !slices.Equal(got, []string{"Synced", "Syncing…", "Synced"}) && !slices.Equal(got, []string{"Syncing…", "Synced"}) {
			e.fatalf(t, "the badge walked %s, not Syncing… → Synced", joinLabels(got))
		}
		e.shot(t, "badge-synced")
	})

	t.Run("NoConnectionThenSynced", func(t *testing.T) {
		e.page(t, "E2E offline", "offline")
		e.node.stop()
		e.must(t, e.ba.WaitText("#badge", "No connection"), "No connection with the node stopped")
		e.shot(t, "no-connection")
		e.node = runNode(e.t, e.nodeData, e.listen) // for the rest of the test, not this step
		nodeAddr(t, e.node)
		// The device dials again with a backoff that has grown to a few
		// seconds at most while the node was down.
		e.must(t, e.ba.Within(45*time.Second).WaitText("#badge", "Synced"), "Synced with the node back")
		e.shot(t, "reconnected")
	})

	// A long page is shown a screenful first and the rest a frame later:
	// all of it arrives in the editor, and an edit made then (the first
	// block and the last) leaves every other block on the device.
	t.Run("LongPageShownInFull", func(t *testing.T) {
		var b strings.Builder
		for i := range 400 {
			fmt.Fprintf(&b, "Paragraph %d.\n\n", i)
		}
		id := e.page(t, "E2E long", strings.TrimSpace(b.String()))
		lines := fmt.Sprintf(`document.querySelectorAll(%s)`, q(webdrive.Lines))
		e.must(t, e.ba.WaitFor("all 400 blocks in a", lines+`.length === 400 && document.querySelector(`+q(webdrive.Editor)+`).contentEditable === "true"`, lines+`.length`), "long page")
		e.must(t, e.ba.SelectEnd(399), "caret at the end")
		e.must(t, e.ba.Type(" The end."), "type at the end")
		e.must(t, e.ba.SelectEnd(0), "caret in the first block")
		e.must(t, e.ba.Type(" First."), "type in the first block")
		e.shows(t, e.b, id, "\nParagraph 399. The end.\n")
		out := e.b.ok("show", id)
		for _, want := range []string{"\nParagraph 0. First.\n", "\nParagraph 150.\n", "\nParagraph 151.\n", "\nParagraph 398.\n"} {
			if !strings.Contains(out, want) {
				t.Fatalf("after editing the long page, b's copy lacks %q", want)
			}
		}
		if n := strings.Count(out, "\nParagraph "); n != 400 {
			t.Fatalf("b's copy has %d paragraphs, not 400", n)
		}
		e.shot(t, "long-page")
	})

	t.Run("PageTools", func(t *testing.T) { pageTools(t, e) })
	t.Run("Editor", func(t *testing.T) { editorTools(t, e) })
	t.Run("Files", func(t *testing.T) { fileTools(t, e) })
	t.Run("KeepOffline", func(t *testing.T) { keepTools(t, e) })
	t.Run("SyncControl", func(t *testing.T) { syncTools(t, e) })
	t.Run("NodeTrust", func(t *testing.T) { nodeTrustTools(t, e) })
}

// joinLabels is for messages.
func joinLabels(l []string) string { return strings.Join(l, " → ") }
