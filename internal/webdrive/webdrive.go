// Package webdrive drives a headless Chromium through the web app of a
// running `mycel up`, as a person would: it starts the browser, logs in with
// the address `mycel open --print` gives, opens a page from the sidebar,
// places the caret, types key by key and reads back what the page shows
// (text, marks, the caret, the badge), and takes screenshots. The browser
// end-to-end tests (cmd/mycel) and `mycel bench web` use it.
//
// Every wait polls the page with a deadline (Browser.Timeout); none sleeps
// for a guessed time.
package webdrive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// ErrNoBrowser is returned by Find when no Chromium is installed.
var ErrNoBrowser = errors.New("no chromium, chromium-browser, google-chrome or headless_shell on PATH (Debian: apt-get install chromium)")

// Find returns the path of a Chromium (or Chrome) on PATH.
func Find() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoBrowser
}

// Editor is the selector of the page's editor; Lines are its blocks' lines
// of text (a block is a div.b holding one p.line and its child blocks).
const (
	Editor = "#page .ProseMirror"
	Lines  = Editor + " p.line"
)

// Browser is one headless Chromium with one tab.
type Browser struct {
	ctx    context.Context // the tab's
	cancel func()
	dir    string
	// Timeout bounds every wait and every call (20 s unless changed).
	Timeout time.Duration
}

// Start starts the Chromium at exe (Find's when empty), headless, with a
// user data folder of its own that Close removes. The browser lives until
// Close or until parent ends. logf receives the browser's errors (nil:
// dropped).
func Start(parent context.Context, exe string, logf func(string, ...any)) (*Browser, error) {
	if exe == "" {
		var err error
		if exe, err = Find(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "mycel-webdrive-")
	if err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	// The defaults are headless, no first run, no background networking,
	// no sync, no throttling of timers. CI runs as root, where Chromium
	// refuses to start sandboxed; there is no GPU; nothing is to be
	// downloaded (component updates).
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 900),
	)
	actx, acancel := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(logf), chromedp.WithLogf(logf))
	b := &Browser{ctx: ctx, dir: dir, Timeout: 20 * time.Second}
	b.cancel = func() {
		cancel()
		acancel()
		os.RemoveAll(dir)
	}
	// The first run starts the browser (with no deadline: one would end it).
	if err := chromedp.Do(ctx); err != nil {
		b.cancel()
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	return b, nil
}

// Close stops the browser and removes its user data folder.
func (b *Browser) Close() { b.cancel() }

// Within is b with another Timeout (the same browser and tab).
func (b *Browser) Within(d time.Duration) *Browser {
	c := *b
	c.Timeout = d
	return &c
}

// PID is the browser's main process (its renderers and helpers are its
// children).
func (b *Browser) PID() int {
	if c := chromedp.FromContext(b.ctx); c != nil && c.Browser != nil && c.Browser.Process() != nil {
		return c.Browser.Process().Pid
	}
	return 0
}

// Do runs chromedp actions on the tab, within Timeout.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Eval evaluates a JavaScript expression in the page (a promise is awaited)
// and decodes its value into T.
func Eval[T any](b *Browser, js string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js, func(p *runtime.EvaluateParams) { p.AwaitPromise = ptr(true) }))
}

func ptr[T any](v T) *T { return &v }

// WaitFor evaluates js until it yields true, for at most Timeout; the error
// names what was awaited and, when given, what show evaluated to last.
func (b *Browser) WaitFor(what, js, show string) error {
	deadline := time.Now().Add(b.Timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := Eval[bool](b, "!!("+js+")")
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			last := ""
			if show != "" {
				v, serr := Eval[any](b, show)
				last = fmt.Sprintf(" (it is %#v %v)", v, serr)
			}
			if err != nil {
				last += " (" + err.Error() + ")"
			}
			return fmt.Errorf("timed out after %v waiting for %s%s", b.Timeout, what, last)
		}
		select {
		case <-tick.C:
		case <-b.ctx.Done():
			return b.ctx.Err()
		}
	}
}

