package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"mycel/internal/vault"
)

func (a *app) initCmd() *cobra.Command {
	var name string
	var showPhrase bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new vault and its recovery phrase",
		Long: `Create a new vault in the data folder, with a fresh 12-word recovery phrase.

The phrase is shown once, on the terminal, and stored nowhere: write it down. It
is the only way to set up your other devices ('mycel recover') or to get your
data back. Where standard output is not a terminal (a pipe, a log), or with
--json, the phrase goes there only with --show-phrase; without it no vault is
made, since nobody would ever see its phrase.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.mayCreate(showPhrase, "init"); err != nil {
				return err
			}
			e, phrase, err := vault.Init(cmd.Context(), a.data, name)
			if err != nil {
				return err
			}
			defer e.Close()
			out := map[string]string{"vault_id": fmt.Sprintf("%x", e.VaultID()), "device": fmt.Sprintf("%x", e.DeviceKey()), "data": a.data}
			if showPhrase {
				out["phrase"] = phrase
			}
			return a.emit(out, func(w io.Writer) { printPhrase(w, a.data, phrase) })
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of this device (default: the host name)")
	cmd.Flags().BoolVar(&showPhrase, "show-phrase", false, "print the recovery phrase even where standard output is not a terminal (and in --json)")
	return cmd
}

// mayCreate says whether a command may create a vault, whose recovery
// phrase it shows once: on the terminal, or wherever standard output goes
// with --show-phrase. A phrase printed to a pipe ends up in logs (a
// service's journal, CI output) for anyone who reads them; one shown
// nowhere is lost, and with it the way to recover the vault, since only
// its seed is kept (which cannot give the phrase back). So without a
// terminal or the flag nothing is created. (A folder that already holds a
// vault is left to vault.Init to refuse, with its own reason.)
func (a *app) mayCreate(showPhrase bool, verb string) error {
	if showPhrase || (!a.asJSON && isTerminal(a.stdout)) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(a.data, vault.SecretsFile)); err == nil {
		return nil
	}
	where := "standard output is not a terminal"
	if a.asJSON {
		where = "--json output carries it only when asked"
	}
	return fmt.Errorf("no vault created in %s: its recovery phrase, shown only once, would be shown nowhere (%s). "+
		"Run 'mycel %s' in a terminal, or add --show-phrase to print the phrase here (then keep this output private)", a.data, where, verb)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func printPhrase(w io.Writer, dir, phrase string) {
	fmt.Fprintf(w, "Created a vault in %s.\n\n", dir)
	fmt.Fprintf(w, "Your recovery phrase:\n\n    %s\n\n", phrase)
	fmt.Fprintln(w, "Write it down and keep it somewhere safe. It is shown only this once; anyone")
	fmt.Fprintln(w, "who has it can read your vault, and without it a lost device cannot be replaced.")
}

func (a *app) recoverCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Set up this device in an existing vault from its recovery phrase",
		Long: `Set up this device as a new member of an existing vault. The phrase is read
from standard input (or asked for on the terminal), never from the command line,
so it does not end up in your shell history.

  mycel recover --name phone < phrase.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			phrase, err := a.readPhrase()
			if err != nil {
				return err
			}
			e, err := vault.Recover(cmd.Context(), a.data, phrase, name)
			if err != nil {
				return err
			}
			defer e.Close()
			return a.emit(map[string]string{"vault_id": fmt.Sprintf("%x", e.VaultID()), "device": fmt.Sprintf("%x", e.DeviceKey()), "data": a.data},
				func(w io.Writer) {
					fmt.Fprintf(w, "This device joined vault %x in %s.\n", e.VaultID().Short(), a.data)
				})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of this device (default: the host name)")
	return cmd
}

func (a *app) readPhrase() (string, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, "Recovery phrase (12 words): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("read phrase: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read phrase: %w", err)
	}
	if strings.TrimSpace(line) == "" {
		return "", fmt.Errorf("no recovery phrase on standard input")
	}
	return line, nil
}
