package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/api"
	"mycel/internal/device"
	"mycel/internal/vault"
)

func (a *app) upCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run this device: set up a vault on first run, then serve until Ctrl-C",
		Long: `Run this device. On first run, with no vault in the data folder, it creates one
and prints its recovery phrase. Then it serves the local API on a unix socket in
the data folder (only you can open it) until Ctrl-C or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			e, err := a.open()
			if errors.Is(err, vault.ErrNoVault) {
				var phrase string
				if e, phrase, err = vault.Init(ctx, a.data, name); err != nil {
					return err
				}
				printPhrase(a.stdout, a.data, phrase)
				fmt.Fprintln(a.stdout)
			}
			if err != nil {
				return err
			}
			defer e.Close()
			l, err := api.Listen(a.data)
			if err != nil {
				return err
			}
			objs, err := e.List(ctx)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			dev, err := device.Start(ctx, e, device.DefaultConfig(log))
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: api.Handler(e, dev), ReadHeaderTimeout: 10 * time.Second}
			nodes, _ := e.Nodes(ctx)
			fmt.Fprintf(a.stdout, "mycel is up: vault %s, %d objects, %d backup nodes, data in %s.\n", e.VaultID().Short(), len(objs), len(nodes), a.data)
			fmt.Fprintf(a.stdout, "Local API on unix:%s. Press Ctrl-C to stop.\n", filepath.Join(a.data, api.SocketFile))
			done := make(chan error, 1)
			go func() { done <- srv.Serve(l) }()
			select {
			case err := <-done:
				return err
			case <-ctx.Done():
			}
			// The command's context is already done: give shutdown its own.
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(shut); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "Stopped.")
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of this device, if a vault is created (default: the host name)")
	return cmd
}
