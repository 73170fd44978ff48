// Command mycel is the command line of mycel, an offline-first, end-to-end
// encrypted object store. It is thin: flags and output here, everything else
// in internal/vault and the packages below it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/api"
	"mycel/internal/change"
	"mycel/internal/vault"
)

// app holds what every command shares: flags and the standard streams.
type app struct {
	data   string
	asJSON bool
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func main() {
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := a.root()
	if err := cmd.ExecuteContext(ctx); err != nil {
		a.printError(err, a.asJSON || jsonFlag(os.Args[1:]))
		os.Exit(1)
	}
}

// printError reports a command's failure on stderr: one JSON object
// {"error": "…"} with --json, else one line; the message is the same.
func (a *app) printError(err error, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(map[string]string{"error": err.Error()})
		fmt.Fprintf(a.stderr, "%s\n", b)
		return
	}
	fmt.Fprintln(a.stderr, "mycel: "+err.Error())
}

// jsonFlag reports whether the arguments ask for --json. Cobra sets
// app.asJSON only once it has parsed the flags, and an unknown command or
// a bad flag fails before: its error must still come out as JSON.
func jsonFlag(args []string) bool {
	for _, arg := range args {
		if arg == "--" {
			return false
		}
		if arg == "--json" {
			return true
		}
		if v, ok := strings.CutPrefix(arg, "--json="); ok {
			b, err := strconv.ParseBool(v)
			return err == nil && b
		}
	}
	return false
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "mycel",
		Short: "An offline-first, end-to-end encrypted object store that syncs",
		Long: `mycel keeps pages (objects made of blocks) on your devices. Every edit is a small
signed, encrypted change; edits made offline on different devices merge, down to
the character. Everything works offline.

Start with 'mycel init' (or 'mycel up', which sets up a vault on first run),
then 'mycel new --title "My page" --text "Hello"'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.data, "data", defaultDataDir(), "data folder of this device (env MYCEL_DATA)")
	root.PersistentFlags().BoolVar(&a.asJSON, "json", false, "print machine-readable JSON")
	root.AddCommand(a.initCmd(), a.openCmd(), a.recoverCmd(), a.newCmd(), a.lsCmd(), a.searchCmd(), a.showCmd(), a.backlinksCmd(),
		a.writeCmd(), a.editCmd(), a.appendCmd(), a.setCmd(), a.archiveCmd(true), a.archiveCmd(false), a.rmCmd(), a.binCmd(),
		a.historyCmd(), a.diffCmd(), a.restoreCmd(), a.devicesCmd(), a.upCmd(), a.nodeCmd(), a.nodesCmd(), a.statusCmd(), a.checkCmd(), a.backupCmd(), a.restoreBackupCmd(), a.diagnosticsCmd(), a.exportCmd(), a.importCmd(), a.filesCmd(), a.syncCmd(), a.logCmd(), a.benchCmd())
	a.cobraOutput(root)
	return root
}

// cobraOutput holds what cobra prints by itself to the rules of every
// command: with --json, help (--help, 'mycel help', a command group run
// without a subcommand) is {"command", "help"} and a completion script
// {"shell", "script"}; a mistyped subcommand or help topic is an error.
func (a *app) cobraOutput(root *cobra.Command) {
	// Cobra's own output goes through out, which a capture points elsewhere.
	out := &switchWriter{w: a.stdout}
	root.SetOut(out)
	capture := func(f func()) string {
		var b strings.Builder
		out.w = &b
		defer func() { out.w = a.stdout }()
		f()
		return b.String()
	}
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		if !a.asJSON {
			help(c, args)
			return
		}
		text := capture(func() { help(c, args) })
		a.emit(map[string]string{"command": c.CommandPath(), "help": text}, nil)
	})
	// Now, not when cobra would, so that these commands can be changed.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	// A group run without a subcommand shows its help, and one run with an
	// unknown subcommand fails: cobra would show the help and exit 0.
	var groups func(c *cobra.Command)
	groups = func(c *cobra.Command) {
		if c.HasSubCommands() && !c.Runnable() {
			c.Args = cobra.NoArgs
			c.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
		}
		for _, sub := range c.Commands() {
			groups(sub)
		}
	}
	groups(root)
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			// An unknown topic is an error, not the usage and exit code 0.
			c.Run = nil
			c.RunE = func(c *cobra.Command, args []string) error {
				topic, rest, err := c.Root().Find(args)
				if err != nil || len(rest) > 0 {
					return fmt.Errorf("no help on %q: 'mycel --help' lists the commands", strings.Join(args, " "))
				}
				return topic.Help()
			}
			continue
		case "completion":
		default:
			continue
		}
		for _, sh := range c.Commands() {
			run := sh.RunE
			sh.RunE = func(c *cobra.Command, args []string) error {
				if !a.asJSON {
					return run(c, args)
				}
				var err error
				script := capture(func() { err = run(c, args) })
				if err != nil {
					return err
				}
				return a.emit(map[string]string{"shell": c.Name(), "script": script}, nil)
			}
		}
	}
}

// switchWriter writes to w, which can be changed.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// defaultDataDir is $MYCEL_DATA, else the OS's per-user data folder.
func defaultDataDir() string {
	if d := os.Getenv("MYCEL_DATA"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join(home, "Library", "Application Support", "mycel")
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "mycel")
		}
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "mycel")
	}
	return filepath.Join(home, ".local", "share", "mycel")
}

func (a *app) open() (*vault.Engine, error) {
	e, err := vault.Open(a.data)
	if err != nil {
		return nil, err
	}
	e.Now = clock()
	return e, nil
}

// clock is the wall clock, shifted by MYCEL_CLOCK_OFFSET (a Go duration)
// when set: tests use it to step past the idle gap that ends a version.
func clock() func() time.Time {
	off, err := time.ParseDuration(os.Getenv("MYCEL_CLOCK_OFFSET"))
	if err != nil {
		return time.Now
	}
	return func() time.Time { return time.Now().Add(off) }
}

// withVault opens the vault, runs f and closes the vault; an error from
// closing (it brings the text index up to date) is reported too.
func (a *app) withVault(f func(*vault.Engine) error) (err error) {
	e, err := a.open()
	if err != nil {
		return err
	}
	defer func() {
		if cerr := e.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			if perr := poke(a.data); perr != nil {
				// Not an error of the command (its change is stored),
				// but a running device that did not hear of it acts on
				// it late: a new sync mode or node list at its restart.
				fmt.Fprintf(a.stderr, "mycel: note: the running 'mycel up' did not answer (%v); it sends new edits within seconds, but takes a new sync mode, node list or trust setting only when restarted\n", perr)
			}
		}
	}()
	return f(e)
}

// deviceRunning reports whether a `mycel up` serves data folder dir.
func deviceRunning(dir string) bool {
	c, err := net.DialTimeout("unix", api.SocketPath(dir), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// poke tells a running `mycel up` for this data folder to look for new
// changes now, so that an edit made by this command is pushed at once, and
// to re-read its settings. No running device is fine (nil): it finds them
// when it starts. One that does not answer is asked twice.
func poke(dir string) error {
	sock := api.SocketPath(dir)
	if _, err := os.Stat(sock); err != nil {
		return nil
	}
	var err error
	for try := range 2 {
		if try > 0 {
			time.Sleep(300 * time.Millisecond) // a retry's backoff, not a wait for an event
		}
		var resp *http.Response
		resp, err = api.Client(dir, 3*time.Second).Post("http://mycel/v1/poke", "", nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent {
				return nil
			}
			err = fmt.Errorf("it answered %s", resp.Status)
		}
		if !deviceRunning(dir) {
			return nil // a socket left by a device that stopped
		}
	}
	return err
}

// withObject opens the vault, resolves an id argument and runs f.
func (a *app) withObject(cmd *cobra.Command, arg string, f func(*vault.Engine, change.ID) error) error {
	return a.withVault(func(e *vault.Engine) error {
		id, err := e.Resolve(cmd.Context(), arg)
		if err != nil {
			return err
		}
		return f(e, id)
	})
}

// emit prints v as JSON with --json, else calls human.
func (a *app) emit(v any, human func(w io.Writer)) error {
	if a.asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // JSON for programs, not for a web page
		return enc.Encode(v)
	}
	human(a.stdout)
	return nil
}

// emitLine prints v as one line of JSON: the output of a long-running
// command with --json is one object per event, each a line.
func (a *app) emitLine(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// errLocked: another process holds the lock (see lockFile).
var errLocked = errors.New("locked by another process")

// writeFileAtomic replaces path with data: a crash leaves the old file or
// the new, never a part. The data is synced before the rename, the folder
// after it.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails once renamed
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // not every system can sync a folder; the rename is done
		d.Close()
	}
	return nil
}

// readInput reads a file argument; "-" is standard input.
func (a *app) readInput(path string) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(a.stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if !isText(b) {
		return "", fmt.Errorf("%s is not UTF-8 text", path)
	}
	return string(b), nil
}

func isText(b []byte) bool {
	return !strings.ContainsRune(string(b), 0) && strings.ToValidUTF8(string(b), "\uFFFD") == string(b)
}
