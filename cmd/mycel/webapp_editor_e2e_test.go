package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"mycel/internal/api"
	"mycel/internal/webdrive"
)

// outlineJS is the open page's blocks as the editor shows them, one string
// per block in document order: two spaces per level of nesting, the type,
// "[x]" for a checked to-do, a cell's column ("col=…"), then ": " and the
// block's line.
const outlineJS = `Array.from(document.querySelectorAll("#page .ProseMirror div.b")).map(d => {
	let depth = 0;
	for (let p = d.parentElement.closest("div.b"); p; p = p.parentElement.closest("div.b")) depth++;
	return "  ".repeat(depth) + d.dataset.type + (d.dataset.checked === "true" ? "[x]" : "") + ": " + d.querySelector(":scope > p.line").textContent;
})`

// outline is the same of blocks as 'mycel show --json' gives them (a cell's
// column left out: the device gives it an id the browser never shows).
func outline(bs []api.Block, depth int) []string {
	var out []string
	for _, b := range bs {
		s := strings.Repeat("  ", depth) + b.Type
		if b.Attrs["checked"] == "true" {
			s += "[x]"
		}
		out = append(out, s+": "+b.Text)
		out = append(out, outline(b.Children, depth+1)...)
	}
	return out
}

// showJSON is c's 'mycel show ID --json'.
type showJSON struct {
	Blocks []api.Block `json:"blocks"`
}

// blocksOn is c's blocks of page id (nil when show fails).
func blocksOn(c *cli, id string) []api.Block {
	out, _, err := c.run("", "show", id, "--json")
	if err != nil {
		return nil
	}
	var s showJSON
	if json.Unmarshal([]byte(out), &s) != nil {
		return nil
	}
	return s.Blocks
}

// waitOutline waits until browser b shows the blocks want.
func (e *webE2E) waitOutline(t *testing.T, b *webdrive.Browser, side string, want ...string) {
	t.Helper()
	e.must(t, b.WaitFor(fmt.Sprintf("%s to show %q", side, want), outlineJS+`.join("\n") === `+webdrive.Quote(strings.Join(want, "\n")), outlineJS), side+"'s blocks")
}

// deviceBlocks waits until c's device has page id's blocks as want
// (outline) and returns them.
func (e *webE2E) deviceBlocks(t *testing.T, c *cli, id string, want ...string) []api.Block {
	t.Helper()
	var got []api.Block
	waitFor(t, fmt.Sprintf("'mycel show --json' to hold %q", want), func() bool {
		got = blocksOn(c, id)
		return slices.Equal(outline(got, 0), want)
	}, e.node, e.upA, e.upB)
	return got
}

// flat is every block of bs in document order.
func flat(bs []api.Block) []api.Block {
	var out []api.Block
	for _, b := range bs {
		out = append(out, b)
		out = append(out, flat(b.Children)...)
	}
	return out
}

// idOf is the id of the block of bs whose text is text.
func idOf(t *testing.T, bs []api.Block, text string) string {
	t.Helper()
	for _, b := range flat(bs) {
		if b.Text == text {
			return b.ID
		}
	}
	t.Fatalf("no block %q in %q", text, outline(bs, 0))
	return ""
}

// pickerJS is the labels the open picker lists (none when it is closed).
const pickerJS = `(p => p && !p.hidden ? Array.from(p.querySelectorAll("li")).map(li => li.textContent + (li.getAttribute("aria-selected") === "true" ? "*" : "")) : [])(document.querySelector("#picker"))`

// waitPicker waits until b's picker lists want (the one selected ends with
// "*"); none: closed.
func (e *webE2E) waitPicker(t *testing.T, b *webdrive.Browser, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	w, _ := json.Marshal(want)
	e.must(t, b.WaitFor(fmt.Sprintf("the picker to list %q", want), `JSON.stringify(`+pickerJS+`) === `+webdrive.Quote(string(w)), pickerJS), "picker")
}

// center is the middle of the element el (an expression) in b.
func (e *webE2E) center(t *testing.T, b *webdrive.Browser, el string) (float64, float64) {
	t.Helper()
	r, err := b.Box(el)
	e.must(t, err, "where "+el+" is")
	return r.X + r.Width/2, r.Y + r.Height/2
}

