package p2p

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/files"
	"mycel/internal/keys"
	"mycel/internal/pb"
	"mycel/internal/syncer"
)

// memChunks is a backend in memory; put, when set, is waited on before a
// Put returns (its "fsync").
type memChunks struct {
	mu     sync.Mutex
	chunks map[files.Address][]byte
	refs   []files.Address // sorted: what Missing pages through
	put    chan struct{}
	refuse error
}

func newMemChunks() *memChunks { return &memChunks{chunks: map[files.Address][]byte{}} }

func (m *memChunks) Has(_ context.Context, as []files.Address) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]bool, len(as))
	for i, a := range as {
		_, out[i] = m.chunks[a]
	}
	return out, nil
}

func (m *memChunks) Put(_ context.Context, a files.Address, sealed []byte) error {
	if m.refuse != nil {
		return m.refuse
	}
	if m.put != nil {
		<-m.put
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chunks[a] = bytes.Clone(sealed)
	return nil
}

func (m *memChunks) Get(_ context.Context, a files.Address) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.chunks[a]
	if !ok {
		return nil, ErrChunkNotFound
	}
	return b, nil
}

func (m *memChunks) Missing(_ context.Context, after files.Address) ([]files.Address, files.Address, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []files.Address
	for _, a := range m.refs {
		if _, ok := m.chunks[a]; !ok && bytes.Compare(a[:], after[:]) > 0 {
			if len(out) == 2 { // small pages, to test paging
				return out, out[1], true, nil
			}
			out = append(out, a)
		}
	}
	return out, files.Address{}, false, nil
}

func (m *memChunks) Usage() Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n uint64
	for _, b := range m.chunks {
		n += uint64(len(b))
	}
	return Usage{Used: n, Quota: 1 << 30}
}

func sealed(seed byte, n int) ([]byte, files.Address) {
	b := bytes.Repeat([]byte{seed}, n)
	return b, files.AddressOf(b)
}

// servePipe serves b on one end of a pipe and returns a client on the
// other, and the server's result.
func servePipe(t *testing.T, b ChunkBackend, lim ChunkLimits) (*ChunkClient, net.Conn, chan error) {
	t.Helper()
	c, s := net.Pipe()
	done, finished := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(finished)
		done <- ServeChunks(context.Background(), s, nil, b, lim)
		s.Close()
	}()
	t.Cleanup(func() { c.Close(); <-finished })
	return NewChunkClient(c, nil), c, done
}

func TestChunkRoundTrips(t *testing.T) {
	ctx := context.Background()
	b := newMemChunks()
	cl, _, _ := servePipe(t, b, ChunkLimits{})
	one, a1 := sealed(1, 1000)
	two, a2 := sealed(2, files.MaxSealed)
	_, a3 := sealed(3, 10)
	if _, err := cl.Put(ctx, a1, one); err != nil {
		t.Fatal(err)
	}
	u, err := cl.Put(ctx, a2, two)
	if err != nil || u.Used != uint64(len(one)+len(two)) || u.Quota != 1<<30 {
		t.Fatalf("put the largest chunk: %+v, %v", u, err)
	}
	have, _, err := cl.Has(ctx, []files.Address{a1, a3, a2})
	if err != nil || !slices.Equal(have, []bool{true, false, true}) {
		t.Fatalf("has = %v, %v", have, err)
	}
	got, err := cl.Get(ctx, a2)
	if err != nil || !bytes.Equal(got, two) {
		t.Fatalf("get: %d bytes, %v", len(got), err)
	}
	if _, err := cl.Get(ctx, a3); !errors.Is(err, ErrChunkNotFound) {
		t.Fatalf("get of a chunk not there: %v", err)
	}
	// A chunk whose bytes are not its address is refused, and not stored.
	_, err = cl.Put(ctx, a3, one)
	var r *ChunkRefusal
	if !errors.As(err, &r) || r.Code != pb.ChunkReply_BAD_ADDRESS || r.Reason != "chunk "+a3.Short()+": its bytes hash to another address" {
		t.Fatalf("bad address: %v", err)
	}
	if have, _, _ := cl.Has(ctx, []files.Address{a3}); have[0] {
		t.Fatal("a chunk with a bad address was stored")
	}
	// Missing pages through what is referenced and not held.
	var refs []files.Address
	for i := range 5 {
		_, a := sealed(byte(10+i), 5)
		refs = append(refs, a)
	}
	refs = append(refs, a1)
	slices.SortFunc(refs, func(x, y files.Address) int { return bytes.Compare(x[:], y[:]) })
	b.mu.Lock()
	b.refs = refs
	b.mu.Unlock()
	var missing []files.Address
	var after files.Address
	for {
		page, next, more, err := cl.Missing(ctx, after)
		if err != nil {
			t.Fatal(err)
		}
		missing = append(missing, page...)
		if !more {
			break
		}
		after = next
	}
	if len(missing) != 5 || slices.Contains(missing, a1) {
		t.Fatalf("missing = %d chunks", len(missing))
	}
	// A refusal comes back whole.
	b.refuse = &ChunkRefusal{Code: pb.ChunkReply_QUOTA, Reason: "the backup node's limit for this vault is reached: 9.9 of 10 GiB"}
	_, err = cl.Put(ctx, a3, bytes.Repeat([]byte{3}, 10))
	if !errors.As(err, &r) || r.Code != pb.ChunkReply_QUOTA || r.Reason != "the backup node's limit for this vault is reached: 9.9 of 10 GiB" {
		t.Fatalf("quota refusal: %v", err)
	}
	// Too many addresses at once is the client's error, before sending.
	if _, _, err := cl.Has(ctx, make([]files.Address, MaxChunkBatch+1)); err == nil {
		t.Fatal("a Has of too many addresses was sent")
	}
}