// Text is the text content of the first element sel matches ("" when none).
func (b *Browser) Text(sel string) (string, error) {
	return Eval[string](b, fmt.Sprintf(`(document.querySelector(%s)?.textContent) ?? ""`, quote(sel)))
}

// WaitText waits until the first element sel matches has exactly the text
// want.
func (b *Browser) WaitText(sel, want string) error {
	q := quote(sel)
	return b.WaitFor(fmt.Sprintf("%s to read %q", sel, want), fmt.Sprintf(`document.querySelector(%s)?.textContent === %s`, q, quote(want)),
		fmt.Sprintf(`document.querySelector(%s)?.textContent`, q))
}

// Has reports whether an element matches sel.
func (b *Browser) Has(sel string) (bool, error) {
	return Eval[bool](b, fmt.Sprintf(`document.querySelector(%s) !== null`, quote(sel)))
}

// Login opens the one-time login address and waits for the app: its page
// list and its first status.
func (b *Browser) Login(link string) error {
	if err := b.Do(chromedp.Navigate(link)); err != nil {
		return fmt.Errorf("open %s: %w", strings.SplitN(link, "?", 2)[0], err)
	}
	return b.WaitFor("the app to show its status", `document.querySelector("#badge")?.dataset.status`, `document.body.innerText`)
}

