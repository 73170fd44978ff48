package device

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/zeroconf/v2"

	"mycel/internal/p2p"
)

// stranger listens on the LAN as anyone could: every mDNS packet, as
// bytes, and the "mycel" services a browse finds.
type stranger struct {
	mu      sync.Mutex
	packets [][]byte
	entries []*zeroconf.ServiceEntry
}

func listenAsStranger(t *testing.T, ctx context.Context) *stranger {
	t.Helper()
	var ifi *net.Interface
	ifs, _ := net.Interfaces()
	for i := range ifs {
		if f := ifs[i].Flags; f&net.FlagUp != 0 && f&net.FlagMulticast != 0 && f&net.FlagLoopback == 0 {
			ifi = &ifs[i]
			break
		}
	}
	if ifi == nil {
		t.Skip("no network interface here carries multicast: mDNS cannot be heard")
	}
	c, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		t.Skipf("cannot listen to mDNS here: %v", err)
	}
	s := &stranger{}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.packets = append(s.packets, bytes.Clone(buf[:n]))
			s.mu.Unlock()
		}
	}()
	entries := make(chan *zeroconf.ServiceEntry, 100)
	go func() {
		for e := range entries {
			s.mu.Lock()
			s.entries = append(s.entries, e)
			s.mu.Unlock()
		}
	}()
	go zeroconf.Browse(ctx, MDNSService, "local.", entries)
	t.Cleanup(func() { c.Close() })
	return s
}

// announced returns the peer ids the stranger found announced.
func (s *stranger) announced() map[peer.ID]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[peer.ID]bool{}
	for _, e := range s.entries {
		for _, txt := range e.Text {
			if info, err := peer.AddrInfoFromString(strings.TrimPrefix(txt, "dnsaddr=")); err == nil {
				out[info.ID] = true
			}
		}
	}
	return out
}

// heard reports whether any packet or entry holds one of the needles.
func (s *stranger) heard(needles [][]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range needles {
		for _, p := range s.packets {
			if bytes.Contains(p, n) {
				return true
			}
		}
		for _, e := range s.entries {
			all := strings.Join(append([]string{e.Instance, e.HostName}, e.Text...), "\n")
			if strings.Contains(all, string(n)) {
				return true
			}
		}
	}
	return false
}

// A stranger on the LAN hears a device's mDNS announcements, and browses
// for them: it never sees the device's key (in any of its spellings), and
// two starts of the device announce two unrelated ids, so it cannot tell
// the device seen here from the one seen on another network. (mDNS
// announced the device key as the peer id: a stable identifier.)
func TestLANAnnouncesNoDeviceKey(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, _ := laptopAndPhone(t, ctx)
	s := listenAsStranger(t, ctx)
	key := a.DeviceKey()
	devicePeer, err := p2p.DevicePeer(key)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := peer.Decode(string(devicePeer))
	needles := [][]byte{key, []byte(pid), []byte(pid.String()), []byte(peer.ToCid(pid).String()),
		[]byte(hex.EncodeToString(key)), []byte(hex.EncodeToString(key[:6])),
		[]byte(base64.StdEncoding.EncodeToString(key)), []byte(base64.RawURLEncoding.EncodeToString(key))}

	var ids []peer.ID
	for range 2 {
		cfg := fastConfig()
		cfg.LAN = true
		d, err := Start(ctx, a, cfg)
		if err != nil {
			t.Fatal(err)
		}
		id := d.LAN.ID()
		eventually(t, "the stranger to hear the device announced", func() bool { return s.announced()[id] })
		ids = append(ids, id)
		d.Close()
		d.Host.Close()
	}
	if s.heard(needles) {
		t.Fatal("an mDNS packet or announcement holds the device key")
	}
	if ids[0] == ids[1] {
		t.Fatalf("two starts announced the same id %s", ids[0])
	}
	for _, id := range ids {
		if id == pid {
			t.Fatalf("the announced id is the device's key")
		}
	}
}
