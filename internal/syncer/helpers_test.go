package syncer_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"mycel/internal/admit"
	"mycel/internal/change"
	"mycel/internal/node"
	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/store"
	"mycel/internal/syncer"
	"mycel/internal/vault"
)

// The services under test run on node vaults (no keys: they store
// envelopes), over net.Pipe, with a fake clock: no network, no sleeping.

// fixture is one vault: a device that writes its changes, and what nodes
// need to store them.
type fixture struct {
	t       *testing.T
	e       *vault.Engine
	records [][]byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	e, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "device"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	recs, err := e.MemberRecords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, e: e, records: recs}
}

// object makes an object of n changes in a line (root first), signed by
// the fixture's device; node vaults verify only the envelope, so the
// payload is sealed with a made-up key.
func (f *fixture) object(n int) []admit.Incoming {
	f.t.Helper()
	key := f.e.HostKey()
	root, err := change.NewRoot(f.e.VaultID(), key, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	out := []admit.Incoming{{ID: root.ID, Raw: root.Raw}}
	parent := root.ID
	for i := 1; i < n; i++ {
		c, err := change.New(change.Draft{Object: root.ID, Parents: []change.ID{parent}, Lamport: uint64(i), Time: time.Now(),
			Payload: &change.Payload{}}, [32]byte{1}, key)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, admit.Incoming{ID: c.ID, Raw: c.Raw})
		parent = c.ID
	}
	return out
}

// vault opens an empty node vault of the fixture's vault.
func (f *fixture) vault() *node.Vault {
	f.t.Helper()
	n, err := node.Open(f.t.TempDir())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { n.Close() })
	v, err := n.Register(context.Background(), f.e.VaultID(), f.e.DeviceKey(), f.records)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

// holding is a node vault holding the given changes.
func (f *fixture) holding(cs ...[]admit.Incoming) *node.Vault {
	f.t.Helper()
	v := f.vault()
	for _, c := range cs {
		if _, errs, err := v.ReceiveBatch(context.Background(), c); err != nil || errs[len(errs)-1] != nil {
			f.t.Fatalf("store the fixture: %v %v", err, errs)
		}
	}
	return v
}

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// config is a service's configuration for these tests: a fake clock and a
// 1 s tick.
func config(clock syncer.Clock) syncer.Config {
	return syncer.Config{Sync: objsync.DefaultConfig, Tick: time.Second, Log: quiet(), Clock: clock}
}

// start runs a service over a node vault, with receive (nil: the vault's
// own) as its Receiver; it is closed at the end of the test.
func start(t *testing.T, self objsync.PeerID, v *node.Vault, receive syncer.Receiver, cfg syncer.Config) *syncer.Service {
	t.Helper()
	if receive == nil {
		receive = v.ReceiveBatch
	}
	members := syncer.Members{
		Get: func(context.Context) ([][]byte, error) { return v.MemberRecords(), nil },
		Add: v.AddMembers,
	}
	s := syncer.Start(context.Background(), self, v.Store(), receive, members, cfg)
	t.Cleanup(s.Close)
	return s
}

// pipe is a connection between two sides: a dialed it.
func pipe() (a, b syncer.Conn) {
	x, y := net.Pipe()
	return syncer.NewConn(x, nil, true), syncer.NewConn(y, nil, false)
}

// count is how many changes a vault holds.
func count(t *testing.T, v *node.Vault) int {
	var n int
	if err := v.Store().View(context.Background(), func(tx store.Tx) (err error) {
		n, err = tx.CountChanges()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds, failing after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// closed reports whether a connection's channel from Attach is closed.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// rawPeer plays a peer by hand on one end of a pipe: it writes the frames
// it is given and records every frame the service sends it, in order, in
// a log it may share with other observers.
type rawPeer struct {
	conn syncer.Conn
	log  *eventLog
	name string
	read chan struct{} // closed when its reader ends
}

func newRawPeer(c syncer.Conn, log *eventLog, name string, reads bool) *rawPeer {
	p := &rawPeer{conn: c, log: log, name: name, read: make(chan struct{})}
	if !reads {
		close(p.read)
		return p
	}
	go func() {
		defer close(p.read)
		for {
			f, err := c.ReadFrame()
			if err != nil {
				return
			}
			p.log.add(p.name+" got", f)
		}
	}()
	return p
}

// send writes a message; an error (the service dropped the connection)
// shows in what the test then waits for.
func (p *rawPeer) send(m objsync.Message) {
	if err := p.conn.WriteFrame(syncer.ToWire(m)); err == nil {
		p.conn.Flush()
	}
}

// eventLog is an ordered record of what happened, across goroutines.
type eventLog struct {
	mu     sync.Mutex
	events []event
}

type event struct {
	what  string
	frame *pb.Frame
}

func (l *eventLog) add(what string, f *pb.Frame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, event{what, f})
}

func (l *eventLog) all() []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event(nil), l.events...)
}

// index is the position of the first event that match accepts (-1: none).
func (l *eventLog) index(match func(event) bool) int {
	for i, e := range l.all() {
		if match(e) {
			return i
		}
	}
	return -1
}

// syncMsg is the sync message a frame carries, if any.
func syncMsg(f *pb.Frame) (objsync.Message, bool) {
	if f == nil || f.GetSync() == nil {
		return objsync.Message{}, false
	}
	m, err := syncer.FromWire(f.GetSync())
	return m, err == nil
}

// names reports whether a message says its sender holds head.
func names(m objsync.Message, obj, head change.ID) bool {
	if m.Object != obj || m.Kind == objsync.Recon {
		return false
	}
	for _, h := range m.Heads {
		if h == head {
			return true
		}
	}
	return false
}

// changesMsg is a Changes message carrying cs (of object obj), whose
// sender holds held changes of it.
func changesMsg(obj change.ID, cs []admit.Incoming, held int) objsync.Message {
	m := objsync.Message{Kind: objsync.Changes, Object: obj, Heads: []objsync.ID{cs[len(cs)-1].ID}, Held: held}
	for _, c := range cs {
		m.Changes = append(m.Changes, objsync.Change{ID: c.ID, Raw: c.Raw})
	}
	return m
}

// syncerGoroutines lists the goroutines running code of package syncer
// (test code excepted).
// A goroutine that has called wg.Done may not have returned yet when
// Close does (it is between its last deferred call and its exit), so the
// stacks are read until none of the service's is left or a second has
// passed: anything still there then is really running.
func syncerGoroutines() []string {
	deadline := time.Now().Add(time.Second)
	for {
		gs := syncerStacks()
		if len(gs) == 0 || time.Now().After(deadline) {
			return gs
		}
		runtime.Gosched()
	}
}

func syncerStacks() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "mycel/internal/syncer.") {
			out = append(out, g)
		}
	}
	return out
}