// OK means durable: no reply leaves before the backend's Put returns.
func TestChunkPutRepliesOnceDurable(t *testing.T) {
	b := newMemChunks()
	b.put = make(chan struct{})
	cl, _, _ := servePipe(t, b, ChunkLimits{})
	one, a1 := sealed(1, 100)
	done := make(chan error, 1)
	go func() { _, err := cl.Put(context.Background(), a1, one); done <- err }()
	// The server is inside Put (blocked on b.put), so the reply cannot be
	// out: the client is still waiting. Releasing it lets the reply go.
	select {
	case err := <-done:
		t.Fatalf("put answered before it was durable: %v", err)
	case b.put <- struct{}{}:
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A frame announced over the limit ends the stream before its bytes are
// read or anything reserved.
func TestChunkFrameOverTheLimit(t *testing.T) {
	reserved := 0
	lim := ChunkLimits{Reserve: func(n int) (func(), error) { reserved += n; return func() {}, nil }}
	var in bytes.Buffer
	in.Write(binary.AppendUvarint(nil, MaxChunkFrame+1))
	in.Write(make([]byte, 5))
	err := ServeChunks(context.Background(), struct {
		io.Reader
		io.Writer
	}{&in, io.Discard}, nil, newMemChunks(), lim)
	big := (*syncer.FrameTooLargeError)(nil)
	if !errors.As(err, &big) || reserved != 0 {
		t.Fatalf("a frame over the limit: %v (reserved %d)", err, reserved)
	}
}

// A member that announces a frame and sends it slowly loses the stream
// (and its reservation) at the deadline.
func TestChunkTrickledBodyTimesOut(t *testing.T) {
	released := make(chan int, 1)
	lim := ChunkLimits{BodyTimeout: 50 * time.Millisecond, MinBodyRate: 1 << 30,
		Reserve: func(n int) (func(), error) { return func() { released <- n }, nil }}
	_, c, done := servePipe(t, newMemChunks(), lim)
	go func() {
		c.Write(binary.AppendUvarint(nil, 1<<20))
		c.Write(make([]byte, 5))
	}()
	err := <-done
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a trickled frame: %v", err)
	}
	if n := <-released; n != 1<<20 {
		t.Fatalf("released %d bytes", n)
	}
}

// A reservation refused (the node's memory for frames is taken) ends the
// stream without reading the frame.
func TestChunkReservationRefused(t *testing.T) {
	lim := ChunkLimits{Reserve: func(int) (func(), error) { return nil, errors.New("no memory for chunk frames now") }}
	cl, _, done := servePipe(t, newMemChunks(), lim)
	one, a1 := sealed(1, 100)
	if _, err := cl.Put(context.Background(), a1, one); err == nil {
		t.Fatal("put went through a refused reservation")
	}
	if err := <-done; err == nil || !bytes.Contains([]byte(err.Error()), []byte("no memory")) {
		t.Fatalf("server: %v", err)
	}
}

// Over its request rate a stream is read more slowly, not cut off.
func TestChunkRequestRate(t *testing.T) {
	cl, _, _ := servePipe(t, newMemChunks(), ChunkLimits{Requests: 50, Burst: 1})
	start := time.Now()
	for range 6 {
		if _, _, err := cl.Has(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	// 6 requests at 50 a second with a burst of 1: the last ≥ 100 ms in.
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("6 requests in %v at 50/s", d)
	}
}

// A frame that is not a chunk request ends the stream.
func TestChunkStreamTakesOnlyRequests(t *testing.T) {
	_, c, done := servePipe(t, newMemChunks(), ChunkLimits{})
	go syncer.WriteFrame(c, &pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}})
	if err := <-done; err == nil {
		t.Fatal("a ping on a chunk stream was taken")
	}
}

