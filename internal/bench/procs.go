package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
)

// child is a mycel process a benchmark runs (a node, a device), so that
// its peak memory is its own, measured by the kernel.
type child struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
}

// startChild starts exe with args (--data DIR COMMAND ...) and returns it
// once a line of its standard output satisfies ready (which may keep what
// it read), reading the rest of its output away.
func startChild(ctx context.Context, exe string, args []string, ready func(line string) bool) (*child, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	name := "child"
	if len(args) > 2 {
		name = args[2]
	}
	cmd.Env = profileEnv(os.Environ(), name)
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

// stop returns the process's peak resident memory in bytes so far, then
// interrupts it, as Ctrl-C would, and waits for it to end.
//
// The peak is the kernel's high-water mark of the process's own memory
// since it started (VmHWM): not the rusage of the ended child, whose
// maximum counts, from before the exec, the memory of this process that
// forked it.
func (c *child) stop() (int64, error) {
	if c.cmd.ProcessState != nil {
		return 0, nil // stopped already
	}
	peak, perr := peakRSS(c.cmd.Process.Pid)
	c.cmd.Process.Signal(os.Interrupt)
	stuck := time.AfterFunc(time.Minute, func() { c.cmd.Process.Kill() }) // it had a minute to close
	defer stuck.Stop()
	err := c.cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return 0, err
	}
	return peak, perr
}

// peakRSS reads a live process's VmHWM from /proc.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("read VmHWM %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// procCPU is the CPU time (user and system) a live process has used, from
// /proc/PID/stat (in clock ticks, taken as 100 a second: Linux's USER_HZ).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command's name, in parentheses, may hold spaces: fields count
	// from the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var user, sys int64
	if _, err := fmt.Sscan(f[11], &user); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(f[12], &sys); err != nil {
		return 0, err
	}
	return time.Duration(user+sys) * (time.Second / 100), nil
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

// children counts the children started, for profileEnv.
var children atomic.Int64

// profileEnv is environ with the CPU profile it names (MYCEL_CPUPROFILE)
// made the child's own, ".name.N" added (N counting the children started):
// a benchmark's node and devices, all started from its environment, would
// otherwise write the same file, each over the last.
func profileEnv(environ []string, name string) []string {
	const key = "MYCEL_CPUPROFILE="
	n := children.Add(1)
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if path, ok := strings.CutPrefix(kv, key); ok && path != "" {
			kv = fmt.Sprintf("%s%s.%s.%d", key, path, name, n)
		}
		out = append(out, kv)
	}
	return out
}

// pollEvery is how often a benchmark looks whether a sync is done: often
// (the wall time is measured to the poll that sees it) and cheaply.
const pollEvery = 5 * time.Millisecond
