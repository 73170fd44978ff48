package p2p

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multistream"
	"golang.org/x/time/rate"

	"mycel/internal/files"
	"mycel/internal/keys"
	"mycel/internal/pb"
	"mycel/internal/syncer"
)

// ChunkProtocolID moves sealed file chunks (see ChunkRequest in
// mycel.proto). It is a stream of its own: each stream has its own flow
// control, so a chunk of 8 MiB never holds up the sync stream's heads and
// acknowledgements.
const ChunkProtocolID protocol.ID = "/mycel/chunks/1"

// Bounds of the chunk protocol.
const (
	// MaxChunkFrame is the largest chunk frame: a Put of the largest
	// sealed chunk, with room for its envelope.
	MaxChunkFrame = files.MaxSealed + 4<<10
	// MaxChunkBatch bounds the addresses of a Has and of a Missing page.
	MaxChunkBatch = 4096
)

// Usage is what a node says of a vault's chunks: the sealed bytes it
// holds and its limit (0: none).
type Usage struct{ Used, Quota uint64 }

// ChunkBackend is what serves chunk requests: a node's vault, or a
// device serving its LAN peers. Every method is called for one
// authenticated peer; a backend checks again that it is a member.
type ChunkBackend interface {
	Has(ctx context.Context, as []files.Address) ([]bool, error)
	// Put returns once the chunk is durable; a *ChunkRefusal refuses it
	// with its code and reason. The protocol has checked that sealed
	// hashes to a (a backend need not hash it again).
	Put(ctx context.Context, a files.Address, sealed []byte) error
	// Get returns ErrChunkNotFound for a chunk not held.
	Get(ctx context.Context, a files.Address) ([]byte, error)
	// Missing lists the referenced chunks above after that are not held,
	// at most MaxChunkBatch, and whether there are more from next on (a
	// page may be empty and still have more: the backend bounds its
	// work per request).
	Missing(ctx context.Context, after files.Address) (missing []files.Address, next files.Address, more bool, err error)
	Usage() Usage
}

// ErrChunkNotFound is a chunk the other side does not hold.
var ErrChunkNotFound = errors.New("chunk not held there")

// ChunkRefusal is a request refused, with its whole reason.
type ChunkRefusal struct {
	Code   pb.ChunkReply_Code
	Reason string
}

func (r *ChunkRefusal) Error() string { return r.Reason }

// ChunkLimits bound what one chunk stream may cost a server.
type ChunkLimits struct {
	// Requests per second and their burst (0: unlimited). Over it, the
	// server reads the next request later: an honest client is slowed,
	// not cut off.
	Requests rate.Limit
	Burst    int
	// Bytes per second of request frames and of chunks sent back (0:
	// unlimited).
	Bytes rate.Limit
	// Reserve takes a frame's length from a budget shared by all streams
	// before its bytes are read (nil: none); the frame's bytes are held
	// until its request is answered.
	Reserve func(n int) (release func(), err error)
	// A frame's bytes must arrive within BodyTimeout (default 10 s) or
	// at MinBodyRate bytes a second (default 64 KiB/s), whichever is
	// longer: a member cannot hold a reservation by sending slowly.
	BodyTimeout time.Duration
	MinBodyRate int
}

func (l ChunkLimits) bodyTimeout(n int) time.Duration {
	t, r := l.BodyTimeout, l.MinBodyRate
	if t == 0 {
		t = 10 * time.Second
	}
	if r == 0 {
		r = 64 << 10
	}
	return max(t, time.Duration(n)*time.Second/time.Duration(r))
}

// deadliner is a stream whose reads can be given a deadline (a libp2p
// stream, a net.Conn).
type deadliner interface{ SetReadDeadline(time.Time) error }

// serveParallel is how many requests of one stream are answered at once:
// a client pipelines its requests, and a node's syncs of several chunks
// overlap (four concurrent 1 MiB syncs: 550 MB/s on this disk, one at a
// time: 260).
const serveParallel = 4