// lineEl is line i of the open page, as an expression.
func lineEl(i int) string {
	return fmt.Sprintf(`document.querySelectorAll(%s)[%d]`, webdrive.Quote(webdrive.Lines), i)
}

// editorTools: the editor's features in one browser, checked in the other
// and on the other device: the / menu, the Markdown shortcuts, mentions,
// nesting and moving blocks by keys and by the drag handle, to-dos,
// tables, and the devices and settings panel with the diagnostics.
func editorTools(t *testing.T, e *webE2E) {
	q := webdrive.Quote

	t.Run("SlashMenu", func(t *testing.T) {
		id := e.page(t, "E2E slash", "intro")
		a := e.ba
		e.must(t, a.SelectEnd(0), "caret at the end")
		e.must(t, a.Type("\r/head"), "a new line, then /head")
		e.waitPicker(t, a, "Heading 1*", "Heading 2", "Heading 3")
		e.shot(t, "slash-menu")
		// Arrows move (and wrap), Enter picks.
		e.must(t, a.Press(kb.ArrowDown), "down")
		e.must(t, a.Press(kb.ArrowDown), "down")
		e.must(t, a.Press(kb.ArrowDown), "down (wraps)")
		e.must(t, a.Press(kb.ArrowUp), "up (wraps)")
		e.must(t, a.Press(kb.ArrowUp), "up")
		e.waitPicker(t, a, "Heading 1", "Heading 2*", "Heading 3")
		e.must(t, a.Press(kb.Enter), "pick Heading 2")
		e.waitPicker(t, a)
		e.must(t, a.Type("Slash heading"), "type the heading")
		// Tab picks too.
		e.must(t, a.Type("\r/quo"), "a new line, then /quo")
		e.waitPicker(t, a, "Quote*")
		e.must(t, a.Press(kb.Tab), "pick Quote with Tab")
		e.must(t, a.Type("quoted"), "type the quote")
		// Escape closes it and leaves what was typed; it stays closed
		// while the same word is typed on.
		e.must(t, a.Type("\r/bul"), "a new line, then /bul")
		e.waitPicker(t, a, "Bulleted list*")
		e.must(t, a.Press(kb.Escape), "Escape")
		e.waitPicker(t, a)
		e.must(t, a.Type("l"), "type on")
		e.waitPicker(t, a)
		e.must(t, a.WaitLine(3, "/bull"), "what was typed stays")
		e.must(t, a.Type(strings.Repeat(kb.Backspace, 5)), "erase it")
		// The mouse picks.
		e.must(t, a.Type("/to"), "/to")
		e.waitPicker(t, a, "To-do*", "Toggle")
		e.shot(t, "slash-todo")
		x, y := e.center(t, a, `Array.from(document.querySelectorAll("#picker li")).find(li => li.textContent === "To-do")`)
		e.must(t, a.ClickAt(x, y), "click To-do")
		e.waitPicker(t, a)
		e.must(t, a.Type("picked by mouse"), "type the to-do")
		// Enter in an empty to-do ends the list; then code, and a divider.
		e.must(t, a.Type("\r\r/div"), "end the list, then /div")
		e.waitPicker(t, a, "Divider*")
		e.must(t, a.Press(kb.Enter), "pick Divider")
		e.must(t, a.Type("\r/code"), "a new line, then /code")
		e.waitPicker(t, a, "Code*")
		e.must(t, a.Press(kb.Enter), "pick Code")
		e.must(t, a.Type("x := 1\ry := 2"), "type code (Enter is a line of it)")
		want := []string{"paragraph: intro", "heading2: Slash heading", "quote: quoted", "todo: picked by mouse", "divider: ", "code: x := 1\ny := 2"}
		e.waitOutline(t, a, "a", want...)
		e.waitOutline(t, e.bb, "b", want...)
		e.deviceBlocks(t, e.b, id, want...)
		e.shows(t, e.b, id, "\nintro\n\n## Slash heading\n\n> quoted\n\n- [ ] picked by mouse\n\n---\n\n```\nx := 1\ny := 2\n```\n")
		e.shot(t, "slash-done")
	})

	t.Run("BackspaceJoins", func(t *testing.T) {
		id := e.page(t, "E2E join", "intro")
		a := e.ba
		e.must(t, a.SelectEnd(0), "caret at the end")
		e.must(t, a.Type("\r- item\rsecond"), "a list item, then another")
		e.waitOutline(t, a, "a", "paragraph: intro", "bulleted: item", "bulleted: second")
		e.waitOutline(t, e.bb, "b", "paragraph: intro", "bulleted: item", "bulleted: second") // nothing in flight
		// At the start of "second": the first Backspace makes it text, the
		// second joins it to the line above; then an empty line goes.
		e.must(t, a.Select(2, 0, 0), "caret at the start of second")
		e.must(t, a.Type(kb.Backspace+kb.Backspace), "Backspace twice")
		e.waitOutline(t, a, "a", "paragraph: intro", "bulleted: itemsecond")
		e.must(t, a.Type("\r"), "a new line")
		e.must(t, a.Type(kb.Backspace+kb.Backspace), "Backspace: the empty list item becomes text, then goes")
		e.waitOutline(t, a, "a", "paragraph: intro", "bulleted: itemsecond")
		e.waitOutline(t, e.bb, "b", "paragraph: intro", "bulleted: itemsecond")
		e.deviceBlocks(t, e.b, id, "paragraph: intro", "bulleted: itemsecond")
	})

	t.Run("MarkdownShortcuts", func(t *testing.T) {
		id := e.page(t, "E2E shortcuts", "intro")
		a := e.ba
		e.must(t, a.SelectEnd(0), "caret at the end")
		for n := 1; n <= 6; n++ {
			e.must(t, a.Type(fmt.Sprintf("\r%s H%d", strings.Repeat("#", n), n)), "a heading")
		}
		// A list goes on at Enter; Enter in an empty item ends it.
		e.must(t, a.Type("\r- dash item\rnext item\r\r"), "a bulleted list")
		e.must(t, a.Type("1. first\r\r"), "a numbered list")
		e.must(t, a.Type("[] open task\r\r"), "a to-do")
		e.must(t, a.Type("[x] done task\r\r"), "a checked to-do")
		e.must(t, a.Type("> a quote\r"), "a quote")
		e.must(t, a.Type("---\r"), "a divider")
		e.must(t, a.Type("**bold** *italic* `code` ~~strike~~ ==high== plain"), "marks")
		e.must(t, a.Type("\r```"), "code")
		e.must(t, a.Type("fenced"), "in the code")
		e.shot(t, "shortcuts")
		want := []string{"paragraph: intro", "heading1: H1", "heading2: H2", "heading3: H3", "heading4: H4", "heading5: H5", "heading6: H6",
			"bulleted: dash item", "bulleted: next item", "numbered: first", "todo: open task", "todo[x]: done task", "quote: a quote", "divider: ",
			"paragraph: bold italic code strike high plain", "code: fenced"}
		e.waitOutline(t, a, "a", want...)
		e.waitOutline(t, e.bb, "b", want...)
		marks := `Array.from(document.querySelectorAll("#page .ProseMirror :is(strong, em, code, s, mark)")).map(m => m.tagName + ":" + m.textContent)`
		e.must(t, e.bb.WaitFor("the marks in b", marks+`.join() === "STRONG:bold,EM:italic,CODE:code,S:strike,MARK:high"`, marks), "marks in b")
		e.deviceBlocks(t, e.b, id, want...)
		e.shows(t, e.b, id, "\nintro\n\n# H1\n\n## H2\n\n### H3\n\n#### H4\n\n##### H5\n\n###### H6\n\n- dash item\n- next item\n\n1. first\n\n- [ ] open task\n- [x] done task\n\n> a quote\n\n---\n\n**bold** *italic* `code` ~~strike~~ ==high== plain\n\n```\nfenced\n```\n")
		e.shot(t, "shortcuts-b")
	})

	t.Run("Mentions", func(t *testing.T) {
		target := strings.TrimSpace(e.a.ok("new", "--title", "E2E mention target", "--text", "the page mentioned"))
		other := strings.TrimSpace(e.a.ok("new", "--title", "E2E wombat", "--text", "the page mentioned with @"))
		id := e.page(t, "E2E mentions", "intro")
		a := e.ba
		e.must(t, a.SelectEnd(0), "caret at the end")
		// [[ searches the pages by what is typed after it; Enter picks.
		e.must(t, a.Type(" see [[mention tar"), "[[ and a name")
		e.waitPicker(t, a, "E2E mention target*")
		e.shot(t, "mention-picker")
		e.must(t, a.Press(kb.Enter), "pick it")
		e.waitPicker(t, a)
		// @ too, picked with the mouse (the one page named so: the list
		// is the same whichever search answers last).
		e.must(t, a.Type("and @wombat"), "@ and a name")
		e.waitPicker(t, a, "E2E wombat*")
		x, y := e.center(t, a, `document.querySelector("#picker li")`)
		e.must(t, a.ClickAt(x, y), "click it")
		e.waitPicker(t, a)
		e.must(t, a.Type("again"), "type after it")
		text := "intro see E2E mention target and E2E wombat again"
		e.must(t, a.WaitLine(0, text), "the line in a")
		mention := `Array.from(document.querySelectorAll("#page .ProseMirror a.mention")).map(m => m.textContent + "=" + m.getAttribute("data-target"))`
		two := fmt.Sprintf(`%s.join() === %s`, mention, q("E2E mention target="+target+",E2E wombat="+other))
		e.must(t, e.bb.WaitLine(0, text), "the line in b")
		e.must(t, e.bb.WaitFor("both mentions in b, of the target", two, mention), "mentions in b")
		var got []api.Block
		waitFor(t, "both mentions on b's device", func() bool {
			got = blocksOn(e.b, id)
			return len(got) == 1 && got[0].Text == text && len(got[0].Marks) == 2
		}, e.node, e.upA, e.upB)
		for i, w := range []api.Mark{{Start: 10, End: 28, Type: "mention", Value: target}, {Start: 33, End: 43, Type: "mention", Value: other}} {
			if m := got[0].Marks[i]; m != w {
				e.fatalf(t, "mention %d on b's device is %+v, not %+v", i, m, w)
			}
		}
		// mycel show: links to the pages (by id: renaming them breaks none).
		e.shows(t, e.b, id, fmt.Sprintf("\nintro see [[%s|E2E mention target]] and [[%s|E2E wombat]] again\n", target, other))
		// Ctrl+click on a mention opens its page.
		x, y = e.center(t, a, `document.querySelector("#page .ProseMirror a.mention")`)
		e.must(t, a.ClickAt(x, y, chromedp.ModifierCtrl), "Ctrl+click the mention")
		e.must(t, a.WaitFor("the target page open", `document.querySelector("#title").value === "E2E mention target"`, `document.querySelector("#title").value`), "open the mention")
		e.must(t, a.WaitLine(0, "the page mentioned"), "its text")
		e.shot(t, "mention-opened")
	})

	t.Run("NestMoveAndCheckByKeys", func(t *testing.T) {
		id := e.page(t, "E2E keys", "one\n\ntwo\n\nthree\n\n- [ ] task")
		a := e.ba
		before := e.deviceBlocks(t, e.b, id, "paragraph: one", "paragraph: two", "paragraph: three", "todo: task")
		ids := map[string]string{}
		for _, s := range []string{"one", "two", "three", "task"} {
			ids[s] = idOf(t, before, s)
		}
		// sameIDs: every block keeps its id (a move, not a deletion and a
		// new block).
		sameIDs := func(bs []api.Block) {
			t.Helper()
			for s, want := range ids {
				if got := idOf(t, bs, s); got != want {
					e.fatalf(t, "block %q has id %s on b's device after the move, was %s", s, got, want)
				}
			}
		}
		// Tab nests "two" under "one", then "three" under "one" after it.
		e.must(t, a.Select(1, 1, 1), "caret in two")
		e.must(t, a.Press(kb.Tab), "Tab")
		e.must(t, a.Type("+"), "type where the caret is")
		e.must(t, a.Select(2, 0, 0), "caret in three")
		e.must(t, a.Press(kb.Tab), "Tab")
		nested := []string{"paragraph: one", "  paragraph: t+wo", "  paragraph: three", "todo: task"}
		e.waitOutline(t, a, "a", nested...)
		e.waitOutline(t, e.bb, "b", nested...)
		ids["t+wo"] = ids["two"]
		delete(ids, "two")
		sameIDs(e.deviceBlocks(t, e.b, id, nested...))
		e.shot(t, "nested")
		// Shift+Tab takes "t+wo" out of "one", to right after it; "three",
		// after it in "one", stays there.
		e.must(t, a.Select(1, 0, 0), "caret in t+wo")
		e.must(t, a.Press(kb.Tab, chromedp.ModifierShift), "Shift+Tab")
		out := []string{"paragraph: one", "  paragraph: three", "paragraph: t+wo", "todo: task"}
		e.waitOutline(t, a, "a", out...)
		e.waitOutline(t, e.bb, "b", out...)
		sameIDs(e.deviceBlocks(t, e.b, id, out...))
		// Alt+Up moves the to-do above "t+wo", Alt+Down back down; then
		// up twice: above "one" with its child.
		e.must(t, a.Select(3, 2, 2), "caret in task")
		e.must(t, a.Press(kb.ArrowUp, chromedp.ModifierAlt), "Alt+Up")
		moved := []string{"paragraph: one", "  paragraph: three", "todo: task", "paragraph: t+wo"}
		e.waitOutline(t, a, "a", moved...)
		c, err := a.Caret()
		e.must(t, err, "the caret")
		if c != (webdrive.Caret{Line: 2, Offset: 2, Collapsed: true}) {
			e.fatalf(t, "the caret is at %+v after Alt+Up, not where it was in the block moved (line 2, offset 2)", c)
		}
		e.must(t, a.Press(kb.ArrowUp, chromedp.ModifierAlt), "Alt+Up")
		top := []string{"todo: task", "paragraph: one", "  paragraph: three", "paragraph: t+wo"}
		e.waitOutline(t, a, "a", top...)
		e.waitOutline(t, e.bb, "b", top...)
		sameIDs(e.deviceBlocks(t, e.b, id, top...))
		e.must(t, a.Press(kb.ArrowDown, chromedp.ModifierAlt), "Alt+Down")
		e.waitOutline(t, a, "a", moved...)
		e.waitOutline(t, e.bb, "b", moved...)
		sameIDs(e.deviceBlocks(t, e.b, id, moved...))
		e.shot(t, "moved")
		// Ctrl+Enter checks the to-do, and again unchecks it.
		e.must(t, a.Press(kb.Enter, chromedp.ModifierCtrl), "Ctrl+Enter")
		checked := []string{"paragraph: one", "  paragraph: three", "todo[x]: task", "paragraph: t+wo"}
		e.waitOutline(t, e.bb, "b", checked...)
		e.deviceBlocks(t, e.b, id, checked...)
		e.shows(t, e.b, id, "\n- [x] task\n\nt+wo\n")
		e.must(t, a.Press(kb.Enter, chromedp.ModifierCtrl), "Ctrl+Enter")
		e.waitOutline(t, e.bb, "b", moved...)
		// A click on its box checks it; the text is not touched.
		r, err := a.Box(lineEl(2))
		e.must(t, err, "where the to-do is")
		e.must(t, a.ClickAt(r.X+6, r.Y+r.Height/2), "click the box")
		e.waitOutline(t, a, "a", checked...)
		e.waitOutline(t, e.bb, "b", checked...)
		sameIDs(e.deviceBlocks(t, e.b, id, checked...))
		e.shot(t, "checked-by-click")
	})

	t.Run("DragHandle", func(t *testing.T) {
		id := e.page(t, "E2E drag", "alpha\n\nbeta\n\ngamma")
		a := e.ba
		before := e.deviceBlocks(t, e.b, id, "paragraph: alpha", "paragraph: beta", "paragraph: gamma")
		// The handle shows beside the block under the pointer.
		gx, gy := e.center(t, a, lineEl(2))
		e.must(t, a.MouseMove(gx, gy), "hover gamma")
		handle := `document.querySelector("#handle")`
		e.must(t, a.WaitFor("the handle beside gamma", fmt.Sprintf(`!%s.hidden && Math.abs(%[1]s.getBoundingClientRect().top - %s.getBoundingClientRect().top) < 8`, handle, lineEl(2)),
			fmt.Sprintf(`[%s.hidden, %[1]s.getBoundingClientRect().top, %s.getBoundingClientRect().top]`, handle, lineEl(2))), "handle")
		// Beside it, not over it (where a to-do's box is).
		if over, err := webdrive.Eval[bool](a, fmt.Sprintf(`%s.getBoundingClientRect().right > %s.getBoundingClientRect().left`, handle, lineEl(2))); err != nil || over {
			e.fatalf(t, "the handle covers the start of the block's line (%v)", err)
		}
		e.shot(t, "drag-handle")
		hx, hy := e.center(t, a, handle)
		// Dropped on the top half of alpha's line: before alpha.
		r, err := a.Box(lineEl(0))
		e.must(t, err, "where alpha is")
		e.must(t, a.Drag(hx, hy, r.X+2, r.Y+2), "drag gamma above alpha")
		want := []string{"paragraph: gamma", "paragraph: alpha", "paragraph: beta"}
		e.waitOutline(t, a, "a", want...)
		e.waitOutline(t, e.bb, "b", want...)
		after := e.deviceBlocks(t, e.b, id, want...)
		for _, s := range []string{"alpha", "beta", "gamma"} {
			if idOf(t, after, s) != idOf(t, before, s) {
				e.fatalf(t, "block %q has a new id after the drag (%s, was %s)", s, idOf(t, after, s), idOf(t, before, s))
			}
		}
		e.shows(t, e.b, id, "\ngamma\n\nalpha\n\nbeta\n")
		e.shot(t, "dragged")
	})

	t.Run("Table", func(t *testing.T) {
		id := e.page(t, "E2E table", "intro")
		a := e.ba
		e.must(t, a.SelectEnd(0), "caret at the end")
		e.must(t, a.Type("\r/table"), "a new line, then /table")
		e.waitPicker(t, a, "Table*")
		e.must(t, a.Press(kb.Enter), "pick Table")
		cells := `document.querySelectorAll("#page .ProseMirror div.b-cell")`
		e.must(t, a.WaitFor("a 2×2 table", cells+`.length === 4`, cells+`.length`), "table")
		e.shot(t, "table-new")
		// In place of the empty line /table was typed on, the caret in its
		// first cell: what is typed goes there.
		e.must(t, a.Type("h1"), "type in the first cell")
		for i, s := range []string{"", "h2", "c1", "c2"} {
			if s == "" {
				continue
			}
			x, y := e.center(t, a, fmt.Sprintf(`%s[%d]`, cells, i))
			e.must(t, a.ClickAt(x, y), "click a cell")
			e.must(t, a.Type(s), "type in a cell")
		}
		cellText := `Array.from(` + cells + `).map(c => c.textContent).join()`
		e.must(t, a.WaitFor("the cells typed in a", cellText+` === "h1,h2,c1,c2"`, cellText), "cells in a")
		e.must(t, e.bb.WaitFor("the cells typed in b", cellText+` === "h1,h2,c1,c2"`, cellText), "cells in b")
		e.shows(t, e.b, id, "\nintro\n\n| h1 | h2 |\n| --- | --- |\n| c1 | c2 |\n")
		// The device gave the columns ids, and each cell names its column
		// by it.
		var table api.Block
		waitFor(t, "the table's cells naming their columns by id on b", func() bool {
			bs := blocksOn(e.b, id)
			if len(bs) == 0 || bs[len(bs)-1].Type != "table" {
				return false
			}
			table = bs[len(bs)-1]
			for _, r := range table.Children {
				for _, c := range r.Children {
					if strings.HasPrefix(c.Attrs["col"], "#") {
						return false
					}
				}
			}
			return true
		}, e.node, e.upA, e.upB)
		var cols []string
		for _, c := range table.Children {
			if c.Type == "column" {
				cols = append(cols, c.ID)
			}
		}
		for _, r := range table.Children {
			if r.Type != "row" {
				continue
			}
			var got []string
			for _, c := range r.Children {
				got = append(got, c.Attrs["col"])
			}
			if !slices.Equal(got, cols) {
				e.fatalf(t, "a row's cells name columns %q, the table's are %q", got, cols)
			}
		}
		// Typing on in a cell once its columns have ids keeps them.
		x, y := e.center(t, a, fmt.Sprintf(`%s[3]`, cells))
		e.must(t, a.ClickAt(x, y), "click the last cell")
		e.must(t, a.Press(kb.End), "to its end")
		e.must(t, a.Type("+"), "type")
		// Shift+Tab and Tab go to the previous and next cell; Alt+Up in a
		// cell leaves the table as it is.
		e.must(t, a.Press(kb.Tab, chromedp.ModifierShift), "Shift+Tab in a cell")
		e.must(t, a.Type("!"), "type")
		e.must(t, a.Press(kb.Tab), "Tab in a cell")
		e.must(t, a.Press(kb.ArrowUp, chromedp.ModifierAlt), "Alt+Up in a cell")
		e.must(t, a.Type("?"), "type")
		e.must(t, e.bb.WaitFor("the cells in b", cellText+` === "h1,h2,c1!,c2+?"`, cellText), "cells in b")
		e.shows(t, e.b, id, "\nintro\n\n| h1 | h2 |\n| --- | --- |\n| c1! | c2+? |\n")
		e.shot(t, "table-typed")
	})

	t.Run("SettingsAndDiagnostics", func(t *testing.T) {
		id := e.page(t, "E2E settings", "a secret sentence")
		a := e.ba
		e.must(t, a.Click("#settings-btn"), "open devices & settings")
		devices := `Array.from(document.querySelectorAll("#devices li")).map(li => li.textContent)`
		e.must(t, a.WaitFor("both devices listed", devices+`.length === 2 && `+devices+`.some(d => d.startsWith("laptop") && d.includes("this device")) && `+devices+`.some(d => d.startsWith("phone"))`, devices), "devices")
		nodes := `Array.from(document.querySelectorAll("#nodes li")).map(li => li.textContent)`
		addr := nodeAddr(t, e.node)
		e.must(t, a.WaitFor("the node listed", nodes+`.length === 1 && `+nodes+`[0].startsWith(`+q(addr)+`)`, nodes), "nodes")
		e.shot(t, "settings")
		// An address that is not one: the message says so, the nodes stay.
		x, y := e.center(t, a, `document.querySelector("#node-addr")`)
		e.must(t, a.ClickAt(x, y), "click the address field")
		e.must(t, a.Type("not an address\r"), "type it and Enter")
		e.must(t, a.WaitFor("the message about the address", `document.querySelector("#message").textContent.includes("/ip4/")`, `document.querySelector("#message").textContent`), "message")
		e.must(t, a.WaitFor("the node still the only one", nodes+`.length === 1`, nodes), "nodes")
		e.shot(t, "settings-bad-address")
		e.must(t, a.Click("#settings-close"), "close")
		// The diagnostics of the page, downloaded: of this page, its text
		// left out.
		dir := t.TempDir()
		path, err := a.Download("#diag", dir)
		e.must(t, err, "download the diagnostics")
		data, err := os.ReadFile(path)
		e.must(t, err, "read them")
		var d map[string]any
		if err := json.Unmarshal(data, &d); err != nil {
			e.fatalf(t, "the diagnostics are not JSON: %v\n%s", err, data)
		}
		if !strings.Contains(string(data), id) {
			e.fatalf(t, "the diagnostics do not name the page %s:\n%s", id, data)
		}
		for _, secret := range []string{"secret", "E2E settings"} {
			if strings.Contains(string(data), secret) {
				e.fatalf(t, "the diagnostics hold the page's %q (not anonymized):\n%s", secret, data)
			}
		}
		os.WriteFile(filepath.Join(e.shots, "diagnostics.json"), data, 0o644)
	})
}
