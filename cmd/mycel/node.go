package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"mycel/internal/device"
	"mycel/internal/files"
	"mycel/internal/node"
	"mycel/internal/p2p"
	"mycel/internal/vault"
)

// Files of a node's data folder besides its vaults.
const (
	nodeKeyFile   = "node.key"
	nodeAddrsFile = "node.addrs" // where it listens, ports filled in
	nodeLockFile  = "node.lock"  // held while a node runs on the folder
	inviteFile    = "invite.token"
)

// firstListen is where a node listens on its first start: this machine
// only (a node serves the internet only when told to), on free ports.
var firstListen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

func (a *app) nodeCmd() *cobra.Command {
	var listen []string
	var registration string
	var maxVaults int
	var quota, chunkRate string
	var idleAfter, chunkGrace time.Duration
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a backup node: store vaults' encrypted changes, serve devices",
		Long: `Run a backup node. It stores, for every vault a device registers with it, the
encrypted changes and the membership log, verifies every change it receives
(id, signature, author a member device, parents), and never holds a key: it
cannot read content, titles or device names.

It prints its addresses; give one to 'mycel nodes add' on each device.

Its addresses stay the same from one start to the next. On the first start it
listens on this machine only (127.0.0.1), on a free TCP port and a free UDP port
(QUIC), and records the addresses it got, ports included, in node.addrs in its
data folder (--data; one multiaddr a line). Every later start listens there
again, so the address each device was given keeps working. To listen elsewhere
(every interface, fixed ports), start it once with --listen: those addresses
replace the recorded ones from then on, and each device needs the new address
('mycel nodes rm OLD', then 'mycel nodes add NEW').

  mycel node --data /srv/mycel-node --listen /ip4/0.0.0.0/tcp/4001,/ip4/0.0.0.0/udp/4001/quic-v1

On a server, give fixed ports like these: a port the system chose can be taken
by another program while the node is stopped (the node then says so and does
not start).

One node at a time runs on a data folder, and a node does not share a port: a
folder another node uses, or an address another process listens on, stops it
at once with an error saying so.

Who may register a new vault (--registration; vaults registered already are
always served):
  open    any device (the default), within the limits below;
  invite  a device that presents this node's invite token: on the first start
          with invite the node creates one in invite.token in its data folder
          (mode 0600) and prints it at every start; each device registers with
          'mycel nodes add ADDR --invite TOKEN';
  closed  none.
However open, a node registers at most --max-vaults vaults in all, each device
key 2 new vaults at once and then one per 10 minutes, and the node 20 at once
and then one per 30 seconds, so a stranger cannot fill its disk. Refusals say
which limit was met.

A vault's store is open, and its sync service running, only while a device of
it is connected (and --idle-after more): a node holding many vaults starts at
once, and an idle vault holds no file open.

File chunks that no change names (an upload whose change never came) are
removed once --chunk-grace (a week) has passed since they were stored; a chunk
any change names, in any version of any page, is kept for good.

  mycel node --data /srv/mycel-node --registration invite --max-vaults 50

With --json it prints one JSON object a line: {"event": "up", ...} with its
addresses once it listens, {"event": "stopped"} when it stops; its log on
standard error is JSON too.

Its memory: the Go runtime is held to about 160 MiB, or a quarter more than
what it keeps live when that is more (the collector works harder past it);
GOMEMLIMIT=SIZE sets a limit of its own instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			stopProfile, err := startCPUProfile()
			if err != nil {
				return err
			}
			defer stopProfile()
			defer startHeapProfile("node")()
			limitMemory(cmd.Context())
			explicit := cmd.Flags().Changed("listen")
			if explicit && len(listen) == 0 {
				return errors.New("--listen needs at least one multiaddr")
			}
			if err := os.MkdirAll(a.data, 0o700); err != nil {
				return fmt.Errorf("create the node's data folder: %w", err)
			}
			lock, err := lockNode(a.data)
			if err != nil {
				return err
			}
			defer lock.Close()
			key, err := nodeKey(a.data)
			if err != nil {
				return err
			}
			addrsPath := filepath.Join(a.data, nodeAddrsFile)
			if !explicit {
				if listen, err = readNodeAddrs(addrsPath); err != nil {
					return err
				}
				if listen == nil {
					listen = firstListen
				}
			}
			opts, invite, err := nodeOptions(a.data, registration, maxVaults, idleAfter)
			if err != nil {
				return err
			}
			if opts.Quota, opts.ChunkRate, err = chunkOptions(quota, chunkRate); err != nil {
				return err
			}
			if opts.ChunkGrace, err = chunkGraceOption(chunkGrace); err != nil {
				return err
			}
			n, err := node.OpenWith(a.data, opts)
			if err != nil {
				return err
			}
			defer n.Close()
			h, err := p2p.NewHost(key, listen)
			if err != nil {
				return err
			}
			defer h.Close()
			// Recorded only once it listens: a --listen that failed leaves
			// the addresses devices know.
			bound := boundAddrs(h)
			if err := writeNodeAddrs(addrsPath, bound); err != nil {
				return err
			}
			var logHandler slog.Handler = slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
			if a.asJSON {
				logHandler = slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
			}
			srv := node.Serve(ctx, h, n, node.DefaultServiceConfig(slog.New(logHandler)))
			defer srv.Close() // before the node's stores and the host close
			var dial []string
			for _, m := range h.Addrs() {
				dial = append(dial, fmt.Sprintf("%s/p2p/%s", m, h.ID()))
			}
			slices.Sort(dial) // the same order at every start
			if a.asJSON {
				if err := a.emitLine(map[string]any{"event": "up", "vaults": n.Vaults(), "data": a.data, "peer_id": h.ID().String(),
					"addresses": dial, "listen": bound, "addresses_file": addrsPath,
					"registration": opts.Registration.String(), "max_vaults": opts.MaxVaults, "invite": invite}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "mycel node is up: %d vaults, data in %s.\n", n.Vaults(), a.data)
				fmt.Fprintln(a.stdout, "Addresses (give one to 'mycel nodes add' on each device):")
				for _, d := range dial {
					fmt.Fprintf(a.stdout, "  %s\n", d)
				}
				fmt.Fprintf(a.stdout, "They are the same at every start (kept in %s; --listen changes them).\n", addrsPath)
				switch opts.Registration {
				case node.RegistrationOpen:
					fmt.Fprintf(a.stdout, "Registration is open: any device may register a vault, up to %d vaults.\n", opts.MaxVaults)
				case node.RegistrationInvite:
					fmt.Fprintf(a.stdout, "Registration is by invitation, up to %d vaults: on each device, 'mycel nodes add ADDR --invite %s'.\n", opts.MaxVaults, invite)
				case node.RegistrationClosed:
					fmt.Fprintln(a.stdout, "Registration is closed: the node serves the vaults it holds, and no new one.")
				}
				fmt.Fprintln(a.stdout, "Press Ctrl-C to stop.")
			}
			<-ctx.Done()
			st := srv.ChunkStats()
			if a.asJSON {
				return a.emitLine(map[string]any{"event": "stopped", "chunk_bytes_received": st.Received.Load(),
					"chunk_bytes_held_already": st.Held.Load(), "chunk_bytes_sent": st.Sent.Load()})
			}
			fmt.Fprintf(a.stdout, "Stopped: received %d chunk bytes (%d already held), sent %d.\n", st.Received.Load(), st.Held.Load(), st.Sent.Load())
			return nil
		},
	}
	cmd.Flags().StringVar(&registration, "registration", "open",
		"who may register a new vault: open (any device, within the limits), invite (a device with this node's invite token, from invite.token), closed (none)")
	cmd.Flags().IntVar(&maxVaults, "max-vaults", node.DefaultMaxVaults,
		"the most vaults this node holds; registrations past it are refused (the vaults held are kept)")
	cmd.Flags().DurationVar(&idleAfter, "idle-after", node.DefaultIdleAfter,
		"how long a vault with no device connected keeps its store open and its sync service running")
	cmd.Flags().StringVar(&quota, "quota", "",
		"the most file bytes (sealed chunks) each vault may keep here, such as 10GiB; uploads past it are refused with the reason, and text keeps syncing (default: no limit)")
	cmd.Flags().StringVar(&chunkRate, "chunk-rate", "",
		"the most file bytes a second one device stream may send or fetch, such as 50MB (default: no limit)")
	cmd.Flags().DurationVar(&chunkGrace, "chunk-grace", node.DefaultChunkGrace,
		"how long a file chunk that no change names (an upload whose change never came) is kept before it is removed; chunks a change names are never removed; 0: never remove any")
	cmd.Flags().StringSliceVar(&listen, "listen", nil,
		"multiaddrs to listen on, TCP and QUIC (port 0: a free one), recorded for the next starts (default: those recorded in node.addrs, else "+strings.Join(firstListen, ",")+")")
	return cmd
}

// chunkGraceOption reads --chunk-grace: 0 turns collection off (the
// node's Options say so by a negative grace), and one shorter than the
// node accepts is refused with the shortest.
func chunkGraceOption(g time.Duration) (time.Duration, error) {
	switch {
	case g == 0:
		return -1, nil
	case g < 0:
		return 0, fmt.Errorf("--chunk-grace %v: give a positive duration such as 168h, or 0 to never remove chunks", g)
	case g < node.MinChunkGrace:
		return 0, fmt.Errorf("--chunk-grace %v is too short: a change that arrives a little after its chunks would find them gone; give at least %v", g, node.MinChunkGrace)
	}
	return g, nil
}

// chunkOptions reads --quota and --chunk-rate (empty: no limit).
func chunkOptions(quota, rate string) (int64, int64, error) {
	var q, r int64
	var err error
	if quota != "" {
		if q, err = files.ParseBytes(quota); err != nil {
			return 0, 0, fmt.Errorf("--quota: %w", err)
		}
		if q == 0 {
			return 0, 0, errors.New("--quota 0 would refuse every file: give a size such as 10GiB, or leave it out for no limit")
		}
	}
	if rate != "" {
		if r, err = files.ParseBytes(rate); err != nil {
			return 0, 0, fmt.Errorf("--chunk-rate: %w", err)
		}
		if r == 0 {
			return 0, 0, errors.New("--chunk-rate 0 would stop every upload: give a rate such as 50MB, or leave it out for no limit")
		}
	}
	return q, r, nil
}

// nodeOptions are the node's registration policy and limits from its
// flags, and its invite token when registration is by invitation.
func nodeOptions(dir, registration string, maxVaults int, idleAfter time.Duration) (node.Options, string, error) {
	reg, err := node.ParseRegistration(registration)
	if err != nil {
		return node.Options{}, "", fmt.Errorf("--%w", err)
	}
	if maxVaults < 1 {
		return node.Options{}, "", fmt.Errorf("--max-vaults %d: give at least 1 (--registration closed accepts no new vault)", maxVaults)
	}
	if idleAfter <= 0 {
		return node.Options{}, "", fmt.Errorf("--idle-after %v: give a positive duration, such as 1m", idleAfter)
	}
	opts := node.Options{Registration: reg, MaxVaults: maxVaults, IdleAfter: idleAfter}
	if reg != node.RegistrationInvite {
		return opts, "", nil
	}
	if opts.Invite, err = inviteToken(dir); err != nil {
		return node.Options{}, "", err
	}
	return opts, opts.Invite, nil
}

// inviteToken reads the node's invite token, creating it on first use: 20
// random bytes in hex, in a file only the node's user may read (whoever
// reads it may register vaults).
func inviteToken(dir string) (string, error) {
	path := filepath.Join(dir, inviteFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 20)
		if _, err := rand.Read(raw); err != nil {
			return "", err
		}
		tok := hex.EncodeToString(raw)
		if err := writeFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write the invite token: %w", err)
		}
		return tok, nil
	}
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s can be read by other users (mode %v): 'chmod 600 %s', or remove it for a new token", path, fi.Mode().Perm(), path)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("%s holds no token of at least 16 characters: remove it, and the node makes a new one", path)
	}
	return tok, nil
}

// lockNode locks the node's data folder for this process's life, so that
// two nodes never serve (and write) the same stores.
func lockNode(dir string) (*os.File, error) {
	path := filepath.Join(dir, nodeLockFile)
	f, err := lockFile(path)
	if errors.Is(err, errLocked) {
		who := "another mycel node"
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			who += " (pid " + strings.TrimSpace(string(b)) + ")"
		}
		return nil, fmt.Errorf("%s runs on the data folder %s: stop it, or give this node another --data", who, dir)
	}
	if err != nil {
		return nil, err
	}
	// Who holds it, for the message above; the lock, not this, is what counts.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// readNodeAddrs reads the recorded listen addresses: nil if none are.
func readNodeAddrs(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var addrs []string
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if _, err := ma.NewMultiaddr(l); err != nil {
			return nil, fmt.Errorf("%s, line %d: %q is not a multiaddr (%v): fix the line, or start with --listen to replace the file", path, i+1, l, err)
		}
		addrs = append(addrs, l)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s holds no address: remove it, or start with --listen to replace it", path)
	}
	return addrs, nil
}

// writeNodeAddrs records the addresses a node listens on, if they are not
// what the file holds already.
func writeNodeAddrs(path string, addrs []string) error {
	if old, err := readNodeAddrs(path); err == nil && slices.Equal(old, addrs) {
		return nil
	}
	text := "# Where this mycel node listens, one multiaddr a line, read at every start.\n" +
		"# 'mycel node --listen ADDRS' replaces them.\n" + strings.Join(addrs, "\n") + "\n"
	if err := writeFileAtomic(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("record the node's addresses: %w", err)
	}
	return nil
}

// boundAddrs are the TCP and QUIC addresses h listens on, with the ports
// the system chose for port 0, in a stable order. (libp2p's relay
// transport listens too, on /p2p-circuit, which no device dials.)
func boundAddrs(h host.Host) []string {
	var out []string
	for _, m := range h.Network().ListenAddresses() {
		_, tcpErr := m.ValueForProtocol(ma.P_TCP)
		_, udpErr := m.ValueForProtocol(ma.P_UDP)
		if tcpErr == nil || udpErr == nil {
			out = append(out, m.String())
		}
	}
	slices.Sort(out)
	return out
}

// nodeKey reads the node's identity key, creating it on first run.
func nodeKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, nodeKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		// Atomically: a half-written key would change the node's peer id,
		// and every device's address of it with it.
		if err := writeFileAtomic(path, key.Seed(), 0o600); err != nil {
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
	var invite string
	add := &cobra.Command{
		Use:   "add ADDR",
		Short: "Register this vault with a node and sync with it",
		Long: `Register this vault with the backup node at ADDR (the /p2p/ multiaddr 'mycel node'
prints) and add it to the nodes this device syncs with. The node checks that
this device belongs to the vault; it never receives a key.

A node that registers new vaults by invitation only ('mycel node --registration
invite') asks for its invite token, which it prints: give it with --invite.
It is needed once, to register; the vault's other devices then need none.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				if err := device.RegisterInvited(cmd.Context(), e, args[0], invite); err != nil {
					return err
				}
				return a.emit(map[string]string{"added": args[0]}, func(w io.Writer) {
					fmt.Fprintf(w, "Registered with %s. 'mycel up' syncs with it.\n", args[0])
				})
			})
		},
	}
	add.Flags().StringVar(&invite, "invite", "", "the node's invite token, for a node that registers new vaults by invitation (it prints the token)")
	cmd.AddCommand(add, &cobra.Command{
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
	}, a.nodesTrustCmd(), &cobra.Command{
		Use:   "rm ADDR",
		Short: "Stop syncing with a node",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withVault(func(e *vault.Engine) error {
				if err := e.RemoveNode(cmd.Context(), args[0]); err != nil {
					return err
				}
				return a.emit(map[string]string{"removed": args[0]}, func(w io.Writer) { fmt.Fprintf(w, "Removed %s.\n", args[0]) })
			})
		},
	})
	return cmd
}