// ServeChunks answers chunk requests on rw (read through r, which may
// hold bytes already read) until the stream ends or ctx does. Up to
// serveParallel requests are answered at once, their replies written in
// the order asked. A frame that is not a chunk request, or one over the
// limits, ends it with an error: the caller resets the stream.
func ServeChunks(ctx context.Context, rw io.ReadWriter, r *bufio.Reader, b ChunkBackend, lim ChunkLimits) error {
	if r == nil {
		r = bufio.NewReaderSize(rw, 64<<10)
	}
	w := bufio.NewWriterSize(rw, 64<<10)
	d, _ := rw.(deadliner)
	var reqs, bytes *rate.Limiter
	if lim.Requests > 0 {
		reqs = rate.NewLimiter(lim.Requests, max(lim.Burst, 1))
	}
	if lim.Bytes > 0 {
		// The burst must hold a whole frame; the bucket starts empty, so
		// the rate holds from the first byte.
		burst := max(int(lim.Bytes), MaxChunkFrame)
		bytes = rate.NewLimiter(lim.Bytes, burst)
		bytes.AllowN(time.Now(), burst)
	}
	// Answers in the order asked: the writer takes each slot in turn
	// and waits for its answer. The channel's room bounds the requests
	// being answered.
	type slot struct {
		id   uint64
		rep  *pb.ChunkReply
		done chan struct{}
	}
	slots := make(chan *slot, serveParallel-1)
	var werr error
	written := make(chan struct{})
	go func() {
		defer close(written)
		for s := range slots {
			<-s.done
			if werr != nil {
				continue
			}
			if werr = writeReply(ctx, rw, w, s.rep, s.id, bytes, lim); werr != nil && d != nil {
				d.SetReadDeadline(time.Now()) // the reader stops too
			}
		}
	}()
	err := func() error {
		for {
			var size int
			reserve := func(n int) (func(), error) {
				size = n
				release := func() {}
				if lim.Reserve != nil {
					var err error
					if release, err = lim.Reserve(n); err != nil {
						return nil, err
					}
				}
				if d != nil {
					d.SetReadDeadline(time.Now().Add(lim.bodyTimeout(n)))
				}
				return release, nil
			}
			f, release, err := syncer.ReadFrameDecode(r, MaxChunkFrame, reserve, unmarshalChunkFrame)
			if err != nil {
				release()
				if errors.Is(err, io.EOF) {
					return nil
				}
				return fmt.Errorf("chunk stream: %w", err)
			}
			if d != nil {
				d.SetReadDeadline(time.Time{})
			}
			req := f.GetChunkRequest()
			if req == nil {
				release()
				return errors.New("chunk stream: a frame that is not a chunk request")
			}
			if reqs != nil {
				if err := reqs.Wait(ctx); err != nil {
					release()
					return err
				}
			}
			if bytes != nil {
				if err := bytes.WaitN(ctx, size); err != nil {
					release()
					return err
				}
			}
			s := &slot{id: req.Id, done: make(chan struct{})}
			select {
			case slots <- s:
			case <-ctx.Done():
				release()
				return ctx.Err()
			}
			go func() {
				s.rep = answerChunk(ctx, b, req)
				release()
				close(s.done)
			}()
		}
	}()
	close(slots)
	<-written
	if err == nil || werr != nil {
		return werr
	}
	return err
}

// writeReply sends a reply. A Get's chunk is held in memory (and copied
// once to encode it) until it is written: that comes out of the node-wide
// budget too, and the write has a deadline, so a member who asks for
// chunks and never reads them holds neither memory nor the stream.
func writeReply(ctx context.Context, rw io.ReadWriter, w *bufio.Writer, rep *pb.ChunkReply, id uint64, bytes *rate.Limiter, lim ChunkLimits) error {
	if n := len(rep.Sealed); n > 0 {
		if lim.Reserve != nil {
			release, err := lim.Reserve(2 * n)
			if err != nil {
				return err
			}
			defer release()
		}
		if bytes != nil { // the rate bounds what a Get sends too
			if err := bytes.WaitN(ctx, n); err != nil {
				return err
			}
		}
		if wd, ok := rw.(interface{ SetWriteDeadline(time.Time) error }); ok {
			wd.SetWriteDeadline(time.Now().Add(lim.bodyTimeout(n)))
			defer wd.SetWriteDeadline(time.Time{})
		}
	}
	rep.Id = id
	write := func() error { return syncer.WriteFrame(w, &pb.Frame{Body: &pb.Frame_ChunkReply{ChunkReply: rep}}) }
	if len(rep.Sealed) > 0 {
		write = func() error { return writeReplyFrame(w, rep) }
	}
	if err := write(); err != nil {
		return err
	}
	return w.Flush()
}

