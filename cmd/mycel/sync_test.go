package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a long-running mycel process (node or up).
type proc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...)}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// waitFor polls cond with a deadline.
func waitFor(t *testing.T, what string, cond func() bool, logs ...*proc) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, p := range logs {
				t.Logf("process output:\n%s", p.output())
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// showsText reports whether c shows object id ending with want.
func showsText(c *cli, id, want string) func() bool {
	return func() bool {
		out, _, err := c.run("", "show", id)
		return err == nil && strings.HasSuffix(out, want)
	}
}

// objectStatus is one object's status as c's running device reports it
// ("" when it cannot tell).
func objectStatus(t *testing.T, c *cli, id string) string {
	out, _, err := c.run("", "status", id, "--json")
	if err != nil {
		return ""
	}
	r := jsonOf[statusReply](t, out)
	if len(r.Objects) != 1 {
		return ""
	}
	return r.Objects[0].Status
}

// loopbackListen is a free loopback TCP address to listen on.
func loopbackListen(t *testing.T) string { return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t)) }

// runNode starts `mycel node` on data, listening at listen: the same
// address each time, so a node can be stopped and started again where its
// devices expect it.
func runNode(t *testing.T, data, listen string) *proc {
	return start(t, "--data", data, "node", "--listen", listen)
}

// nodeAddr reads the dialable address a node prints.
func nodeAddr(t *testing.T, p *proc) string {
	return printed(t, p, "the node's address", func(l string) (string, bool) {
		return l, strings.HasPrefix(l, "/ip4/127.0.0.1/tcp/") && strings.Contains(l, "/p2p/")
	})
}

// printed waits for a process to print a line that match accepts, and
// returns what match makes of it.
func printed(t *testing.T, p *proc, what string, match func(line string) (string, bool)) string {
	t.Helper()
	var got string
	waitFor(t, what, func() bool {
		sc := bufio.NewScanner(strings.NewReader(p.output()))
		for sc.Scan() {
			if v, ok := match(strings.TrimSpace(sc.Text())); ok {
				got = v
				return true
			}
		}
		return false
	}, p)
	return got
}

// setup starts a node on a fixed loopback port and two devices of one vault
// (laptop, phone) registered with it, each running `mycel up` (with upArgs
// after --no-lan).
func setup(t *testing.T, upArgs ...string) (nodeData, listen string, node *proc, a, b *cli, upA, upB *proc) {
	t.Helper()
	nodeData, listen, node, a, b = laptopAndPhoneOnANode(t)
	upA = start(t, append([]string{"--data", a.data, "up", "--no-lan"}, upArgs...)...)
	upB = start(t, append([]string{"--data", b.data, "up", "--no-lan"}, upArgs...)...)
	return
}

func TestTwoDevicesSyncThroughANode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two devices")
	}
	nodeData, listen, node, a, b, upA, upB := setup(t)

	id := strings.TrimSpace(a.ok("new", "--title", "Shared secret page", "--text", "The quokka sat."))
	shows := func(c *cli, want string) func() bool { return showsText(c, id, want) }
	waitFor(t, "the new object on b", shows(b, "\nThe quokka sat.\n"), node, upA, upB)
	statusOf := func(c *cli, args ...string) string {
		out, _, err := c.run("", append([]string{"status", "--json"}, args...)...)
		if err != nil {
			return "error: " + err.Error()
		}
		return jsonOf[statusReply](t, out).Status
	}
	waitFor(t, "a's object to be Synced", func() bool { return objectStatus(t, a, id) == "Synced" }, node, upA, upB)
	waitFor(t, "b's vault to be Synced", func() bool { return statusOf(b) == "Synced" }, node, upA, upB)

	// Offline on both sides: stop the node, edit the same paragraph.
	node.stop()
	waitFor(t, "a to see No connection", func() bool { return statusOf(a) == "No connection" }, upA)
	wa := filepath.Join(t.TempDir(), "a.md")
	os.WriteFile(wa, []byte("The ebony quokka sat.\n"), 0o600)
	a.ok("write", id, "--file", wa)
	wb := filepath.Join(t.TempDir(), "b.md")
	os.WriteFile(wb, []byte("The quokka sat on the zabuton.\n"), 0o600)
	b.ok("write", id, "--file", wb)

	// The node comes back on the same address; both edits survive everywhere.
	node = runNode(t, nodeData, listen)
	nodeAddr(t, node)
	want := "\nThe ebony quokka sat on the zabuton.\n"
	waitFor(t, "a to merge b's edit", shows(a, want), node, upA, upB)
	waitFor(t, "b to merge a's edit", shows(b, want), node, upA, upB)
	waitFor(t, "both vaults Synced again", func() bool { return statusOf(a) == "Synced" && statusOf(b) == "Synced" }, node, upA, upB)
	if out := a.ok("status", id); !strings.Contains(out, "holds our latest changes") {
		t.Fatalf("object status does not show the node holding it:\n%s", out)
	}

	// The node's files hold none of what was written.
	// (Distinctive words: short ones occur in SQLite's own bytes.)
	for _, secret := range []string{"Shared secret page", "quokka", "ebony", "zabuton", "laptop", "phone"} {
		filepath.WalkDir(nodeData, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			f, _ := os.Open(p)
			defer f.Close()
			content, _ := io.ReadAll(f)
			if bytes.Contains(content, []byte(secret)) {
				t.Errorf("node file %s contains %q", p, secret)
			}
			return nil
		})
	}
	upA.stop()
	upB.stop()
	node.stop()
}

