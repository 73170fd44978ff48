package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// nodeProc is a backup node running as a child process (`mycel node`), so
// that its own memory and CPU can be read apart from the devices', and so
// that it can be killed -9 like a machine losing power.
type nodeProc struct {
	cmd  *exec.Cmd
	addr string // its TCP address, with /p2p/
	done chan struct{}
	err  error // of Wait, once done

	mu     sync.Mutex
	stderr []byte // its log's last bytes, for errors
	peak   int64  // its VmHWM, read before it was stopped or killed
}

// nodeUpTimeout bounds how long a node may take to say it is up.
const nodeUpTimeout = 60 * time.Second

// startNode runs `exe --data dir --json node` with env added and returns
// once it printed its addresses. Its log is appended to logPath.
func startNode(ctx context.Context, exe, dir, logPath string, env []string) (*nodeProc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "--data", dir, "--json", "node")
	cmd.Env = append(profileEnv(os.Environ(), "node"), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errs, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &nodeProc{cmd: cmd, done: make(chan struct{})}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		defer logFile.Close()
		p.keepLog(io.TeeReader(errs, logFile))
	}()
	up := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var ev struct {
				Event     string   `json:"event"`
				Addresses []string `json:"addresses"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "up" {
				for _, a := range ev.Addresses {
					if strings.Contains(a, "/tcp/") {
						up <- a
						break
					}
				}
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() {
		<-logged // Wait closes the pipes: read them to their end first
		p.err = cmd.Wait()
		close(p.done)
	}()
	t := time.NewTimer(nodeUpTimeout)
	defer t.Stop()
	select {
	case p.addr = <-up:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("the node ended before it was up (%v): %s", p.err, p.log())
	case <-t.C:
		err = fmt.Errorf("the node was not up within %v: %s", nodeUpTimeout, p.log())
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.kill()
	return nil, err
}

// keepLog keeps the last 8 KiB of what the node logs.
func (p *nodeProc) keepLog(r io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		p.mu.Lock()
		p.stderr = append(p.stderr, buf[:n]...)
		if len(p.stderr) > 8<<10 {
			p.stderr = p.stderr[len(p.stderr)-8<<10:]
		}
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (p *nodeProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.TrimSpace(string(p.stderr))
}

// stop interrupts the node (it closes its stores as on Ctrl-C) and waits
// for it to end; after stopTimeout it is killed.
func (p *nodeProc) stop() error {
	p.notePeak()
	p.cmd.Process.Signal(os.Interrupt)
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.kill()
		return fmt.Errorf("the node did not stop within %v of an interrupt: %s", stopTimeout, p.log())
	}
	if p.err != nil {
		return fmt.Errorf("the node ended with %v: %s", p.err, p.log())
	}
	return nil
}

const stopTimeout = 30 * time.Second

// kill kills the node with SIGKILL (on Unix) and waits for it to end.
func (p *nodeProc) kill() {
	p.notePeak()
	p.cmd.Process.Kill()
	<-p.done
}

// notePeak reads the live node's peak resident memory (see child.stop:
// the rusage of an ended child counts the memory of the process that
// forked it, here the hundred devices').
func (p *nodeProc) notePeak() {
	if p.cmd.ProcessState == nil {
		if peak, err := peakRSS(p.cmd.Process.Pid); err == nil {
			p.peak = peak
		}
	}
}

// usage is the ended node's peak resident memory and CPU time.
func (p *nodeProc) usage() (rss uint64, cpu time.Duration) {
	if p.cmd.ProcessState == nil {
		return 0, 0
	}
	return uint64(p.peak), p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
}
