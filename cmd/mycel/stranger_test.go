package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"mycel/internal/p2p"
	"mycel/internal/syncer"
)

// Attacks by strangers on a running node or device, as real processes on
// loopback. The attacker is built on libp2p alone: a fresh identity costs
// nothing, so it uses many.

// rssLimit is what a node or device may grow to under attack (both idle
// at about 30 MB).
const rssLimit = 100 << 20

// sent is how much of a 16 MiB frame the attacker sends on each stream.
const sent = 1 << 20

// rss reads a process's resident set (VmRSS) from /proc.
func rss(t *testing.T, p *proc) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc to read the memory of a process from: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", l, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", p.cmd.Process.Pid)
	return 0
}

// stranger is an attacker's host: a fresh identity, TCP only, and no
// resource limits of its own.
func stranger(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// floodFrames has strangers open streams of proto to target, each
// announcing a frame of 16 MiB and sending 1 MiB of it (what a reader
// that allocated the frame in full has to hold), and keeps them open; it checks the target's memory after every identity and fails as
// soon as it passes rssLimit (before the machine runs out).
func floodFrames(t *testing.T, target *proc, addr, proto string, identities, streams int) {
	t.Helper()
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	header, chunk := binary.AppendUvarint(nil, syncer.MaxFrame), bytes.Repeat([]byte{0x0a}, 64<<10)
	before, opened, peak := rss(t, target), 0, int64(0)
	var wg sync.WaitGroup // every writer: each ends when its stream does, or at its deadline
	defer wg.Wait()
	for range identities {
		h := stranger(t)
		if err := h.Connect(ctx, *info); err != nil {
			continue // refused: what a limit does
		}
		started := make(chan bool, streams)
		for range streams {
			wg.Go(func() {
				s, err := h.NewStream(ctx, info.ID, protocol.ID(proto))
				if err != nil {
					started <- false
					return
				}
				s.SetWriteDeadline(time.Now().Add(3 * time.Second))
				_, err = s.Write(header)
				started <- err == nil
				for i := 0; err == nil && i < sent/len(chunk); i++ { // until the target stops reading
					_, err = s.Write(chunk)
				}
			})
		}
		for range streams {
			if <-started {
				opened++
			}
		}
		if m := rss(t, target); m > peak {
			peak = m
		}
		if peak > rssLimit {
			t.Fatalf("after %d streams announcing 16 MiB frames the process holds %d MB (%d MB before)", opened, peak>>20, before>>20)
		}
	}
	wg.Wait()
	if m := rss(t, target); m > peak {
		peak = m
	}
	if peak > rssLimit {
		t.Fatalf("after %d streams announcing 16 MiB frames the process holds %d MB (%d MB before)", opened, peak>>20, before>>20)
	}
	if opened == 0 {
		t.Fatal("the attack opened no stream: it tested nothing")
	}
	t.Logf("%d streams opened by %d identities, each announcing a 16 MiB frame: RSS %d MB before, at most %d MB during", opened, identities, before>>20, peak>>20)
}

// A stranger cannot exhaust a node's memory before any handshake: many
// identities, each opening streams whose first frame announces 16 MiB.
func TestStrangerFramesCannotExhaustANode(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a node")
	}
	node := runNode(t, t.TempDir(), loopbackListen(t))
	floodFrames(t, node, nodeAddr(t, node), p2p.ProtocolID, 50, 16)
}

// Nor a device's, which listens on every interface for the vault's other
// devices.
func TestStrangerFramesCannotExhaustADevice(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a device")
	}
	a := newCLI(t)
	a.ok("init", "--name", "laptop", "--show-phrase")
	up := start(t, "--data", a.data, "up", "--no-lan", "--listen", loopbackListen(t))
	floodFrames(t, up, reachAt(t, up), p2p.PeerProtocolID, 50, 16)
}

// 500 idle connections of strangers lock no device out of a node: an
// honest device registers and syncs while they are open, and the node
// closes them all.
func TestIdleStrangersLockNoDeviceOut(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 500 connections to a node")
	}
	node := runNode(t, t.TempDir(), loopbackListen(t))
	addr := nodeAddr(t, node)
	info, err := peer.AddrInfoFromString(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 500
	hosts := make([]host.Host, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range hosts {
		hosts[i] = stranger(t)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			hosts[i].Connect(ctx, *info)
		})
	}
	wg.Wait()
	open := func() int {
		c := 0
		for _, h := range hosts {
			c += len(h.Network().ConnsToPeer(info.ID))
		}
		return c
	}
	t.Logf("%d of %d stranger connections still open once all were made", open(), n)

	a := newCLI(t)
	a.ok("init", "--name", "laptop", "--show-phrase")
	a.ok("nodes", "add", addr) // registers: a handshake with the node
	upA := start(t, "--data", a.data, "up", "--no-lan")
	id := strings.TrimSpace(a.ok("new", "--title", "Among strangers", "--text", "still synced"))
	waitFor(t, "the object Synced while strangers hold connections", func() bool { return objectStatus(t, a, id) == "Synced" }, node, upA)
	waitFor(t, "the node to close every idle stranger", func() bool { return open() == 0 }, node)
}
