package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/vault"
)

// TestKill9DuringWrite kills `mycel write` at random moments and checks,
// after every kill, that the store opens and every change verifies, and
// that the object is one of the contents written (never a mix).
func TestKill9DuringWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("kills 120 processes; skipped with -short")
	}
	c := newCLI(t)
	c.ok("init", "--show-phrase", "--name", "victim")
	id := strings.TrimSpace(c.ok("new", "--title", "Target"))
	dir := t.TempDir()
	var files, contents []string
	for v := 0; v < 2; v++ {
		var b strings.Builder
		for i := 0; i < 300; i++ {
			fmt.Fprintf(&b, "Paragraph %d of version %d, long enough to make a real edit of it.\n\n", i, v)
		}
		f := filepath.Join(dir, fmt.Sprintf("v%d.md", v))
		os.WriteFile(f, []byte(b.String()), 0o600)
		files = append(files, f)
		contents = append(contents, b.String())
	}
	// How long does an uninterrupted write take?
	start := time.Now()
	c.ok("write", id, "--file", files[0])
	full := time.Since(start)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	killed, finished := 0, 0
	for i := 0; i < 120; i++ {
		cmd := exec.Command(bin, "--data", c.data, "write", id, "--file", files[(i+1)%2])
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(full) * 12 / 10))) // a random moment, not a wait
		cmd.Process.Kill()
		if err := cmd.Wait(); err != nil {
			killed++
		} else {
			finished++
		}
		e, err := vault.Open(c.data)
		if err != nil {
			t.Fatalf("kill %d: store does not open: %v", i, err)
		}
		n, err := e.Verify(context.Background())
		if err != nil {
			t.Fatalf("kill %d: verification failed after %d changes: %v", i, n, err)
		}
		oid, _ := change.ParseID(id)
		o, err := e.Get(context.Background(), oid)
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		got := vault.PlainText(o.Doc.Blocks())
		if got != plain(contents[0]) && got != plain(contents[1]) {
			t.Fatalf("kill %d: the object is neither version: a write was half applied", i)
		}
		e.Close()
	}
	t.Logf("120 writes (%v each uninterrupted): %d killed, %d finished first", full.Round(time.Millisecond), killed, finished)
	if killed < 30 {
		t.Fatalf("only %d of 120 writes were killed mid-way: the test is not testing", killed)
	}
}

// plain is the text of paragraphs separated by blank lines, one per line.
func plain(md string) string {
	return strings.Join(strings.Split(strings.TrimSpace(md), "\n\n"), "\n") + "\n"
}
