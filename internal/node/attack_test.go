package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/p2p"
	"mycel/internal/pb"
)

// account is a vault of the test's making: its keys and a device of it.
type account struct {
	v      *keys.Vault
	device ed25519.PrivateKey
	recs   [][]byte
}

func newAccount(t testing.TB) *account {
	t.Helper()
	seed := make([]byte, 64)
	rand.Read(seed)
	v, err := keys.DeriveVault(seed)
	if err != nil {
		t.Fatal(err)
	}
	_, dev, _ := ed25519.GenerateKey(nil)
	a := &account{v: v, device: dev}
	a.recs = [][]byte{a.record(t, dev.Public().(ed25519.PublicKey), time.Now())}
	return a
}

// record is a valid record adding device, at.
func (a *account) record(t testing.TB, device ed25519.PublicKey, at time.Time) []byte {
	t.Helper()
	r, err := member.NewRecord(a.v, member.Add, device, "d", at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// records are n more valid records (other devices added).
func (a *account) records(t testing.TB, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		pub, _, _ := ed25519.GenerateKey(nil)
		out[i] = a.record(t, pub, time.UnixMilli(int64(i)))
	}
	return out
}

func (a *account) pub() ed25519.PublicKey { return a.device.Public().(ed25519.PublicKey) }

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func serveWith(t *testing.T, ctx context.Context, opts Options) (string, *Node, *Server) {
	t.Helper()
	n, err := OpenWith(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	_, key, _ := ed25519.GenerateKey(nil)
	h, err := newLoopbackHost(key)
	if err != nil {
		t.Fatal(err)
	}
	srv := Serve(ctx, h, n, DefaultServiceConfig(quietLog()))
	t.Cleanup(func() { srv.Close(); h.Close() })
	return h.Addrs()[0].String() + "/p2p/" + h.ID().String(), n, srv
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling, with a deadline
	}
}

// A vault with no connection is closed after IdleAfter (its store and its
// service), and opened again by the next connection; opening a node opens
// no vault's store.
func TestIdleVaultsCloseAndReopen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, n, srv := serveWith(t, ctx, Options{IdleAfter: 50 * time.Millisecond})
	a := newAccount(t)
	hello := &pb.Hello{VaultId: a.v.ID[:], MemberRecords: a.recs, Register: true}
	if err := dial(t, ctx, a.device, addr, hello); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the idle vault closed", func() bool { return n.OpenVaults() == 0 && srv.Served() == 0 })
	hello.Register = false
	for i := 0; i < 3; i++ { // again and again: reopened each time
		if err := dial(t, ctx, a.device, addr, hello); err != nil {
			t.Fatalf("connection %d after the vault closed: %v", i, err)
		}
	}
	eventually(t, "the idle vault closed again", func() bool { return n.OpenVaults() == 0 && srv.Served() == 0 })

	// A node folder of many vaults opens none of them.
	dir := t.TempDir()
	m, err := OpenWith(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		b := newAccount(t)
		if _, err := m.Register(ctx, b.v.ID, b.pub(), b.recs); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	m, err = OpenWith(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Vaults() != 20 || m.OpenVaults() != 0 {
		t.Fatalf("reopened: %d vaults, %d open; want 20, none open", m.Vaults(), m.OpenVaults())
	}
}

// Connections arriving while a vault closes for idleness are served: by
// the closing service's successor, never by two services at once.
func TestConnectionsRaceTheIdleClose(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, n, _ := serveWith(t, ctx, Options{IdleAfter: time.Millisecond})
	a := newAccount(t)
	if err := dial(t, ctx, a.device, addr, &pb.Hello{VaultId: a.v.ID[:], MemberRecords: a.recs, Register: true}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if err := dial(t, ctx, a.device, addr, &pb.Hello{VaultId: a.v.ID[:], MemberRecords: a.recs}); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	eventually(t, "the vault closed", func() bool { return n.OpenVaults() == 0 })
}

// Registration follows the node's policy and limits, each refusal saying
// why and what to do.
func TestRegistrationPolicyAndLimits(t *testing.T) {
	ctx := context.Background()
	reg := func(n *Node, peer string, invite string) error {
		a := newAccount(t)
		v, err := n.register(ctx, peer, a.v.ID, a.pub(), a.recs, invite)
		if err == nil {
			n.release(v)
		}
		return err
	}
	open := func(o Options) *Node {
		n, err := OpenWith(t.TempDir(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	wantErr := func(err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want an error saying %q", err, want)
		}
	}
	wantErr(reg(open(Options{Registration: RegistrationClosed}), "p", ""), "this node accepts no new vaults: registration is closed")

	token := "0123456789abcdef0123"
	inv := open(Options{Registration: RegistrationInvite, Invite: token})
	wantErr(reg(inv, "p", ""), "by invitation only")
	wantErr(reg(inv, "p", "wrong-token-wrong-token"), "the invite token is not this node's")
	if err := reg(inv, "p", token); err != nil {
		t.Fatal(err)
	}

	capped := open(Options{MaxVaults: 2})
	reg(capped, "a", "")
	reg(capped, "b", "")
	wantErr(reg(capped, "c", ""), "limit of 2 vaults is reached")
	if capped.Vaults() != 2 {
		t.Fatalf("%d vaults, want 2", capped.Vaults())
	}

	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	rated := open(Options{Now: clock, PerDevice: Rate{Burst: 2, Every: time.Minute}, PerNode: Rate{Burst: 3, Every: time.Hour}})
	reg(rated, "a", "")
	reg(rated, "a", "")
	wantErr(reg(rated, "a", ""), "this device registered 2 new vaults with this node already: try again in 1m")
	now = now.Add(time.Minute)
	if err := reg(rated, "a", ""); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
	wantErr(reg(rated, "b", ""), "this node registers at most 3 new vaults at once")
	// A registration again of a vault the node holds costs nothing.
	b := newAccount(t)
	if _, err := rated.Register(ctx, b.v.ID, b.pub(), b.recs); err != nil {
		t.Fatal(err)
	}
	if _, err := rated.register(ctx, "b", b.v.ID, b.pub(), b.recs, ""); err != nil {
		t.Fatalf("registering a vault held already: %v", err)
	}
}

// A stranger gets the same answer, in the same time class, for a vault
// the node holds and one it does not, registering or not, with the
// vault's own records or records of its own making.
func TestStrangerCannotTellWhetherAVaultIsHere(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, _ := serveWith(t, ctx, Options{})
	here, absent := newAccount(t), newAccount(t)
	if err := dial(t, ctx, here.device, addr, &pb.Hello{VaultId: here.v.ID[:], MemberRecords: here.recs, Register: true}); err != nil {
		t.Fatal(err)
	}
	stranger := newAccount(t)
	var answers []string
	for _, a := range []*account{here, absent} {
		for _, recs := range [][][]byte{a.recs, stranger.recs, nil} {
			for _, register := range []bool{false, true} {
				err := dial(t, ctx, stranger.device, addr, &pb.Hello{VaultId: a.v.ID[:], MemberRecords: recs, Register: register})
				if err == nil {
					t.Fatal("a stranger was admitted")
				}
				var refused *p2p.RefusedError
				if !errors.As(err, &refused) {
					t.Fatalf("not a refusal: %v", err)
				}
				answers = append(answers, refused.Reason)
			}
		}
	}
	for i, a := range answers {
		if a != answers[0] || a != ErrNotServed.Error() {
			t.Fatalf("answer %d to a stranger is %q, answer 0 %q: a stranger can tell them apart", i, a, answers[0])
		}
	}
	// The member of a vault not here is told so (it proved it is a member).
	err := dial(t, ctx, absent.device, addr, &pb.Hello{VaultId: absent.v.ID[:], MemberRecords: absent.recs})
	if err == nil || !strings.Contains(err.Error(), ErrNotRegistered.Error()) {
		t.Fatalf("member of an unregistered vault: %v", err)
	}
}

// A Hello of 60,000 valid records is refused before any is verified; a
// vault's log is bounded; records a vault holds already are not verified
// again, nor is a bad record refused before.
func TestMembershipRecordsBoundedAndVerifiedOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, n, _ := serveWith(t, ctx, Options{})
	a := newAccount(t)
	if err := dial(t, ctx, a.device, addr, &pb.Hello{VaultId: a.v.ID[:], MemberRecords: a.recs, Register: true}); err != nil {
		t.Fatal(err)
	}
	extra := 60_000
	if testing.Short() || raceEnabled {
		extra = 5_000 // signing 60,000 is slow under the race detector
	}
	many := append(append([][]byte{}, a.recs...), a.records(t, extra)...)
	v, err := n.acquire(a.v.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer n.release(v)
	// A Hello carries the device's own record (p2p.Dial); the whole log
	// comes in a Members frame, which the node adds like this.
	start := time.Now()
	err = v.AddMembers(ctx, many)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d membership records, over this node's limit of 4096", extra+1)) {
		t.Fatalf("a log of 60,001 records: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second && !testing.Short() && !raceEnabled {
		t.Fatalf("refusing 60,001 records took %v", d)
	}
	// Over the wire: the handshake holds, the log is refused, the vault
	// keeps the log it had.
	if err := dial(t, ctx, a.device, addr, &pb.Hello{VaultId: a.v.ID[:], MemberRecords: many}); err != nil {
		t.Fatal(err)
	}
	if got := len(v.MemberRecords()); got != len(a.recs) {
		t.Fatalf("the vault holds %d records", got)
	}

	// A bad record, refused once, is refused again by its hash.
	b := newAccount(t)
	bad := append([][]byte{}, b.recs...) // another vault's record
	if err := v.AddMembers(ctx, bad); err == nil {
		t.Fatal("another vault's record accepted")
	}
	if _, ok := v.bad[sha(bad[0])]; !ok {
		t.Fatal("the bad record is not remembered")
	}
	full := append(append([][]byte{}, a.recs...), many[1:MaxRecords]...)
	start = time.Now()
	if err := v.AddMembers(ctx, full); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	start = time.Now()
	for i := 0; i < 10; i++ {
		if err := v.AddMembers(ctx, full); err != nil {
			t.Fatal(err)
		}
	}
	replay := time.Since(start) / 10
	t.Logf("%d records: first %v, each replay %v", len(full), first, replay)
	if replay*10 > first {
		t.Fatalf("a replay of known records took %v, the first verification %v: not cached", replay, first)
	}
	if err := v.AddMembers(ctx, many[MaxRecords:MaxRecords+1]); err == nil || !strings.Contains(err.Error(), "limit of 4096") {
		t.Fatalf("a record past the limit: %v", err)
	}
}

// A long list of records with a bad one at its end keeps those before
// it, so a replay verifies nothing again.
func TestRecordsBeforeABadOneAreKept(t *testing.T) {
	ctx := context.Background()
	n, err := OpenWith(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a := newAccount(t)
	v, err := n.Register(ctx, a.v.ID, a.pub(), a.recs)
	if err != nil {
		t.Fatal(err)
	}
	recs := append(a.records(t, 10), newAccount(t).recs[0])
	if err := v.AddMembers(ctx, recs); err == nil {
		t.Fatal("a bad record accepted")
	}
	if got := len(v.MemberRecords()); got != 11 {
		t.Fatalf("%d records kept, want 11", got)
	}
}