// FuzzChunkFrame feeds any bytes to a chunk server as a member's
// requests: nothing panics, nothing is stored that its bytes do not name.
func FuzzChunkFrame(f *testing.F) {
	frame := func(fr *pb.Frame) []byte {
		var b bytes.Buffer
		syncer.WriteFrame(&b, fr)
		return b.Bytes()
	}
	one, a1 := sealed(1, 100)
	for _, r := range []*pb.ChunkRequest{
		{Id: 1, Op: &pb.ChunkRequest_Has{Has: &pb.ChunkHas{Addresses: [][]byte{a1[:], {1}}}}},
		{Id: 2, Op: &pb.ChunkRequest_Put{Put: &pb.ChunkPut{Address: a1[:], Sealed: one}}},
		{Id: 3, Op: &pb.ChunkRequest_Put{Put: &pb.ChunkPut{Address: a1[:], Sealed: []byte("other")}}},
		{Id: 4, Op: &pb.ChunkRequest_Get{Get: &pb.ChunkGet{Address: a1[:]}}},
		{Id: 5, Op: &pb.ChunkRequest_Missing{Missing: &pb.ChunkMissing{After: []byte{1, 2}}}},
		{Id: 6},
	} {
		f.Add(frame(&pb.Frame{Body: &pb.Frame_ChunkRequest{ChunkRequest: r}}))
	}
	f.Add(binary.AppendUvarint(nil, MaxChunkFrame+1))
	f.Fuzz(func(t *testing.T, in []byte) {
		b := newMemChunks()
		var out bytes.Buffer
		ServeChunks(context.Background(), struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(in), &out}, nil, b, ChunkLimits{})
		for a, c := range b.chunks {
			if files.AddressOf(c) != a {
				t.Fatalf("stored a chunk under another address")
			}
		}
		r := bufio.NewReader(&out)
		for {
			f, err := syncer.ReadFrameLimit(r, MaxChunkFrame)
			if err != nil {
				break
			}
			if f.GetChunkReply() == nil {
				t.Fatal("a server wrote something other than a reply")
			}
		}
	})
}

