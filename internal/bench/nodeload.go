package bench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/p2p"
	"mycel/internal/store/memstore"
)

// NodeLoadConfig is a node under the load of many devices.
type NodeLoadConfig struct {
	// Exe is the mycel executable: the node runs as `Exe --data DIR
	// --json node`, a process of its own, so that its memory and CPU are
	// its own and it can be killed -9.
	Exe string
	Dir string // the node's data folder is Dir/node
	// Devices devices in Vaults vaults (Devices/Vaults each, the rest to
	// the first vaults), each writing its own page.
	Devices, Vaults int
	// NodeEnv is added to the node's environment (MYCEL_CPUPROFILE=FILE
	// makes it write a CPU profile when it stops).
	NodeEnv  []string
	Progress func(string)
}

// NodeLoadResult is one run of every device against the node.
type NodeLoadResult struct {
	Rate     float64       // edits a second per device (0: closed loop)
	Window   time.Duration // how long the devices wrote
	Written  int           // changes handed to the devices' sync services in the window
	Acked    int           // of those, acknowledged by the node within the window
	Unacked  int           // of those, not acknowledged 10 s after the window (or the kill)
	P50, P99 time.Duration // acknowledgement latency of those acknowledged
	Max      time.Duration
	NodeRSS  uint64        // the node process's peak resident memory, bytes
	NodeCPU  time.Duration // its user + system CPU time, over its whole life
	NodeLife time.Duration // how long it ran
	// DevicesCPU is this process's CPU time (the devices') over the same
	// life: with NodeCPU, how busy the machine's cores were.
	DevicesCPU time.Duration
	// The kill check (when asked for): the node was killed -9 halfway,
	// started again on its folder, and every change any device had seen
	// acknowledged (in every run so far) looked for in its stores.
	Killed       bool
	AckedInStore int // acknowledged changes looked for
	Lost         int // of those, missing from the node
}

// AckedPerSec is the acknowledged changes a second, over all devices.
func (r NodeLoadResult) AckedPerSec() float64 { return float64(r.Acked) / r.Window.Seconds() }

// NodeCPUPerAck is the node's CPU time per change acknowledged in the
// window: less swayed than the rate by what else the machine runs (its
// start and the settling before the window are in it too).
func (r NodeLoadResult) NodeCPUPerAck() time.Duration {
	return r.NodeCPU / time.Duration(max(1, r.Acked))
}

// NodeLoad is a node's data folder and the devices that load it; each Run
// starts the node, connects every device, writes, and stops the node.
type NodeLoad struct {
	cfg     NodeLoadConfig
	vaults  []*loadVault
	devices []*loadDevice
	log     *slog.Logger
}

// loadVault is one vault's identity, shared by its devices.
type loadVault struct {
	keys    *keys.Vault
	records [][]byte    // every device's add record
	members *member.Log // of records
}

