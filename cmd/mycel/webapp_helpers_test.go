package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mycel/internal/webdrive"
)

// webE2E is what the browser end-to-end tests share: a node, two devices of
// one vault each running 'mycel up' with the web app (laptop a, phone b),
// and a headless Chromium logged into each device's app (ba, bb).
type webE2E struct {
	t                *testing.T
	nodeData, listen string
	node             *proc
	a, b             *cli
	upA, upB         *proc
	ba, bb           *webdrive.Browser
	shots            string // folder of the screenshots
	nshots           int
}

// newWebE2E starts it all, or skips: under -short (it starts three
// processes and two browsers) and without a Chromium on PATH.
func newWebE2E(t *testing.T) *webE2E {
	if testing.Short() {
		t.Skip("starts a node, two devices and two browsers")
	}
	exe, err := webdrive.Find()
	if err != nil {
		t.Skip(err)
	}
	e := &webE2E{t: t, shots: artifacts(t, "web-e2e")}
	e.nodeData, e.listen, e.node, e.a, e.b, e.upA, e.upB = setup(t, "--web", "127.0.0.1:0")
	// Both browsers start and log in at once (each takes a second or so).
	var wg sync.WaitGroup
	var errA, errB error
	wg.Add(2)
	go func() { defer wg.Done(); e.ba, errA = e.browser(exe, e.a) }()
	go func() { defer wg.Done(); e.bb, errB = e.browser(exe, e.b) }()
	wg.Wait()
	if errA != nil || errB != nil {
		e.fatalf(t, "browsers: a: %v; b: %v", errA, errB)
	}
	return e
}

// artifacts is the folder for files a test leaves for people to look at:
// $MYCEL_ARTIFACTS/name, else .ci/artifacts/name in the repository; emptied
// first.
func artifacts(t *testing.T, name string) string {
	root := os.Getenv("MYCEL_ARTIFACTS")
	if root == "" {
		repo, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			t.Fatal(err)
		}
		root = filepath.Join(repo, ".ci", "artifacts")
	}
	dir := filepath.Join(root, name)
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser starts a Chromium and logs it into c's running web app with the
// address 'mycel open --print' gives (polled: up may not be serving yet).
func (e *webE2E) browser(exe string, c *cli) (*webdrive.Browser, error) {
	var link string
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, err := c.run("", "open", "--print")
		if err == nil {
			link = strings.TrimSpace(out)
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no login address: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	b, err := webdrive.Start(e.t.Context(), exe, e.t.Logf)
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(b.Close)
	return b, b.Login(link)
}

// fatalf ends the test with the processes' output and a screenshot of
// each browser.
func (e *webE2E) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	for name, p := range map[string]*proc{"node": e.node, "up a": e.upA, "up b": e.upB} {
		t.Logf("%s output:\n%s", name, p.output())
	}
	e.shot(t, "failed")
	t.Fatalf(format, args...)
}

// must ends the test (as fatalf) when err is not nil.
func (e *webE2E) must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		e.fatalf(t, "%s: %v", what, err)
	}
}

// shot writes a screenshot of each browser: NN-name-a.png, NN-name-b.png.
func (e *webE2E) shot(t *testing.T, name string) {
	e.nshots++
	for side, b := range map[string]*webdrive.Browser{"a": e.ba, "b": e.bb} {
		if b == nil {
			continue
		}
		if err := b.Screenshot(filepath.Join(e.shots, fmt.Sprintf("%02d-%s-%s.png", e.nshots, name, side))); err != nil {
			t.Logf("screenshot %s of %s: %v", name, side, err)
		}
	}
}

// page makes a page on a (Markdown text), waits until b has it, and opens
// it in both browsers; it returns its id.
func (e *webE2E) page(t *testing.T, title, text string) string {
	t.Helper()
	id := strings.TrimSpace(e.a.ok("new", "--title", title, "--text", text))
	last := text[strings.LastIndex(text, "\n")+1:]
	waitFor(t, title+" on b", showsText(e.b, id, "\n"+last+"\n"), e.node, e.upA, e.upB)
	e.must(t, e.ba.OpenPage(title), "open on a")
	e.must(t, e.bb.OpenPage(title), "open on b")
	return id
}

// shows waits until c's 'mycel show ID' ends with want.
func (e *webE2E) shows(t *testing.T, c *cli, id, want string) {
	t.Helper()
	name := "a"
	if c == e.b {
		name = "b"
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _, err := c.run("", "show", id)
		if err == nil && strings.HasSuffix(out, want) {
			return
		}
		if time.Now().After(deadline) {
			e.fatalf(t, "timed out waiting for 'mycel show' on %s to end with %q; it is %q (%v)", name, want, out, err)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}
