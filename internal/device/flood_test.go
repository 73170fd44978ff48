package device

import (
	"context"
	"crypto/ed25519"
	"net"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/vault"
)

// A stranger on the LAN announces 300 fake devices by mDNS (injected here
// where the mDNS notifee hands them over), all at an address that
// accepts and drops every connection: the device dials them at a bounded
// rate, and once they are no longer announced it forgets them all and
// stops dialing.
func TestFakePeerFloodIsBounded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	d, err := Start(ctx, e, fastConfig()) // redials every 100 ms
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var dials atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.Close()
		}
	}()
	addr, err := ma.NewMultiaddr("/ip4/127.0.0.1/tcp/" + itoa(l.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	fakes := make([]peer.AddrInfo, 300)
	for i := range fakes {
		pub, _, _ := ed25519.GenerateKey(nil)
		pk, _ := crypto.UnmarshalEd25519PublicKey(pub)
		id, _ := peer.IDFromPublicKey(pk)
		fakes[i] = peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{addr}}
	}
	found := notifee{ctx, d}
	isFake := map[peer.ID]bool{}
	for _, f := range fakes {
		isFake[f.ID] = true
	}
	known := func() int {
		n := 0
		for _, p := range d.Peers() {
			if isFake[p.ID] {
				n++
			}
		}
		return n
	}

	// Announced again and again for 3 s, as mDNS answers each query.
	start := time.Now()
	for time.Since(start) < 3*time.Second {
		for _, f := range fakes {
			found.HandlePeerFound(f)
		}
		if n := known(); n > lanMaxUnproven {
			t.Fatalf("%d announced devices known at once", n)
		}
		time.Sleep(50 * time.Millisecond) // the pace of the announcer, not a wait for the device
	}
	elapsed, n := time.Since(start), dials.Load()
	rate := float64(n) / elapsed.Seconds()
	t.Logf("%d dials in %v while 300 fake devices were announced: %.1f a second", n, elapsed.Round(time.Millisecond), rate)
	if max := float64(time.Second/lanDialEvery) + lanDialConcurrency; rate > max {
		t.Fatalf("%.1f dials a second of announced devices, over %.0f", rate, max)
	}
	if n == 0 {
		t.Fatal("no announced device was dialed: the test tested nothing")
	}

	// The announcer left: every fake device is forgotten, so nothing dials
	// them any more.
	deadline := time.Now().Add(60 * time.Second)
	for known() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d fake devices still known (and dialed) a minute after the last announcement", known())
		}
		time.Sleep(20 * time.Millisecond)
	}
	after := dials.Load()
	t.Logf("all forgotten %v after the last announcement, %d dials in all", time.Since(start.Add(elapsed)).Round(time.Millisecond), after)
	// Forgotten means no loop is left to dial: none in a few redial periods.
	for end := time.Now().Add(10 * d.cfg.RedialEvery); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if dials.Load() > after+lanDialConcurrency { // dials under way when the last was forgotten
			t.Fatalf("%d dials after every fake device was forgotten", dials.Load()-after)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Two devices whose membership log is far bigger than a handshake frame
// may be sync directly: each proof carries the dialer's own add record,
// and the whole log follows the handshake.
func TestBigMembershipLogSyncsDirectly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, phrase, err := vault.Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	v, err := keys.VaultFromPhrase(phrase)
	if err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	for i := range 100 {
		pub, _, _ := ed25519.GenerateKey(nil)
		rec, err := member.NewRecord(v, member.Add, pub, "device number "+strconv.Itoa(i)+" of many", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if err := a.AddMemberRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	b, err := vault.Recover(ctx, filepath.Join(t.TempDir(), "b"), phrase, "phone")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	da, err := Start(ctx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	cfg := fastConfig()
	cfg.Peers = []string{addrOf(da)}
	db, err := Start(ctx, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(e *vault.Engine) int { r, _ := e.MemberRecords(ctx); return len(r) }
	eventually(t, "both devices holding the whole log", func() bool { return count(a) == 102 && count(b) == 102 })
}