func address(b []byte) (files.Address, bool) {
	var a files.Address
	if len(b) != len(a) {
		return a, false
	}
	copy(a[:], b)
	return a, true
}

func refused(err error) *pb.ChunkReply {
	var r *ChunkRefusal
	if errors.As(err, &r) {
		return &pb.ChunkReply{Code: r.Code, Reason: r.Reason}
	}
	if errors.Is(err, ErrChunkNotFound) {
		return &pb.ChunkReply{Code: pb.ChunkReply_NOT_FOUND}
	}
	return &pb.ChunkReply{Code: pb.ChunkReply_REFUSED, Reason: err.Error()}
}

func badRequest(why string) *pb.ChunkReply {
	return &pb.ChunkReply{Code: pb.ChunkReply_REFUSED, Reason: "a malformed chunk request: " + why}
}

// answerChunk is the reply to one request.
func answerChunk(ctx context.Context, b ChunkBackend, req *pb.ChunkRequest) *pb.ChunkReply {
	switch op := req.Op.(type) {
	case *pb.ChunkRequest_Has:
		as := op.Has.Addresses
		if len(as) > MaxChunkBatch {
			return badRequest(fmt.Sprintf("%d addresses, over %d", len(as), MaxChunkBatch))
		}
		addrs := make([]files.Address, len(as))
		for i, raw := range as {
			var ok bool
			if addrs[i], ok = address(raw); !ok {
				return badRequest("an address that is not 32 bytes")
			}
		}
		have, err := b.Has(ctx, addrs)
		if err != nil {
			return refused(err)
		}
		bits := make([]byte, (len(have)+7)/8)
		for i, h := range have {
			if h {
				bits[i/8] |= 1 << (i % 8)
			}
		}
		u := b.Usage()
		return &pb.ChunkReply{Have: bits, Used: u.Used, Quota: u.Quota}
	case *pb.ChunkRequest_Put:
		a, ok := address(op.Put.Address)
		if !ok {
			return badRequest("an address that is not 32 bytes")
		}
		if len(op.Put.Sealed) > files.MaxSealed {
			return badRequest(fmt.Sprintf("a chunk of %d bytes, over %d", len(op.Put.Sealed), files.MaxSealed))
		}
		// The address is checked here too, so no backend stores a chunk
		// its bytes do not name.
		if files.AddressOf(op.Put.Sealed) != a {
			return &pb.ChunkReply{Code: pb.ChunkReply_BAD_ADDRESS, Reason: fmt.Sprintf("chunk %s: its bytes hash to another address", a.Short())}
		}
		rep := &pb.ChunkReply{}
		if err := b.Put(ctx, a, op.Put.Sealed); err != nil {
			rep = refused(err)
		}
		u := b.Usage()
		rep.Used, rep.Quota = u.Used, u.Quota
		return rep
	case *pb.ChunkRequest_Get:
		a, ok := address(op.Get.Address)
		if !ok {
			return badRequest("an address that is not 32 bytes")
		}
		sealed, err := b.Get(ctx, a)
		if err != nil {
			return refused(err)
		}
		return &pb.ChunkReply{Sealed: sealed}
	case *pb.ChunkRequest_Missing:
		var after files.Address
		if len(op.Missing.After) > 0 {
			var ok bool
			if after, ok = address(op.Missing.After); !ok {
				return badRequest("an address that is not 32 bytes")
			}
		}
		as, next, more, err := b.Missing(ctx, after)
		if err != nil {
			return refused(err)
		}
		rep := &pb.ChunkReply{More: more, Next: next[:]}
		for _, a := range as[:min(len(as), MaxChunkBatch)] {
			rep.Missing = append(rep.Missing, a[:])
		}
		return rep
	}
	return badRequest("no operation")
}

