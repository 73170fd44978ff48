package device

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"

	"mycel/internal/objsync"
	"mycel/internal/vault"
)

// The sync mode (vault.SyncMode) is a setting of the device, read at start
// and at every poke, so `mycel sync mode` takes effect in a running device
// at once: nodes are dialed or dropped, devices met directly or not
// (their connections closed, their dials paused, mDNS stopped, their
// handshakes refused). This run's flags only narrow it: --lan-only dials
// no node whatever the mode.

// modeState is the mode in force, kept under Device.mu.
type modeState struct {
	setting vault.SyncMode // as stored
	nodes   bool           // syncs with backup nodes now
	devices bool           // syncs with devices directly now
	err     string         // why the setting could not be read, if it could not
}

// readMode reads the stored mode and narrows it by this run's flags.
func (d *Device) readMode(ctx context.Context) modeState {
	m, err := d.Engine.SyncMode(ctx)
	st := modeState{setting: m, nodes: m.Nodes() && !d.cfg.LANOnly, devices: m.Devices()}
	if err != nil {
		d.cfg.Log.Warn("read the sync mode", "err", err)
		d.mu.Lock()
		cur := d.mode
		d.mu.Unlock()
		if cur.setting != "" && cur.err == "" {
			return cur // unreadable now: the mode in force stays
		}
		st.err = err.Error()
	}
	return st
}

// applyMode puts a mode in force. Called with d.mu held; it returns
// whether devices were turned on (the caller then starts discovery, which
// must not run under d.mu).
func (d *Device) applyMode(st modeState) (devicesOn bool) {
	was := d.mode
	d.mode = st
	if was.setting != "" && (was.setting != st.setting) {
		d.cfg.Log.Info("sync mode changed", "mode", string(st.setting))
	}
	if !st.devices && (was.devices || was.setting == "") {
		if d.mdns != nil {
			d.mdns.Close()
			d.mdns = nil
		}
		seen := map[objsync.PeerID]bool{}
		for _, p := range d.peers {
			if p.Device != "" && !seen[p.Device] {
				seen[p.Device] = true
				d.closeLAN(p.Device)
			}
		}
	}
	return st.devices && !was.devices && was.setting != ""
}

// devicesOn reports whether the device syncs with devices directly now.
func (d *Device) devicesOn() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mode.devices
}

// resumeDevices starts discovery again and wakes the dial loops, once
// devices are back on.
func (d *Device) resumeDevices(ctx context.Context) {
	d.mu.Lock()
	kick, h, need := d.kick, d.lan, d.cfg.LAN && d.mdns == nil && !d.closed
	d.kick = make(chan struct{})
	d.mu.Unlock()
	close(kick)
	if !need {
		return
	}
	svc := mdns.NewMdnsService(h, MDNSService, notifee{ctx, d})
	if err := svc.Start(); err != nil {
		d.cfg.Log.Warn("start LAN discovery (mDNS)", "err", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.mdns != nil || !d.mode.devices || d.lan != h {
		svc.Close() // closed, raced, turned off or renewed meanwhile
		return
	}
	d.mdns = svc
}

// errDevicesOff refuses a device's handshake while the mode says no.
func (d *Device) errDevicesOff() error {
	return fmt.Errorf("this device's sync mode is %s: it syncs with no device directly", d.Mode())
}

// Mode says with whom this device syncs now: its sync mode, and what this
// run's flags took from it.
func (d *Device) Mode() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.mode
	name := string(m.setting)
	switch {
	case m.setting.Nodes() && !m.nodes && m.devices:
		name = string(vault.SyncLANOnly) + " (--lan-only)"
	case m.setting.Nodes() && !m.nodes:
		name = string(vault.SyncLocalOnly) + " (--lan-only, and the mode " + string(m.setting) + ")"
	}
	if !d.cfg.LAN && m.devices {
		name += ", no LAN discovery (--no-lan)"
	}
	return name
}

// ModeSetting is the stored sync mode in force.
func (d *Device) ModeSetting() vault.SyncMode {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mode.setting
}

// closeIfDevicesOff closes the connections to device dev if devices went
// off while it connected: applyMode closed those it knew of then.
func (d *Device) closeIfDevicesOff(dev objsync.PeerID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.mode.devices {
		d.closeLAN(dev)
	}
}

// NodesOff reports whether the mode in force dials no node.
func (d *Device) NodesOff() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.mode.nodes
}
