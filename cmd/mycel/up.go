package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/api"
	"mycel/internal/device"
	"mycel/internal/vault"
	"mycel/internal/web"
)

func (a *app) upCmd() *cobra.Command {
	var name string
	var listen, peers []string
	var noLAN, lanOnly, showPhrase, noWeb bool
	var webAddr string
	var redial time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run this device: set up a vault on first run, then serve until Ctrl-C",
		Long: `Run this device. On first run, with no vault in the data folder, it creates one
and shows its recovery phrase, as 'mycel init' does: on the terminal only, unless
--show-phrase (without a terminal or the flag it creates nothing). Then it syncs until Ctrl-C or SIGTERM:

  - with the backup nodes ('mycel nodes add ADDR'), redialing them with backoff;
  - directly with the vault's other devices: found on the local network (mDNS),
    given with --peer, or remembered from before; redialed every 10 s. Devices
    of other vaults learn nothing from this device, not even its vault's id.

It also serves the local API on a unix socket in the data folder (only you can
open it), which the other commands use while it runs, and the web app on
http://127.0.0.1:7457 (--web ADDR, --no-web; when 7457 is taken, any free
port). On a terminal it prints an address that logs a browser in once;
'mycel open' opens the app in the browser at any time.

Its memory: the Go runtime is held to about 160 MiB, or a quarter more than
what it keeps live when that is more (the collector works harder past it);
GOMEMLIMIT=SIZE sets a limit of its own instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			defer startHeapProfile("up")()
			limitMemory(cmd.Context())
			if noLAN && lanOnly {
				return errors.New("--no-lan and --lan-only together would sync with nothing")
			}
			if redial < time.Second {
				return fmt.Errorf("--redial-every %v is too often: at least 1s", redial)
			}
			stopProfile, err := startCPUProfile()
			if err != nil {
				return err
			}
			defer stopProfile()
			ctx := cmd.Context()
			e, err := a.open()
			if errors.Is(err, vault.ErrNoVault) {
				if err := a.mayCreate(showPhrase, "up"); err != nil {
					return err
				}
				var phrase string
				if e, phrase, err = vault.Init(ctx, a.data, name); err != nil {
					return err
				}
				if a.asJSON {
					created := map[string]any{"event": "created", "vault_id": fmt.Sprintf("%x", e.VaultID()), "data": a.data}
					if showPhrase {
						created["phrase"] = phrase
					}
					a.emitLine(created)
				} else {
					printPhrase(a.stdout, a.data, phrase)
					fmt.Fprintln(a.stdout)
				}
			}
			if err != nil {
				return err
			}
			defer e.Close()
			l, err := api.Listen(a.data)
			if err != nil {
				return err
			}
			objects, err := e.CountObjects(ctx)
			if err != nil {
				return err
			}
			logFile, err := openLog(a.data)
			if err != nil {
				return err
			}
			defer logFile.Close()
			var logHandler slog.Handler = slog.NewTextHandler(io.MultiWriter(a.stderr, logFile), &slog.HandlerOptions{Level: slog.LevelInfo})
			if a.asJSON {
				logHandler = slog.NewJSONHandler(io.MultiWriter(a.stderr, logFile), &slog.HandlerOptions{Level: slog.LevelInfo})
			}
			log := slog.New(logHandler)
			cfg := device.DefaultConfig(log)
			if cmd.Flags().Changed("listen") {
				cfg.Listen = listen
			}
			cfg.Peers, cfg.LAN, cfg.LANOnly = peers, !noLAN, lanOnly
			cfg.RedialEvery = redial
			// Not cancelled by the signal: the device is closed in its turn
			// below, after the API stops.
			dev, err := device.Start(context.WithoutCancel(ctx), e, cfg)
			if err != nil {
				return err
			}
			apiHandler := api.Handler(e, dev)
			socketMux := http.NewServeMux()
			socketMux.Handle("/", apiHandler)
			var app *web.Server
			var webSrv *http.Server
			webDone := make(chan error, 1)
			if !noWeb {
				wl, err := web.Listen(webAddr, cmd.Flags().Changed("web"))
				if err != nil {
					dev.Close()
					dev.Host.Close()
					return err
				}
				if app, err = web.New(apiHandler, wl.Addr()); err != nil {
					wl.Close()
					dev.Close()
					dev.Host.Close()
					return err
				}
				// 'mycel open' asks here (the socket only its owner can
				// reach) for a new login address.
				socketMux.HandleFunc("POST /v1/web/login", func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					json.NewEncoder(w).Encode(map[string]string{"url": app.LoginURL(), "base": app.Base()})
				})
				webSrv = &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
				go func() { webDone <- webSrv.Serve(wl) }()
			}
			srv := &http.Server{Handler: socketMux, ReadHeaderTimeout: 10 * time.Second}
			nodes, _ := e.Nodes(ctx)
			var reach []string
			lan := dev.LANHost()
			for _, addr := range lan.Addrs() {
				reach = append(reach, fmt.Sprintf("%s/p2p/%s", addr, lan.ID()))
			}
			sock := api.SocketPath(a.data)
			if a.asJSON {
				up := map[string]any{"event": "up", "vault_id": fmt.Sprintf("%x", e.VaultID()), "objects": objects, "nodes": nodes,
					"addresses": reach, "api": "unix:" + sock, "data": a.data}
				if app != nil {
					up["web"] = app.Base() // no login token: 'mycel open --print' gives one
				}
				a.emitLine(up)
			} else {
				fmt.Fprintf(a.stdout, "mycel is up: vault %s, %d objects, %d backup nodes, data in %s.\n", e.VaultID().Short(), objects, len(nodes), a.data)
				for _, r := range reach {
					fmt.Fprintf(a.stdout, "Other devices of the vault can reach this one at %s\n", r)
				}
				switch {
				case app != nil && !cmd.Flags().Changed("web") && app.Base() != "http://"+web.DefaultAddr:
					// Another program holds the usual port: say so, so that
					// nobody types its address (and hands it the login).
					fmt.Fprintf(a.stdout, "Web app on %s: port 7457 is taken by another program, so not there; run 'mycel open' to log in.\n", app.Base())
				case app != nil && isTerminal(a.stdout):
					// The login address goes to the terminal only, like the
					// phrase: not into a service's log.
					fmt.Fprintf(a.stdout, "Web app: %s (logs a browser in once; 'mycel open' makes another)\n", app.LoginURL())
				case app != nil:
					fmt.Fprintf(a.stdout, "Web app on %s: run 'mycel open' to log in.\n", app.Base())
				}
				fmt.Fprintf(a.stdout, "Local API on unix:%s. Press Ctrl-C to stop.\n", sock)
			}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(l) }()
			var serveErr error
			select {
			case serveErr = <-done:
			case serveErr = <-webDone:
			case <-ctx.Done():
			}
			// Shut down from the outside in: stop serving the API (no new
			// request reaches the device), close the device (its dials and
			// its sync service, whose goroutines it waits for), close the
			// host, and last the engine (the deferred e.Close above), which
			// nothing uses any more. The command's context is already done:
			// give shutdown its own.
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.RegisterOnShutdown(apiHandler.StopStreams)
			if webSrv != nil {
				webSrv.RegisterOnShutdown(apiHandler.StopStreams)
			}
			shutErr := srv.Shutdown(shut)
			if webSrv != nil {
				shutErr = errors.Join(shutErr, webSrv.Shutdown(shut))
			}
			dev.Close()
			hostErr := dev.Host.Close()
			if err := errors.Join(serveErr, shutErr, hostErr); err != nil {
				return err
			}
			if a.asJSON {
				return a.emitLine(map[string]string{"event": "stopped"})
			}
			fmt.Fprintln(a.stdout, "Stopped.")
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of this device, if a vault is created (default: the host name)")
	cmd.Flags().StringSliceVar(&listen, "listen", nil, "multiaddrs where the vault's other devices can reach this one (default: every interface, TCP and QUIC, any port)")
	cmd.Flags().StringSliceVar(&peers, "peer", nil, "another device of the vault to sync with directly (its address with /p2p/, as its 'mycel up' prints)")
	cmd.Flags().StringVar(&webAddr, "web", web.DefaultAddr, "address of the web app (loopback unless you ask otherwise: anyone who can reach it still needs a login)")
	cmd.Flags().BoolVar(&noWeb, "no-web", false, "serve no web app")
	cmd.Flags().BoolVar(&noLAN, "no-lan", false, "do not look for the vault's devices on the local network (mDNS)")
	cmd.Flags().BoolVar(&showPhrase, "show-phrase", false, "if a vault is created, print its recovery phrase even where standard output is not a terminal (and in --json)")
	cmd.Flags().BoolVar(&lanOnly, "lan-only", false, "never dial a backup node: sync only with devices directly")
	cmd.Flags().DurationVar(&redial, "redial-every", 10*time.Second, "how often to dial again a known device that is not connected")
	return cmd
}

// maxLog is the size at which the sync log is started afresh (the old one
// kept as .1): enough for `mycel diagnostics` to find recent lines.
const maxLog = 8 << 20

// openLog opens the sync log in the data folder for appending, private to
// its owner. It holds ids, peers and errors, never content or keys.
func openLog(dir string) (*os.File, error) {
	path := filepath.Join(dir, vault.LogFile)
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLog {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the sync log: %w", err)
	}
	return f, nil
}