// ChunkClient sends chunk requests on one stream. Requests may be
// pipelined: several are sent before the first is answered (Send*), and
// the server answers them in order, so a lane is never idle for a round
// trip and a node's sync of one chunk overlaps the transfer of the next.
// A reader goroutine matches replies to requests, oldest first.
type ChunkClient struct {
	rwc io.ReadWriteCloser
	r   *bufio.Reader

	wmu  sync.Mutex // one request written at a time
	w    *bufio.Writer
	next uint64

	mu      sync.Mutex
	pending []*chunkCall // sent, unanswered, oldest first
	err     error        // once set, the stream is done
	reading bool
}

// chunkCall is a request sent and not yet answered.
type chunkCall struct {
	id   uint64
	done chan struct{} // closed once rep or err is set
	rep  *pb.ChunkReply
	err  error
}

// NewChunkClient makes a client of a stream on which the hello (if any)
// is done; r may hold bytes read past it.
func NewChunkClient(rwc io.ReadWriteCloser, r *bufio.Reader) *ChunkClient {
	if r == nil {
		r = bufio.NewReaderSize(rwc, 64<<10)
	}
	return &ChunkClient{rwc: rwc, r: r, w: bufio.NewWriterSize(rwc, 64<<10)}
}

// Close ends the stream; requests unanswered fail.
func (c *ChunkClient) Close() error {
	c.fail(errors.New("closed"))
	return nil
}

// Err is the error that ended the stream (nil while it works).
func (c *ChunkClient) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail ends the stream once: every request unanswered gets err.
func (c *ChunkClient) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("chunk stream: %w", err)
	}
	pending := c.pending
	c.pending = nil
	err = c.err
	c.mu.Unlock()
	c.rwc.Close()
	for _, call := range pending {
		call.err = err
		close(call.done)
	}
}

// send writes one request. A context that ends while it is written
// closes the stream (half a frame cannot be taken back).
func (c *ChunkClient) send(ctx context.Context, req *pb.ChunkRequest) *chunkCall {
	call := &chunkCall{done: make(chan struct{})}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if c.err != nil {
		call.err = c.err
		c.mu.Unlock()
		close(call.done)
		return call
	}
	c.next++
	call.id, req.Id = c.next, c.next
	c.pending = append(c.pending, call)
	if !c.reading {
		c.reading = true
		go c.readReplies()
	}
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { c.fail(ctx.Err()) })
	defer stop()
	var err error
	if put := req.GetPut(); put != nil && len(put.Sealed) > 0 {
		err = writePutFrame(c.w, req.Id, put)
	} else {
		err = syncer.WriteFrame(c.w, &pb.Frame{Body: &pb.Frame_ChunkRequest{ChunkRequest: req}})
	}
	if err == nil {
		err = c.w.Flush()
	}
	if err != nil {
		c.fail(err)
	}
	return call
}

// readReplies hands each reply to the oldest request unanswered, until
// the stream ends. A reply is read in one piece (no growing buffer): it
// answers a request this client made, to a node or device it chose, and
// a lane holds few at once.
func (c *ChunkClient) readReplies() {
	whole := func(int) (func(), error) { return func() {}, nil }
	for {
		f, _, err := syncer.ReadFrameDecode(c.r, MaxChunkFrame, whole, unmarshalChunkFrame)
		if err != nil {
			c.fail(err)
			return
		}
		rep := f.GetChunkReply()
		c.mu.Lock()
		if rep == nil || len(c.pending) == 0 || c.pending[0].id != rep.Id {
			c.mu.Unlock()
			c.fail(errors.New("a reply that answers no request"))
			return
		}
		call := c.pending[0]
		c.pending = c.pending[1:]
		c.mu.Unlock()
		call.rep = rep
		close(call.done)
	}
}

