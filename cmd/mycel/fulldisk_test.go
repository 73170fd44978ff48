package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// smallDisk mounts a 4 MiB tmpfs for a test, or skips saying why.
func smallDisk(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux to mount a small tmpfs (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes to a file on the disk at dir until it is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// Single bytes too, until not even one fits.
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			return path
		}
	}
}

// With the disk full, reading commands still work: show, ls, search and
// export (to another disk). A write fails saying the disk is full, and
// works again once there is room. (Opening the store wrote its shared
// memory index first, so every command failed with "disk I/O error".)
func TestReadsWorkOnAFullDisk(t *testing.T) {
	disk := smallDisk(t)
	c := &cli{t: t, data: filepath.Join(disk, "data")}
	c.ok("init", "--show-phrase", "--name", "laptop")
	id := strings.TrimSpace(c.ok("new", "--title", "Garden", "--text", "Water the roses."))
	c.ok("append", id, "--text", "Prune the hedge.")
	filler := fill(t, disk)

	if out := c.ok("show", id); !strings.Contains(out, "Prune the hedge.") {
		t.Fatalf("show on a full disk:\n%s", out)
	}
	if out := c.ok("ls"); !strings.Contains(out, "Garden") {
		t.Fatalf("ls on a full disk:\n%s", out)
	}
	if out := c.ok("search", "roses"); !strings.Contains(out, "Garden") {
		t.Fatalf("search on a full disk:\n%s", out)
	}
	dest := filepath.Join(t.TempDir(), "export")
	c.ok("export", dest)
	if b, err := os.ReadFile(filepath.Join(dest, "Garden.md")); err != nil || !strings.Contains(string(b), "Water the roses.") {
		t.Fatalf("export on a full disk: %v %s", err, b)
	}
	c.fails("disk is full", "new", "--title", "More", "--text", "no room")

	os.Remove(filler)
	c.ok("new", "--title", "More", "--text", "room again")
	if out := c.ok("ls"); !strings.Contains(out, "More") {
		t.Fatalf("ls after space was freed:\n%s", out)
	}
}