// On loopback hosts: a node answers a member's chunk stream and refuses a
// stranger's with its reason, the same hello either way.
func TestChunkStreamOnHosts(t *testing.T) {
	ctx := context.Background()
	nodeKey, devKey, strangerKey := deviceKey(t), deviceKey(t), deviceKey(t)
	node, err := NewHost(nodeKey, []string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	var vault keys.VaultID
	vault[0] = 7
	b := newMemChunks()
	member := devKey.Public().(ed25519.PublicKey)
	served := make(chan error, 4)
	node.SetStreamHandler(ChunkProtocolID, func(s network.Stream) {
		served <- AcceptChunks(ctx, s, func(v keys.VaultID, key ed25519.PublicKey, _ [][]byte) (ChunkBackend, func(), error) {
			if v != vault || !key.Equal(member) {
				return nil, nil, errors.New("this node does not serve that vault for you")
			}
			return b, func() {}, nil
		}, ChunkLimits{})
	})
	dial := func(key ed25519.PrivateKey) (*ChunkClient, error) {
		h, err := NewHost(key, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		if err := h.Connect(ctx, peer.AddrInfo{ID: node.ID(), Addrs: node.Addrs()}); err != nil {
			t.Fatal(err)
		}
		return DialNodeChunks(ctx, h, node.ID(), vault, nil)
	}
	cl, err := dial(devKey)
	if err != nil {
		t.Fatal(err)
	}
	one, a1 := sealed(1, 3<<20)
	if _, err := cl.Put(ctx, a1, one); err != nil {
		t.Fatal(err)
	}
	if got, err := cl.Get(ctx, a1); err != nil || !bytes.Equal(got, one) {
		t.Fatalf("get over libp2p: %d bytes, %v", len(got), err)
	}
	cl.Close()
	_, err = dial(strangerKey)
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Reason != "this node does not serve that vault for you" {
		t.Fatalf("a stranger's chunk stream: %v", err)
	}
}

// A Get's reply is held in memory until it is written: it takes its
// share of the node-wide budget (twice its size: the chunk and its
// encoding) for as long as that, and a reader who never reads it does not
// hold it past the write deadline.
func TestChunkGetReplyIsBudgeted(t *testing.T) {
	b := newMemChunks()
	big, a := sealed(7, files.MaxSealed)
	b.chunks[a] = big
	var mu sync.Mutex
	held, most := 0, 0
	lim := ChunkLimits{Reserve: func(n int) (func(), error) {
		mu.Lock()
		defer mu.Unlock()
		held += n
		most = max(most, held)
		return func() { mu.Lock(); held -= n; mu.Unlock() }, nil
	}}
	cl, _, _ := servePipe(t, b, lim)
	got, err := cl.Get(context.Background(), a)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("get: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if most < 2*len(big) {
		t.Fatalf("a Get of %d bytes reserved at most %d", len(big), most)
	}
}

// orderedChunks holds each Put until told which to finish: it proves the
// server answers several requests of one stream at once.
type orderedChunks struct {
	*memChunks
	entered chan files.Address
	finish  map[files.Address]chan struct{}
}

func (o *orderedChunks) Put(ctx context.Context, a files.Address, sealed []byte) error {
	o.entered <- a
	<-o.finish[a]
	return o.memChunks.Put(ctx, a, sealed)
}

// Requests are pipelined: a client sends several before the first is
// answered, the server works on them at once (the second Put's sync does
// not wait for the first's), and each reply reaches its own request, in
// the order sent, even when the later one finishes first.
func TestChunkRequestsPipelined(t *testing.T) {
	one, a1 := sealed(1, 300)
	two, a2 := sealed(2, 200)
	b := &orderedChunks{memChunks: newMemChunks(), entered: make(chan files.Address, 2),
		finish: map[files.Address]chan struct{}{a1: make(chan struct{}), a2: make(chan struct{})}}
	cl, _, _ := servePipe(t, b, ChunkLimits{})
	ctx := context.Background()
	p1 := cl.SendPut(ctx, a1, one)
	p2 := cl.SendPut(ctx, a2, two)
	got := map[files.Address]bool{}
	for range 2 {
		select {
		case a := <-b.entered:
			got[a] = true
		case <-time.After(10 * time.Second): // a deadline, not a wait: it fails
			t.Fatalf("the server answers one request at a time: %d of 2 in the backend", len(got))
		}
	}
	if !got[a1] || !got[a2] {
		t.Fatalf("both puts should be in the backend at once: %v", got)
	}
	close(b.finish[a2]) // the later one finishes first
	close(b.finish[a1])
	if _, err := p1.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	g1, g2 := cl.SendGet(ctx, a1), cl.SendGet(ctx, a2)
	if b, err := g2.Wait(ctx); err != nil || !bytes.Equal(b, two) {
		t.Fatalf("second get: %d bytes, %v", len(b), err)
	}
	if b, err := g1.Wait(ctx); err != nil || !bytes.Equal(b, one) {
		t.Fatalf("first get: %d bytes, %v", len(b), err)
	}
}

// A stream that breaks fails every request in flight on it, and the
// client says so (a lane dials again).
func TestChunkBrokenStreamFailsAllInFlight(t *testing.T) {
	one, a1 := sealed(1, 300)
	two, a2 := sealed(2, 200)
	b := &orderedChunks{memChunks: newMemChunks(), entered: make(chan files.Address, 2),
		finish: map[files.Address]chan struct{}{a1: make(chan struct{}), a2: make(chan struct{})}}
	cl, conn, _ := servePipe(t, b, ChunkLimits{})
	ctx := context.Background()
	p1, p2 := cl.SendPut(ctx, a1, one), cl.SendPut(ctx, a2, two)
	<-b.entered
	<-b.entered
	conn.Close()
	for i, p := range []PutCall{p1, p2} {
		if _, err := p.Wait(ctx); err == nil {
			t.Fatalf("put %d answered on a closed stream", i+1)
		}
	}
	if cl.Err() == nil {
		t.Fatal("the client does not know its stream broke")
	}
	close(b.finish[a1])
	close(b.finish[a2])
}
