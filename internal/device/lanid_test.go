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
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/zeroconf/v2"

	"mycel/internal/markdown"
	"mycel/internal/p2p"
	"mycel/internal/vault"
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
// two starts of the device, or one before and after its network changed,
// announce unrelated ids, so it cannot tell the device seen here from the
// one seen on another network. (mDNS announced the device key as the peer
// id: a stable identifier.)
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

	// Two starts, and in the second a change of network (the laptop
	// moved from home to a café without a restart).
	var ids []peer.ID
	var mu sync.Mutex
	iface := "192.0.2.10/24"
	for start := range 2 {
		cfg := fastConfig()
		cfg.LAN = true
		cfg.NetCheck = 20 * time.Millisecond
		cfg.Addrs = func() ([]net.Addr, error) {
			mu.Lock()
			defer mu.Unlock()
			ip, n, _ := net.ParseCIDR(iface)
			n.IP = ip
			return []net.Addr{n}, nil
		}
		d, err := Start(ctx, a, cfg)
		if err != nil {
			t.Fatal(err)
		}
		id := d.LANHost().ID()
		eventually(t, "the stranger to hear the device announced", func() bool { return s.announced()[id] })
		ids = append(ids, id)
		if start == 1 {
			mu.Lock()
			iface = "192.0.2.77/24"
			mu.Unlock()
			eventually(t, "a new LAN identity after the network changed", func() bool { return d.LANHost().ID() != id })
			renewed := d.LANHost().ID()
			eventually(t, "the stranger to hear the new identity announced", func() bool { return s.announced()[renewed] })
			ids = append(ids, renewed)
		}
		d.Close()
		d.Host.Close()
	}
	if s.heard(needles) {
		t.Fatal("an mDNS packet or announcement holds the device key")
	}
	if ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
		t.Fatalf("two starts, or one start before and after a network change, announced the same id: %s", ids)
	}
	for _, id := range ids {
		if id == pid {
			t.Fatalf("the announced id is the device's key")
		}
	}
}

// A device whose network changes takes a new LAN identity and its peer is
// back in touch by itself: the device dials it again from its new host.
func TestDevicesSyncAfterTheLANIdentityRenews(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := laptopAndPhone(t, ctx)
	var mu sync.Mutex
	iface := "192.0.2.10/24"
	cfgA := fastConfig()
	cfgA.NetCheck = 20 * time.Millisecond
	cfgA.Addrs = func() ([]net.Addr, error) {
		mu.Lock()
		defer mu.Unlock()
		ip, n, _ := net.ParseCIDR(iface)
		n.IP = ip
		return []net.Addr{n}, nil
	}
	da, err := Start(ctx, a, cfgA)
	if err != nil {
		t.Fatal(err)
	}
	cfgB := fastConfig()
	cfgB.Peers = []string{addrOf(da)}
	db, err := Start(ctx, b, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := a.Create(ctx, vault.NewPage{Title: "Shared", Blocks: markdown.Parse("one\n")})
	eventually(t, "a's object on b", func() bool { return text(t, b, id) == "one\n" })

	before := da.LANHost().ID()
	mu.Lock()
	iface = "192.0.2.77/24"
	mu.Unlock()
	eventually(t, "a new LAN identity", func() bool { return da.LANHost().ID() != before })
	if _, err := a.AppendMarkdown(ctx, id, "two\n"); err != nil {
		t.Fatal(err)
	}
	da.Poke()
	eventually(t, "a's edit on b, from its new identity", func() bool { return text(t, b, id) == "one\n\ntwo\n" })
	// (The connection is recorded just after it is handed to sync.)
	eventually(t, "b to show a connected by its new identity only", func() bool {
		var connected []peer.ID
		for _, p := range db.Peers() {
			if p.Connected {
				connected = append(connected, p.ID)
			}
		}
		return len(connected) == 1 && connected[0] == da.LANHost().ID()
	})
}

// What renews the LAN identity is a change of the networks the device is
// on, not an interface coming and going with only link-local addresses
// (a container's, a VPN's), which would drop every LAN connection.
func TestNetworkKeyIgnoresLinkLocal(t *testing.T) {
	addrs := func(cidrs ...string) func() ([]net.Addr, error) {
		return func() ([]net.Addr, error) {
			var out []net.Addr
			for _, c := range cidrs {
				ip, n, _ := net.ParseCIDR(c)
				n.IP = ip
				out = append(out, n)
			}
			return out, nil
		}
	}
	home := networkKey(addrs("127.0.0.1/8", "::1/128", "192.168.1.20/24", "fe80::1/64"))
	if k := networkKey(addrs("127.0.0.1/8", "::1/128", "192.168.1.20/24", "fe80::1/64", "fe80::2/64", "169.254.3.4/16")); k != home {
		t.Fatalf("link-local addresses changed the network: %q vs %q", k, home)
	}
	if k := networkKey(addrs("127.0.0.1/8", "10.0.0.5/24", "fe80::1/64")); k == home {
		t.Fatal("another network has the same key")
	}
}
