package device

import (
	"context"

	"mycel/internal/p2p"
)

// How much a lane keeps in flight. A lane that waited for each chunk's
// answer before sending the next idled a round trip and the node's sync
// of every chunk: 55 MB/s up over loopback where the limits allow 600.
// With several requests in flight, the next chunk crosses while the node
// syncs the last. The bounds keep memory small: a lane holds at most
// laneBytes of sealed chunks (at least one chunk), and at most laneReqs
// requests, whatever the files' sizes.
const (
	laneBytes = 8 << 20
	laneReqs  = 8
)

// lanePipe keeps requests in flight on one lane of a link, answered in
// the order sent; each carries what it is for (T), handed back by pop. It
// is used by one goroutine; others may share the lane's stream meanwhile
// (the client orders their requests too).
type lanePipe[T any] struct {
	m    *fileMover
	l    *nodeLink
	lane int

	c     *p2p.ChunkClient
	q     []*laneReq[T]
	bytes int
	// redialed: a stream that broke is dialed again once a pipe, and the
	// requests unanswered sent again (every request is idempotent).
	redialed bool
}

// laneReq is one request: send sends it on a stream and returns how to
// wait for its answer; size is what it holds in memory; what is the
// caller's own record of it.
type laneReq[T any] struct {
	what T
	size int
	send func(context.Context, *p2p.ChunkClient) func(context.Context) error
	wait func(context.Context) error
}

func newPipe[T any](m *fileMover, l *nodeLink, lane int) *lanePipe[T] {
	return &lanePipe[T]{m: m, l: l, lane: lane}
}

// full says the next push must wait for an answer first.
func (p *lanePipe[T]) full() bool {
	return len(p.q) > 0 && (len(p.q) >= laneReqs || p.bytes >= laneBytes)
}

// push sends r; the caller pops first while the pipe is full.
func (p *lanePipe[T]) push(ctx context.Context, r *laneReq[T]) error {
	if p.c == nil || p.c.Err() != nil {
		c, err := p.m.client(ctx, p.l, p.lane)
		if err != nil {
			return err
		}
		p.c = c
	}
	r.wait = r.send(ctx, p.c)
	p.q = append(p.q, r)
	p.bytes += r.size
	return nil
}

// pop waits for the oldest request's answer and takes it off the pipe.
func (p *lanePipe[T]) pop(ctx context.Context) (T, error) {
	r := p.q[0]
	err := r.wait(ctx)
	if err != nil && p.c.Err() != nil && ctx.Err() == nil && !p.redialed {
		// The stream broke (libp2p closed a duplicate connection, say),
		// not the request: send what is unanswered on a new one.
		p.redialed = true
		if c, derr := p.m.client(ctx, p.l, p.lane); derr == nil {
			p.c = c
			for _, q := range p.q {
				q.wait = q.send(ctx, c)
			}
			err = r.wait(ctx)
		}
	}
	p.q[0] = nil
	p.q = p.q[1:]
	p.bytes -= r.size
	return r.what, err
}

// busy says requests are in flight.
func (p *lanePipe[T]) busy() bool { return len(p.q) > 0 }
