package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"mycel/internal/vault"
)

func (a *app) initCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a new vault and its recovery phrase",
		Long: `Create a new vault in the data folder, with a fresh 12-word recovery phrase.

The phrase is printed once and stored nowhere: write it down. It is the only way
to set up your other devices ('mycel recover') or to get your data back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			e, phrase, err := vault.Init(cmd.Context(), a.data, name)
			if err != nil {
				return err
			}
			defer e.Close()
			return a.emit(map[string]string{"vault_id": fmt.Sprintf("%x", e.VaultID()), "device": fmt.Sprintf("%x", e.DeviceKey()), "phrase": phrase, "data": a.data},
				func(w io.Writer) { printPhrase(w, a.data, phrase) })
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of this device (default: the host name)")
	return cmd
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
