package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"mycel/internal/device"
	"mycel/internal/node"
	"mycel/internal/p2p"
	"mycel/internal/vault"
)

func (a *app) nodeCmd() *cobra.Command {
	var listen []string
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a backup node: store vaults' encrypted changes, serve devices",
		Long: `Run a backup node. It stores, for every vault a device registers with it, the
encrypted changes and the membership log, verifies every change it receives
(id, signature, author a member device, parents), and never holds a key: it
cannot read content, titles or device names.

It prints its addresses; give one to 'mycel nodes add' on each device.

  mycel node --data /srv/mycel-node --listen /ip4/0.0.0.0/tcp/4001,/ip4/0.0.0.0/udp/4001/quic-v1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			key, err := nodeKey(a.data)
			if err != nil {
				return err
			}
			n, err := node.Open(a.data)
			if err != nil {
				return err
			}
			defer n.Close()
			h, err := p2p.NewHost(key, listen)
			if err != nil {
				return err
			}
			defer h.Close()
			log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			node.Serve(ctx, h, n, node.DefaultServiceConfig(log))
			fmt.Fprintf(a.stdout, "mycel node is up: %d vaults, data in %s.\n", n.Vaults(), a.data)
			fmt.Fprintln(a.stdout, "Addresses (give one to 'mycel nodes add' on each device):")
			for _, m := range h.Addrs() {
				fmt.Fprintf(a.stdout, "  %s/p2p/%s\n", m, h.ID())
			}
			fmt.Fprintln(a.stdout, "Press Ctrl-C to stop.")
			<-ctx.Done()
			fmt.Fprintln(a.stdout, "Stopped.")
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&listen, "listen", []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		"multiaddrs to listen on (TCP and QUIC; port 0 picks a free one)")
	return cmd
}

// nodeKey reads the node's identity key, creating it on first run.
func nodeKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, "node.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, key.Seed(), 0o600); err != nil {
			return nil, fmt.Errorf("write node key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s is damaged (%d bytes); remove it to give the node a new identity", path, len(b))
	}
	return ed25519.NewKeyFromSeed(b), nil
}

func (a *app) nodesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "Manage the backup nodes this device syncs with",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "add ADDR",
		Short: "Register this vault with a node and sync with it",
		Long: `Register this vault with the backup node at ADDR (the /p2p/ multiaddr 'mycel node'
prints) and add it to the nodes this device syncs with. The node checks that
this device belongs to the vault; it never receives a key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				if err := device.Register(cmd.Context(), e, args[0]); err != nil {
					return err
				}
				return a.emit(map[string]string{"added": args[0]}, func(w io.Writer) {
					fmt.Fprintf(w, "Registered with %s. 'mycel up' syncs with it.\n", args[0])
				})
			})
		},
	}, &cobra.Command{
		Use:   "ls",
		Short: "List the nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				ns, err := e.Nodes(cmd.Context())
				if err != nil {
					return err
				}
				if ns == nil {
					ns = []string{}
				}
				return a.emit(ns, func(w io.Writer) {
					if len(ns) == 0 {
						fmt.Fprintln(w, "No nodes. Add one with 'mycel nodes add ADDR'.")
					}
					fmt.Fprint(w, strings.Join(append(ns, ""), "\n"))
				})
			})
		},
	}, &cobra.Command{
		Use:   "rm ADDR",
		Short: "Stop syncing with a node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				ns, err := e.Nodes(cmd.Context())
				if err != nil {
					return err
				}
				kept := ns[:0]
				for _, n := range ns {
					if n != args[0] {
						kept = append(kept, n)
					}
				}
				if len(kept) == len(ns) {
					return fmt.Errorf("%s is not one of this device's nodes (see mycel nodes ls)", args[0])
				}
				if err := e.SetNodes(cmd.Context(), kept); err != nil {
					return err
				}
				return a.emit(map[string]string{"removed": args[0]}, func(w io.Writer) { fmt.Fprintf(w, "Removed %s.\n", args[0]) })
			})
		},
	})
	return cmd
}