// NewNodeLoad makes the vaults' keys and devices (each with its own
// in-memory store: the devices' disks are not what is measured) and a
// page for each device.
func NewNodeLoad(cfg NodeLoadConfig) (*NodeLoad, error) {
	if cfg.Vaults < 1 || cfg.Devices < cfg.Vaults {
		return nil, fmt.Errorf("%d devices in %d vaults: give at least one device a vault", cfg.Devices, cfg.Vaults)
	}
	l := &NodeLoad{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for range cfg.Vaults {
		phrase, err := keys.NewPhrase()
		if err != nil {
			return nil, err
		}
		kv, err := keys.VaultFromPhrase(phrase)
		if err != nil {
			return nil, err
		}
		l.vaults = append(l.vaults, &loadVault{keys: kv, members: member.NewLog(kv.ID)})
	}
	for i := range cfg.Devices {
		v := l.vaults[i%cfg.Vaults]
		_, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		rec, err := member.NewRecord(v.keys, member.Add, key.Public().(ed25519.PublicKey), fmt.Sprintf("device %d", i), time.Now())
		if err != nil {
			return nil, err
		}
		if err := v.members.Add(rec); err != nil {
			return nil, err
		}
		v.records = append(v.records, rec)
		l.devices = append(l.devices, &loadDevice{n: i, vault: v, key: key, db: memstore.New(), acked: -1, ack: make(chan struct{}, 1)})
	}
	for _, d := range l.devices {
		h, err := p2p.NewHost(d.key, nil)
		if err != nil {
			l.Close()
			return nil, err
		}
		d.host = h
		if err := d.newPage(); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// Close closes the devices' hosts.
func (l *NodeLoad) Close() {
	for _, d := range l.devices {
		if d.host != nil {
			d.host.Close()
		}
	}
}

func (l *NodeLoad) progress(s string) {
	if l.cfg.Progress != nil {
		l.cfg.Progress(s)
	}
}

// SetNodeEnv sets what is added to the environment of the nodes started
// from now on (see NodeLoadConfig.NodeEnv).
func (l *NodeLoad) SetNodeEnv(env []string) { l.cfg.NodeEnv = env }

func (l *NodeLoad) nodeDir() string { return filepath.Join(l.cfg.Dir, "node") }

// nodeLog is where the node's log goes, every start appended.
func (l *NodeLoad) nodeLog() string { return filepath.Join(l.cfg.Dir, "node.log") }

// Run starts the node, connects every device and waits until each holds
// an acknowledgement of all it wrote before, then has every device write
// for d: rate edits a second each, or (rate 0) closed loop, each device
// writing its next edit once the node acknowledged the last. With kill,
// the node is killed -9 at d/2, started again, and its stores are checked
// for every change a device saw acknowledged.
func (l *NodeLoad) Run(ctx context.Context, rate float64, d time.Duration, kill bool) (NodeLoadResult, error) {
	r := NodeLoadResult{Rate: rate}
	p, err := startNode(ctx, l.cfg.Exe, l.nodeDir(), l.nodeLog(), l.cfg.NodeEnv)
	if err != nil {
		return r, err
	}
	started, cpu0 := time.Now(), selfCPU()
	stopped := false
	defer func() {
		if !stopped {
			p.kill()
		}
	}()
	if err := l.connect(ctx, p.addr); err != nil {
		l.disconnect()
		return r, err
	}
	l.progress(fmt.Sprintf("%d devices connected; waiting for what they wrote before to be acknowledged", len(l.devices)))
	if err := l.settle(ctx, 60*time.Second); err != nil {
		l.disconnect()
		return r, err
	}
	what := "closed loop"
	if rate > 0 {
		what = fmt.Sprintf("%g edits/s each", rate)
	}
	l.progress(fmt.Sprintf("writing for %v, %s", d, what))
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, dev := range l.devices {
		dev.startWindow()
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev.writeLoop(wctx, rate)
		}()
	}
	start := time.Now()
	window := d
	if kill {
		window = d / 2
	}
	t := time.NewTimer(window)
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	if kill {
		p.kill() // before the writers stop: changes are in flight
		stopped = true
		r.Killed = true
	}
	stop()
	wg.Wait()
	end := time.Now()
	r.Window = end.Sub(start)
	if !kill {
		// What was written in the window and is still in flight is
		// waited for (its latency counts), within a bound.
		l.settle(ctx, 10*time.Second)
	}
	var lats []time.Duration
	for _, dev := range l.devices {
		w, acked, ls := dev.endWindow(end)
		r.Written += w
		r.Acked += acked
		r.Unacked += w - len(ls)
		lats = append(lats, ls...)
	}
	l.disconnect()
	if !kill {
		if err := p.stop(); err != nil {
			return r, err
		}
		stopped = true
	}
	r.NodeLife, r.DevicesCPU = time.Since(started), selfCPU()-cpu0
	r.NodeRSS, r.NodeCPU = p.usage()
	if err := l.failed(); err != nil {
		return r, err
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	r.P50, r.P99, r.Max = quantiles(lats)
	if kill {
		l.progress("node killed -9; starting it again on its folder")
		if err := l.checkAfterKill(ctx, &r); err != nil {
			return r, err
		}
	}
	return r, nil
}
