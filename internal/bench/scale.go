package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mycel/internal/vault"
)

// ScaleResult is a large vault built through the protocol, and what its
// everyday commands cost on the device that synced it.
type ScaleResult struct {
	Sync     InitialSyncResult
	Commands []CommandTime
	// Huge is the initial sync of one object of many changes, when asked.
	Huge *InitialSyncResult
}

// CommandTime is the median wall time of one command, run as its own
// process (start and store open included), over Runs runs.
type CommandTime struct {
	Name   string
	Median time.Duration
	Runs   int
}

// Scale builds a vault of objects × perObject changes on a node, syncs it
// to a fresh device over loopback (InitialSync), then times commands of
// the executable exe (mycel) on that device's data folder, each the
// median of runs runs. With huge > 0 it also syncs, the same way, a
// vault of one object of huge changes.
func Scale(ctx context.Context, exe, dir string, objects, perObject, runs, huge int, progress func(string)) (ScaleResult, error) {
	var r ScaleResult
	var err error
	if r.Sync, err = InitialSync(ctx, exe, dir, objects, perObject, progress); err != nil {
		return r, err
	}
	data := filepath.Join(dir, "b")
	id, err := someObject(ctx, data, objects/2)
	if err != nil {
		return r, err
	}
	word := fmt.Sprint(objects / 3) // in one title ("Object N") and its text
	cmds := []struct {
		name string
		args []string
	}{
		{"show ID", []string{"show", id}},
		{"status ID", []string{"status", id}},
		{"search " + word, []string{"search", word}},
		{"append ID", []string{"append", id, "--text", "One more line."}},
		{"ls --limit 50", []string{"ls", "--limit", "50"}},
		{"ls (all)", []string{"ls"}},
		{"status (vault)", []string{"status"}},
	}
	for _, c := range cmds {
		progress("timing mycel " + c.name)
		ct, err := timeRuns(c.name, runs, func() error {
			cmd := exec.CommandContext(ctx, exe, append([]string{"--data", data}, c.args...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("mycel %s: %v: %s", c.name, err, strings.TrimSpace(string(out)))
			}
			return nil
		})
		if err != nil {
			return r, err
		}
		r.Commands = append(r.Commands, ct)
	}
	// The status a running device computes: of the vault with every
	// peer of each page (--peers), and of one page, the node up.
	progress("timing mycel status --peers with the device and the node running")
	if err := withRunning(ctx, exe, dir, data, objects, func() error {
		for _, c := range []struct {
			name string
			args []string
		}{{"status --peers (running)", []string{"status", "--peers"}}, {"status ID --peers (running)", []string{"status", id, "--peers"}},
			{"status (vault, running)", []string{"status"}}} {
			ct, err := timeRuns(c.name, runs, func() error {
				out, err := exec.CommandContext(ctx, exe, append([]string{"--data", data}, c.args...)...).CombinedOutput()
				if err != nil {
					return fmt.Errorf("mycel %s: %v: %s", c.name, err, strings.TrimSpace(string(out)))
				}
				return nil
			})
			if err != nil {
				return err
			}
			r.Commands = append(r.Commands, ct)
		}
		return nil
	}); err != nil {
		return r, err
	}
	progress("timing mycel up until its API serves")
	ct, err := timeRuns("up start → API", runs, func() error { return upUntilServing(ctx, exe, data) })
	if err != nil {
		return r, err
	}
	r.Commands = append(r.Commands, ct)
	if huge > 0 {
		progress(fmt.Sprintf("one object of %d changes", huge))
		h, err := InitialSync(ctx, exe, filepath.Join(dir, "huge"), 1, huge, progress)
		if err != nil {
			return r, err
		}
		r.Huge = &h
	}
	return r, nil
}

// timeRuns is the median of runs runs of f.
func timeRuns(name string, runs int, f func() error) (CommandTime, error) {
	var ds []time.Duration
	for range runs {
		start := time.Now()
		if err := f(); err != nil {
			return CommandTime{}, err
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return CommandTime{Name: name, Median: ds[len(ds)/2], Runs: runs}, nil
}

// someObject is the id of the n-th object of the vault in data.
func someObject(ctx context.Context, data string, n int) (string, error) {
	e, err := vault.Open(data)
	if err != nil {
		return "", err
	}
	defer e.Close()
	objs, err := e.List(ctx, vault.ListOptions{})
	if err != nil {
		return "", err
	}
	if len(objs) == 0 {
		return "", fmt.Errorf("the synced vault has no objects")
	}
	return objs[min(n, len(objs)-1)].ID.String(), nil
}

// upUntilServing starts 'mycel up' on data (no LAN, no web app) and
// returns once it says its local API serves, after stopping it.
func upUntilServing(ctx context.Context, exe, data string) error {
	cmd := exec.CommandContext(ctx, exe, "--data", data, "up", "--no-lan", "--no-web", "--listen", "/ip4/127.0.0.1/tcp/0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Local API on ") {
			go io.Copy(io.Discard, out)
			return nil
		}
	}
	return fmt.Errorf("mycel up ended before its API served: %s", strings.TrimSpace(stderr.String()))
}

// withRunning starts the node (on its folder in dir, where it listened
// before) and 'mycel up' on data, waits until the device says the node
// holds all objects pages, runs f, and stops both.
func withRunning(ctx context.Context, exe, dir, data string, objects int, f func() error) error {
	np, err := startNode(ctx, exe, filepath.Join(dir, "node"), filepath.Join(dir, "node.log"), nil)
	if err != nil {
		return err
	}
	defer np.stop()
	up, err := startDeviceProcess(ctx, exe, data)
	if err != nil {
		return err
	}
	defer up.stop()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, err := exec.CommandContext(ctx, exe, "--data", data, "--json", "status").Output()
		var st struct {
			Peers []struct {
				Node    bool `json:"node"`
				Holding int  `json:"pages_held"`
			} `json:"peers"`
		}
		if err == nil && json.Unmarshal(out, &st) == nil {
			for _, p := range st.Peers {
				if p.Node && p.Holding >= objects {
					return f()
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the running device did not see the node hold all %d objects within 5 minutes: %s", objects, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
