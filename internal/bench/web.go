package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"mycel/internal/webdrive"
)

// WebRig is the web app as people use it, on this machine: a node and two
// devices of one vault, each running 'mycel up' with the web app on
// loopback (processes of the mycel executable exe, in temporary folders),
// and a headless Chromium logged into each device's app (A and B).
type WebRig struct {
	exe, dir string
	Node     *exec.Cmd
	UpA, UpB *exec.Cmd
	A, B     *webdrive.Browser
	dataA    string
	procs    []*exec.Cmd
	browsers []*webdrive.Browser
}

// StartWebRig starts it all in dir; Close stops it.
func StartWebRig(ctx context.Context, exe, chromium, dir string) (r *WebRig, err error) {
	r = &WebRig{exe: exe, dir: dir}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	nodeData := filepath.Join(dir, "node")
	node, out, err := r.start("--data", nodeData, "node")
	if err != nil {
		return nil, err
	}
	r.Node = node
	addr, err := printedLine(out, 30*time.Second, func(l string) bool {
		return strings.HasPrefix(l, "/ip4/127.0.0.1/tcp/") && strings.Contains(l, "/p2p/")
	})
	if err != nil {
		return nil, fmt.Errorf("the node's address: %w", err)
	}
	r.dataA = filepath.Join(dir, "a")
	dataB := filepath.Join(dir, "b")
	initOut, err := r.run("", "--data", r.dataA, "init", "--show-phrase", "--name", "laptop", "--json")
	if err != nil {
		return nil, err
	}
	var made struct{ Phrase string }
	if err := json.Unmarshal([]byte(initOut), &made); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	if _, err := r.run(made.Phrase+"\n", "--data", dataB, "recover", "--name", "phone"); err != nil {
		return nil, err
	}
	for _, d := range []string{r.dataA, dataB} {
		if _, err := r.run("", "--data", d, "nodes", "add", addr); err != nil {
			return nil, err
		}
	}
	if r.UpA, _, err = r.start("--data", r.dataA, "up", "--no-lan", "--web", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if r.UpB, _, err = r.start("--data", dataB, "up", "--no-lan", "--web", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if r.A, err = r.browser(ctx, chromium, r.dataA); err != nil {
		return nil, fmt.Errorf("browser A: %w", err)
	}
	if r.B, err = r.browser(ctx, chromium, dataB); err != nil {
		return nil, fmt.Errorf("browser B: %w", err)
	}
	return r, nil
}

// lockedBuffer is a process's output, read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start starts a long-running mycel process.
func (r *WebRig) start(args ...string) (*exec.Cmd, *lockedBuffer, error) {
	out := &lockedBuffer{}
	cmd := exec.Command(r.exe, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	r.procs = append(r.procs, cmd)
	return cmd, out, nil
}

// run runs a mycel command to its end.
func (r *WebRig) run(stdin string, args ...string) (string, error) {
	cmd := exec.Command(r.exe, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("mycel %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// printedLine waits for out to hold a line that match accepts.
func printedLine(out *lockedBuffer, within time.Duration, match func(string) bool) (string, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); match(l) {
				return l, nil
			}
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	return "", fmt.Errorf("not printed within %v:\n%s", within, out.String())
}

// browser starts a Chromium and logs it into the app of the up on data.
func (r *WebRig) browser(ctx context.Context, chromium, data string) (*webdrive.Browser, error) {
	var link string
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := r.run("", "--data", data, "open", "--print")
		if err == nil {
			link = strings.TrimSpace(out)
			break
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline: up starts
	}
	b, err := webdrive.Start(ctx, chromium, nil)
	if err != nil {
		return nil, err
	}
	r.browsers = append(r.browsers, b)
	return b, b.Login(link)
}

// NewPage makes a page on A from Markdown and waits until both apps list
// it; it returns its id.
func (r *WebRig) NewPage(title, markdown string) (string, error) {
	f := filepath.Join(r.dir, "page.md")
	if err := os.WriteFile(f, []byte(markdown), 0o600); err != nil {
		return "", err
	}
	out, err := r.run("", "--data", r.dataA, "new", "--title", title, "--file", f)
	if err != nil {
		return "", err
	}
	for _, b := range []*webdrive.Browser{r.A, r.B} {
		row := fmt.Sprintf(`Array.from(document.querySelectorAll("#pages li")).some(li => li.textContent === %s)`, webdrive.Quote(title))
		if err := b.Within(60*time.Second).WaitFor("the page "+title+" listed", row, ""); err != nil {
			return "", err
		}
	}
	return strings.TrimSpace(out), nil
}

// Close stops the browsers and the processes.
func (r *WebRig) Close() {
	for _, b := range r.browsers {
		b.Close()
	}
	for i := len(r.procs) - 1; i >= 0; i-- {
		p := r.procs[i]
		p.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
}