// wait is the reply to a request sent. A context that ends leaves the
// stream open: the reply, when it comes, is dropped.
func (call *chunkCall) wait(ctx context.Context) (*pb.ChunkReply, error) {
	select {
	case <-call.done:
		return call.rep, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// do sends one request and waits for its reply.
func (c *ChunkClient) do(ctx context.Context, req *pb.ChunkRequest) (*pb.ChunkReply, error) {
	return c.send(ctx, req).wait(ctx)
}

// replyErr is the error a reply's code says.
func replyErr(rep *pb.ChunkReply) error {
	switch rep.Code {
	case pb.ChunkReply_OK:
		return nil
	case pb.ChunkReply_NOT_FOUND:
		return ErrChunkNotFound
	}
	return &ChunkRefusal{Code: rep.Code, Reason: rep.Reason}
}

// Has asks which of as (at most MaxChunkBatch) the other side holds.
func (c *ChunkClient) Has(ctx context.Context, as []files.Address) ([]bool, Usage, error) {
	if len(as) > MaxChunkBatch {
		return nil, Usage{}, fmt.Errorf("has: %d addresses, over %d a request", len(as), MaxChunkBatch)
	}
	req := &pb.ChunkHas{Addresses: make([][]byte, len(as))}
	for i := range as {
		req.Addresses[i] = as[i][:]
	}
	rep, err := c.do(ctx, &pb.ChunkRequest{Op: &pb.ChunkRequest_Has{Has: req}})
	if err != nil {
		return nil, Usage{}, err
	}
	u := Usage{rep.Used, rep.Quota}
	if err := replyErr(rep); err != nil {
		return nil, u, err
	}
	if len(rep.Have) != (len(as)+7)/8 {
		return nil, u, fmt.Errorf("has: a reply of %d bytes for %d addresses", len(rep.Have), len(as))
	}
	have := make([]bool, len(as))
	for i := range have {
		have[i] = rep.Have[i/8]&(1<<(i%8)) != 0
	}
	return have, u, nil
}

// Put stores a sealed chunk; it returns once the other side holds it
// durably, or with a *ChunkRefusal.
func (c *ChunkClient) Put(ctx context.Context, a files.Address, sealed []byte) (Usage, error) {
	return c.SendPut(ctx, a, sealed).Wait(ctx)
}

// PutCall is a Put sent, its answer to come.
type PutCall struct{ call *chunkCall }

// SendPut sends a Put without waiting for its answer: a lane keeps
// several in flight.
func (c *ChunkClient) SendPut(ctx context.Context, a files.Address, sealed []byte) PutCall {
	return PutCall{c.send(ctx, &pb.ChunkRequest{Op: &pb.ChunkRequest_Put{Put: &pb.ChunkPut{Address: a[:], Sealed: sealed}}})}
}

// Wait is the Put's answer: nil once the chunk is durable there.
func (p PutCall) Wait(ctx context.Context) (Usage, error) {
	rep, err := p.call.wait(ctx)
	if err != nil {
		return Usage{}, err
	}
	return Usage{rep.Used, rep.Quota}, replyErr(rep)
}

// Get fetches a sealed chunk, checked against its address: what comes
// back is the chunk asked for, or an error.
func (c *ChunkClient) Get(ctx context.Context, a files.Address) ([]byte, error) {
	return c.SendGet(ctx, a).Wait(ctx)
}

// GetCall is a Get sent, its chunk to come.
type GetCall struct {
	call *chunkCall
	a    files.Address
}

// SendGet asks for a chunk without waiting for it.
func (c *ChunkClient) SendGet(ctx context.Context, a files.Address) GetCall {
	return GetCall{c.send(ctx, &pb.ChunkRequest{Op: &pb.ChunkRequest_Get{Get: &pb.ChunkGet{Address: a[:]}}}), a}
}

// Wait is the chunk, checked against its address.
func (g GetCall) Wait(ctx context.Context) ([]byte, error) {
	rep, err := g.call.wait(ctx)
	if err != nil {
		return nil, err
	}
	if err := replyErr(rep); err != nil {
		return nil, err
	}
	if files.AddressOf(rep.Sealed) != g.a {
		return nil, fmt.Errorf("%w: chunk %s came back with bytes that hash to another address", files.ErrDamaged, g.a.Short())
	}
	return rep.Sealed, nil
}

// Missing lists a page of the chunks the node lacks that the vault's
// changes reference, above after, and where the next page starts.
func (c *ChunkClient) Missing(ctx context.Context, after files.Address) ([]files.Address, files.Address, bool, error) {
	var next files.Address
	rep, err := c.do(ctx, &pb.ChunkRequest{Op: &pb.ChunkRequest_Missing{Missing: &pb.ChunkMissing{After: after[:]}}})
	if err != nil {
		return nil, next, false, err
	}
	if err := replyErr(rep); err != nil {
		return nil, next, false, err
	}
	out := make([]files.Address, 0, len(rep.Missing))
	for _, raw := range append(rep.Missing, rep.Next) {
		a, ok := address(raw)
		if !ok {
			return nil, next, false, errors.New("missing: an address that is not 32 bytes")
		}
		out = append(out, a)
	}
	return out[:len(out)-1], out[len(out)-1], rep.More, nil
}

// DialNodeChunks opens a chunk stream to a node the host is connected to
// (or can reach) for vault v, proving membership with the device's own
// add records picked from records. A refusal is a *RefusedError with the
// node's reason.
func DialNodeChunks(ctx context.Context, h host.Host, node peer.ID, v keys.VaultID, records [][]byte) (*ChunkClient, error) {
	ctx, cancel := context.WithTimeout(ctx, HandshakeTimeout)
	defer cancel()
	s, err := h.NewStream(ctx, node, ChunkProtocolID)
	if errors.Is(err, multistream.ErrNotSupported[protocol.ID]{}) {
		return nil, fmt.Errorf("%w: the node %s does not serve files (%s): upgrade mycel on the node", ErrIncompatible, node, ChunkProtocolID)
	}
	if err != nil {
		return nil, fmt.Errorf("open chunk stream to %s: %w", node, err)
	}
	self, err := PeerKey(h.ID())
	if err != nil {
		s.Reset()
		return nil, err
	}
	s.SetDeadline(time.Now().Add(HandshakeTimeout))
	hello := &pb.ChunkHello{VaultId: v[:], MemberRecords: ownRecords(self, records)}
	if err := syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_ChunkHello{ChunkHello: hello}}); err != nil {
		s.Reset()
		return nil, fmt.Errorf("chunk hello to %s: %w", node, err)
	}
	r := bufio.NewReaderSize(s, 64<<10)
	f, err := syncer.ReadFrameLimit(r, MaxHandshakeFrame)
	if err != nil {
		s.Reset()
		return nil, fmt.Errorf("chunk hello to %s: %w", node, err)
	}
	rep := f.GetHelloReply()
	if rep == nil {
		s.Reset()
		return nil, fmt.Errorf("chunk hello to %s: unexpected reply", node)
	}
	if rep.Error != "" {
		s.Reset()
		return nil, &RefusedError{Addr: node.String(), Reason: rep.Error}
	}
	s.SetDeadline(time.Time{})
	return NewChunkClient(s, r), nil
}

