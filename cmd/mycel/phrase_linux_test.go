package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the side a test reads, and the
// terminal a command writes to.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("cannot unlock a pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("no pseudo-terminal number: %v", err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("cannot open the pseudo-terminal: %v", err)
	}
	return master, tty
}

// On a terminal, init shows the phrase with no flag: the person is there
// to write it down.
func TestPhraseShownOnTheTerminal(t *testing.T) {
	master, tty := openPTY(t)
	c := newCLI(t)
	cmd := exec.Command(bin, "--data", c.data, "init", "--name", "x")
	cmd.Stdout, cmd.Stderr = tty, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the command holds its own copy; the master reads EOF (EIO) after it exits
	var out bytes.Buffer
	io.Copy(&out, master)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("init on a terminal: %v\n%s", err, out.String())
	}
	if p := phraseLike(strings.ReplaceAll(out.String(), "\r", "")); p == "" {
		t.Fatalf("no phrase on the terminal:\n%s", out.String())
	}
}