// Click clicks (with the mouse, at its centre) the first element sel
// matches, once it is visible.
func (b *Browser) Click(sel string) error {
	return b.Do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// OpenPage clicks the sidebar row titled title and waits until the page
// is open: its row is the current one, the header shows its title and its
// editor is there (the header and the editor change together, once the
// page is loaded; the row is marked before).
func (b *Browser) OpenPage(title string) error {
	q := quote(title)
	row := fmt.Sprintf(`Array.from(document.querySelectorAll("#pages li")).find(li => li.textContent === %s)`, q)
	if err := b.WaitFor(fmt.Sprintf("a page %q in the list", title), row, `Array.from(document.querySelectorAll("#pages li")).map(li => li.textContent)`); err != nil {
		return err
	}
	if _, err := Eval[bool](b, fmt.Sprintf(`(%s).click(), true`, row)); err != nil {
		return err
	}
	return b.WaitFor(fmt.Sprintf("page %q to open", title),
		fmt.Sprintf(`(%s)?.getAttribute("aria-current") === "page" && %s === %s && document.querySelector(%s) !== null`, row, titleJS, q, quote(Editor)), titleJS)
}

// titleJS is the open page's title as the header shows it (an <input>, or
// text).
const titleJS = `(t => t ? (t.tagName === "INPUT" ? t.value : t.textContent) : null)(document.querySelector("#title"))`

// Lines is the text of each line of the open page, in order.
func (b *Browser) Lines() ([]string, error) {
	return Eval[[]string](b, fmt.Sprintf(`Array.from(document.querySelectorAll(%s)).map(p => p.textContent)`, quote(Lines)))
}

// WaitLine waits until line i of the open page reads want.
func (b *Browser) WaitLine(i int, want string) error {
	return b.WaitFor(fmt.Sprintf("line %d to read %q", i, want),
		fmt.Sprintf(`document.querySelectorAll(%s)[%d]?.textContent === %s`, quote(Lines), i, quote(want)),
		fmt.Sprintf(`Array.from(document.querySelectorAll(%s)).map(p => p.textContent)`, quote(Lines)))
}

// domPoint is a JavaScript function: the DOM position (node, offset) of
// character offset off of element el's text.
const domPoint = `function domPoint(el, off) {
	const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
	let last = null;
	for (let n = w.nextNode(); n; n = w.nextNode()) {
		if (off <= n.data.length) return [n, off];
		off -= n.data.length;
		last = n;
	}
	return last ? [last, last.data.length] : [el, 0];
}`

// Select selects characters from to to (code units) of line i of the open
// page, focusing the editor; from == to places the caret. The editor reads
// the selection on the browser's selectionchange event, which is
// dispatched before a task queued after it: Select returns after such a
// task, so keys sent next find the editor's selection in place.
func (b *Browser) Select(i, from, to int) error {
	js := fmt.Sprintf(`(async () => {
		%s
		const line = document.querySelectorAll(%s)[%d];
		if (!line) throw new Error("no line %d");
		document.querySelector(%s).focus();
		const [a, ao] = domPoint(line, %d), [z, zo] = domPoint(line, %d);
		getSelection().setBaseAndExtent(a, ao, z, zo);
		await new Promise(ok => setTimeout(ok, 0));
		return true;
	})()`, domPoint, quote(Lines), i, i, quote(Editor), from, to)
	_, err := Eval[bool](b, js)
	return err
}

// SelectEnd places the caret at the end of line i.
func (b *Browser) SelectEnd(i int) error {
	lines, err := b.Lines()
	if err != nil {
		return err
	}
	if i >= len(lines) {
		return fmt.Errorf("no line %d (the page has %d)", i, len(lines))
	}
	n := len([]rune(lines[i])) // JavaScript counts UTF-16 units: the same for the BMP
	return b.Select(i, n, n)
}

// Caret is where the browser's selection starts: the line of the open
// page and the character offset in it.
type Caret struct {
	Line, Offset int
	Collapsed    bool
}

// Caret reads the selection the browser shows (window.getSelection()).
func (b *Browser) Caret() (Caret, error) {
	return Eval[Caret](b, fmt.Sprintf(`(() => {
		const s = getSelection();
		if (!s.rangeCount) throw new Error("no selection");
		const r = s.getRangeAt(0);
		const lines = Array.from(document.querySelectorAll(%s));
		const i = lines.findIndex(p => p.contains(r.startContainer));
		if (i < 0) throw new Error("the selection is not in the editor's lines");
		const pre = document.createRange();
		pre.selectNodeContents(lines[i]);
		pre.setEnd(r.startContainer, r.startOffset);
		return {Line: i, Offset: pre.toString().length, Collapsed: r.collapsed};
	})()`, quote(Lines)))
}

// Type types s key by key where the focus is, as a keyboard does: for
// each character a keyDown that carries its text, then a keyUp.
// Chromium makes the keydown and keypress events of the page from the
// keyDown, and skips the keypress (no text typed) when the page prevented
// the keydown, as for a real key. chromedp.KeyEvent sends the text in a
// char event of its own instead, which Chromium types even then: an Enter
// the editor handled (a block split, a pick in a menu) typed a second line
// break.
func (b *Browser) Type(s string) error {
	return b.Do(keys(s))
}

// Shortcut presses key with Ctrl (ProseMirror's Mod- on Linux), as Ctrl+B.
func (b *Browser) Shortcut(key string) error {
	return b.Press(key, chromedp.ModifierCtrl)
}

// Press presses one key with modifiers held, as Shift+Tab
// (Press(kb.Tab, chromedp.ModifierShift)) or Alt+ArrowUp; key is a
// character or one of chromedp/kb's keys (kb.Enter, kb.ArrowDown…). With
// Ctrl, Alt or Meta held no text is typed.
func (b *Browser) Press(key string, mods ...chromedp.Modifier) error {
	return b.Do(keys(key, mods...))
}

// keys is the key events of s (see Type).
func keys(s string, mods ...chromedp.Modifier) chromedp.Action[chromedp.Void] {
	var m int64
	for _, x := range mods {
		m |= int64(x)
	}
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, r := range s {
			var down, up *input.DispatchKeyEventParams
			text, unmodified := "", ""
			for _, k := range kb.Encode(r) {
				switch k.Type {
				case kb.KeyDown:
					down = k
				case kb.KeyUp:
					up = k
				case kb.KeyChar:
					text, unmodified = k.Text, k.UnmodifiedText
				}
			}
			if m&^int64(chromedp.ModifierShift) == 0 {
				down.Text, down.UnmodifiedText = text, unmodified
			}
			if down.Text == "" {
				down.Type = input.DispatchKeyEventTypeRawKeyDown
			}
			for _, k := range []*input.DispatchKeyEventParams{down, up} {
				k.Modifiers |= m
				if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, *k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Rect is an element's box in the viewport, in CSS pixels.
type Rect struct{ X, Y, Width, Height float64 }

// Box scrolls the element the expression el evaluates to into view (when it
// is not) and returns its box.
func (b *Browser) Box(el string) (Rect, error) {
	return Eval[Rect](b, `(el => {
		if (!el) throw new Error("no element");
		el.scrollIntoView({block: "nearest"});
		const r = el.getBoundingClientRect();
		return {X: r.left, Y: r.top, Width: r.width, Height: r.height};
	})(`+el+`)`)
}

// mouse dispatches one mouse event at x, y.
func mouse(typ input.DispatchMouseEventType, x, y float64, pressed bool, mods ...chromedp.Modifier) chromedp.Action[chromedp.Void] {
	return chromedp.MouseEvent(typ, x, y, func(p *input.DispatchMouseEventParams) {
		if pressed {
			p.Button, p.Buttons, p.ClickCount = input.MouseButtonLeft, 1, 1
		}
		for _, m := range mods {
			p.Modifiers |= int64(m)
		}
	})
}

// MouseMove moves the mouse to x, y with no button pressed (the page gets
// mousemove, mouseover…).
func (b *Browser) MouseMove(x, y float64) error {
	return b.Do(mouse(chromedp.MouseMoved, x, y, false))
}

// ClickAt moves the mouse to x, y and clicks the left button there, with
// modifiers held (Ctrl+click: chromedp.ModifierCtrl).
func (b *Browser) ClickAt(x, y float64, mods ...chromedp.Modifier) error {
	return b.Do(mouse(chromedp.MouseMoved, x, y, false, mods...),
		mouse(chromedp.MousePressed, x, y, true, mods...),
		mouse(chromedp.MouseReleased, x, y, true, mods...))
}

// Drag drags with the left button from (fx, fy) to (tx, ty) as a hand
// does: pressed, moved in steps, released. On a draggable element that
// is an HTML drag and drop (dragstart, dragover…, drop, dragend), which
// headless Chromium carries out from these mouse events alone.
func (b *Browser) Drag(fx, fy, tx, ty float64) error {
	const steps = 8
	acts := []chromedp.Action[chromedp.Void]{mouse(chromedp.MouseMoved, fx, fy, false), mouse(chromedp.MousePressed, fx, fy, true)}
	for i := 1; i <= steps; i++ {
		acts = append(acts, mouse(chromedp.MouseMoved, fx+(tx-fx)*float64(i)/steps, fy+(ty-fy)*float64(i)/steps, true))
	}
	return b.Do(append(acts, mouse(chromedp.MouseReleased, tx, ty, true))...)
}

// Download clicks the first element sel matches (a link to a download)
// and waits until the browser has saved the file into dir; it returns the
// file's path (dir/GUID: the browser names it).
func (b *Browser) Download(sel, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptr(true),
	}); err != nil {
		return "", err
	}
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
		return "", err
	}
	for ev, err := range progress {
		if err != nil {
			return "", err
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			return filepath.Join(dir, ev.GUID), nil
		case browser.DownloadProgressStateCanceled:
			return "", errors.New("the download was canceled")
		}
	}
	return "", ctx.Err()
}

// Screenshot writes a PNG of the whole page to path.
func (b *Browser) Screenshot(path string) error {
	ctx, cancel := context.WithTimeout(b.ctx, b.Timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// quote makes s a JavaScript string literal (JSON's string is one; Go's
// encoder escapes U+2028 and U+2029 too).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Quote makes s a JavaScript string literal, for expressions given to Eval
// and WaitFor.
func Quote(s string) string { return quote(s) }