// AcceptChunks answers an incoming chunk stream on a node: its hello must
// come as a stranger's (MaxHandshakeFrame, StrangerTimeout); decide says
// which backend serves that member of that vault, or why not (sent as the
// reason). It serves until the stream ends, then calls done. The stream
// never marks the connection trusted: only a sync handshake does.
func AcceptChunks(ctx context.Context, s network.Stream, decide func(keys.VaultID, ed25519.PublicKey, [][]byte) (ChunkBackend, func(), error), lim ChunkLimits) error {
	r, f, err := firstFrame(s)
	if err != nil {
		s.Reset()
		closeIfIdle(s.Conn(), s)
		return err
	}
	hello := f.GetChunkHello()
	var vault keys.VaultID
	if hello == nil || len(hello.VaultId) != len(vault) {
		s.Reset()
		closeIfIdle(s.Conn(), s)
		return errors.New("chunk stream: no hello")
	}
	copy(vault[:], hello.VaultId)
	key, err := PeerKey(s.Conn().RemotePeer())
	if err != nil {
		s.Reset()
		return err
	}
	b, done, err := decide(vault, key, hello.MemberRecords)
	if err != nil {
		// The connection is left to the gate, which closes it unless a
		// sync handshake completes on it: closed now, the reason would
		// not reach the dialer.
		syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_HelloReply{HelloReply: &pb.HelloReply{Error: err.Error()}}})
		s.Close()
		return err
	}
	defer done()
	if err := syncer.WriteFrame(s, &pb.Frame{Body: &pb.Frame_HelloReply{HelloReply: &pb.HelloReply{}}}); err != nil {
		s.Reset()
		return err
	}
	s.SetDeadline(time.Time{})
	if err := ServeChunks(ctx, s, r, b, lim); err != nil {
		s.Reset()
		return err
	}
	return s.Close()
}