// The node is killed (SIGKILL) and restarted 20 times while a device keeps
// editing: both running devices reconnect on their own, within the backoff
// cap, and no edit is lost.
func TestNodeRestartsLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a node 20 times")
	}
	nodeData, listen, node, a, b, upA, upB := setup(t)
	id := strings.TrimSpace(a.ok("new", "--title", "Log"))
	connected := func(c *cli) bool {
		out, _, err := c.run("", "status", "--json")
		if err != nil {
			return false
		}
		r := jsonOf[statusReply](t, out)
		return len(r.Nodes) == 1 && r.Nodes[0].Connected
	}
	n := 0
	for round := 0; round < 20; round++ {
		node.cmd.Process.Kill()
		node.cmd.Wait()
		for k := 0; k < 2; k++ { // edits while the node is down
			n++
			a.ok("append", id, "--text", fmt.Sprintf("edit %d", n))
		}
		node = runNode(t, nodeData, listen)
		nodeAddr(t, node)
		began := time.Now()
		waitFor(t, fmt.Sprintf("round %d: both devices reconnected", round), func() bool { return connected(a) && connected(b) }, node, upA, upB)
		if d := time.Since(began); d > 31*time.Second {
			t.Fatalf("round %d: reconnecting took %v, over the 30 s backoff cap", round, d)
		}
		n++
		a.ok("append", id, "--text", fmt.Sprintf("edit %d", n)) // and one while it is up
	}
	waitFor(t, "every edit on b", func() bool {
		out, _, err := b.run("", "show", id)
		return err == nil && strings.Contains(out, fmt.Sprintf("\nedit %d\n", n))
	}, node, upA, upB)
	out := b.ok("show", id)
	for i := 1; i <= n; i++ {
		if !strings.Contains(out, fmt.Sprintf("\nedit %d\n", i)) {
			t.Fatalf("edit %d lost:\n%s", i, out)
		}
	}
	waitFor(t, "a Synced", func() bool {
		out, _, err := a.run("", "status", "--json")
		return err == nil && jsonOf[statusReply](t, out).Status == "Synced"
	}, node, upA, upB)
}

// Status walks Preparing… (the first dial to the node is under way) →
// Synced, and an object written while the node cannot answer (stopped with
// SIGSTOP: connected, silent) walks Syncing… → Synced once it answers.
func TestStatusWalk(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and a device")
	}
	// Register the vault with the node, then stop it. Where it listened,
	// something accepts connections and never answers, so the device's
	// first dial lasts.
	nodeData := filepath.Join(t.TempDir(), "node")
	listen := loopbackListen(t)
	node := runNode(t, nodeData, listen)
	a := newCLI(t)
	a.ok("init", "--show-phrase", "--name", "laptop")
	a.ok("nodes", "add", nodeAddr(t, node))
	node.stop()
	silent, err := net.Listen("tcp", strings.TrimPrefix(strings.Replace(listen, "/tcp/", ":", 1), "/ip4/"))
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	up := start(t, "--data", a.data, "up", "--no-lan")
	vaultStatus := func() string {
		out, _, err := a.run("", "status", "--json")
		if err != nil {
			return ""
		}
		return jsonOf[statusReply](t, out).Status
	}
	waitFor(t, "Preparing… while the first dial is under way", func() bool { return vaultStatus() == "Preparing…" }, up)

	// The node takes the port; the device gets through on a later dial.
	silent.Close()
	mu.Lock()
	for _, c := range held {
		c.Close()
	}
	mu.Unlock()
	node = runNode(t, nodeData, listen)
	nodeAddr(t, node)
	waitFor(t, "Synced once the node answers", func() bool { return vaultStatus() == "Synced" }, up, node)

	// The node stops answering (still connected); a new object waits.
	node.cmd.Process.Signal(syscall.SIGSTOP)
	id := strings.TrimSpace(a.ok("new", "--title", "Pending", "--text", "waits for the node"))
	objStatus := func() string { return objectStatus(t, a, id) }
	waitFor(t, "the new object Syncing… while the node is silent", func() bool { return objStatus() == "Syncing…" }, up)
	for range 5 { // and it stays so: nothing acknowledged it
		if s := objStatus(); s != "Syncing…" {
			t.Fatalf("object status %q while the node is stopped", s)
		}
	}
	node.cmd.Process.Signal(syscall.SIGCONT)
	waitFor(t, "the object Synced once the node acknowledges", func() bool { return objStatus() == "Synced" }, up, node)
}
