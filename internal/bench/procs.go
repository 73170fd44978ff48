package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// child is a mycel process a benchmark runs (a node, a device), so that
// its peak memory is its own, measured by the kernel.
type child struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
}

// startChild starts exe with args and returns it once a line of its
// standard output satisfies ready (which may keep what it read), reading
// the rest of its output away.
func startChild(ctx context.Context, exe string, args []string, ready func(line string) bool) (*child, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stderr: &strings.Builder{}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if ready(sc.Text()) {
			go io.Copy(io.Discard, out)
			return c, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("mycel %s ended before it was ready: %s", args[len(args)-1], lastLines(c.stderr.String()))
}

// stop interrupts the process, as Ctrl-C would, and returns its peak
// resident memory in bytes once it has ended.
func (c *child) stop() (int64, error) {
	c.cmd.Process.Signal(os.Interrupt)
	err := c.cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return 0, err
	}
	ru, ok := c.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, nil
	}
	return ru.Maxrss << 10, nil // kilobytes on Linux
}

// startNodeProcess runs 'mycel node' on data, listening on loopback, and
// returns it with an address a device can dial.
func startNodeProcess(ctx context.Context, exe, data string) (*child, string, error) {
	var addr string
	c, err := startChild(ctx, exe, []string{"--json", "--data", data, "node", "--listen", "/ip4/127.0.0.1/tcp/0"}, func(line string) bool {
		var up struct {
			Event     string
			Addresses []string
		}
		if json.Unmarshal([]byte(line), &up) == nil && up.Event == "up" && len(up.Addresses) > 0 {
			addr = up.Addresses[0]
			return true
		}
		return false
	})
	return c, addr, err
}

// startDeviceProcess runs 'mycel up' on data, syncing through its nodes
// only (no LAN, no web app).
func startDeviceProcess(ctx context.Context, exe, data string) (*child, error) {
	return startChild(ctx, exe, []string{"--data", data, "up", "--no-lan", "--no-web", "--listen", "/ip4/127.0.0.1/tcp/0"},
		func(line string) bool { return strings.HasPrefix(line, "Local API on ") })
}

// lastLines is the end of a process's log, for an error.
func lastLines(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// pollEvery is how often a benchmark looks whether a sync is done: often
// (the wall time is measured to the poll that sees it) and cheaply.
const pollEvery = 5 * time.Millisecond