func (a *app) nodesTrustCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "trust ADDR|--all",
		Short: "Trust a node again after it was caught losing or hiding changes",
		Long: `A backup node signs each confirmation that it holds a page's changes. One
later caught showing less than it confirmed (put back from an old backup, a
disk that lost data, or a node that lies) leaves that page Not syncing with
"the backup node lost or hid changes it had confirmed" until you trust it
again: this device uploads the changes to it again meanwhile.

Once you know why and the node is fixed, 'mycel nodes trust ADDR' (its
address as 'mycel nodes ls' shows it, or its peer id) clears the mark on
every page it was caught about (--all: for every node). Its signed words stay
kept: what it shows from now on is judged against them as before, so a node
that still lacks what it confirmed is caught again. A running 'mycel up'
takes it at once.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) == 1) || len(args) > 1 {
				return errors.New("give one node's address, or --all")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			node := ""
			if !all {
				node = args[0]
			}
			return a.withVault(func(e *vault.Engine) error {
				n, err := e.TrustNodeAgain(cmd.Context(), node)
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"node": node, "pages": n}, func(w io.Writer) {
					switch {
					case n == 0 && all:
						fmt.Fprintln(w, "No node was caught losing or hiding changes: nothing to clear.")
					case n == 0:
						fmt.Fprintf(w, "%s was not caught losing or hiding changes: nothing to clear.\n", node)
					case n == 1:
						fmt.Fprintln(w, "Trusted again: the mark is cleared on 1 page. What the node shows from now on is checked as before.")
					default:
						fmt.Fprintf(w, "Trusted again: the mark is cleared on %d pages. What the node shows from now on is checked as before.\n", n)
					}
				})
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "clear the marks of every node")
	return cmd
}
