package syncer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"mycel/internal/objsync"
	"mycel/internal/pb"
)

// Conn is one connection to a peer, after its handshake: what the service
// needs of a transport. A reader goroutine calls ReadFrame and Buffered, a
// writer goroutine WriteFrame and Flush, and Close may come from anywhere.
type Conn interface {
	// ReadFrame reads the next frame, waiting for it.
	ReadFrame() (*pb.Frame, error)
	// Buffered reports whether a whole frame is already buffered, so that
	// ReadFrame would not wait: frames that arrived together are handled
	// together.
	Buffered() bool
	// WriteFrame buffers a frame; Flush sends what is buffered.
	WriteFrame(f *pb.Frame) error
	Flush() error
	// Dialed reports whether this side dialed the connection (it decides
	// which of two simultaneous connections both sides keep).
	Dialed() bool
	// Close ends the connection: a ReadFrame or a write under way returns
	// with an error.
	Close() error
}

// MaxFrame bounds one frame: a batch of changes, or a reconciliation message.
const MaxFrame = 16 << 20

// ReadBuffer sizes a connection's read buffer: large enough to hold many
// frames, so that those that arrived together are handled together.
const ReadBuffer = 256 << 10

// WriteFrame writes one length-delimited frame.
func WriteFrame(w io.Writer, f *pb.Frame) error {
	_, err := protodelim.MarshalTo(w, f)
	return err
}

// ReadFrame reads one length-delimited frame of at most MaxFrame bytes.
func ReadFrame(r *bufio.Reader) (*pb.Frame, error) { return ReadFrameLimit(r, MaxFrame) }

// FrameTooLargeError is a frame whose announced length is over the limit
// of its reader; nothing of it was read past its length.
type FrameTooLargeError struct {
	Size, Limit uint64
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("a frame of %d bytes is over the %d-byte limit", e.Size, e.Limit)
}

// firstChunk is what ReadFrameLimit allocates for a frame before its
// bytes arrive: a peer that announces 16 MiB and sends 5 bytes costs this
// much, not 16 MiB.
const firstChunk = 64 << 10

// ReadFrameLimit reads one length-delimited frame of at most limit bytes.
// It never allocates more than the limit, and no more than twice what has
// arrived (plus a first chunk): the buffer doubles as bytes come, so a
// length prefix alone makes it allocate nothing big. (protodelim allocates
// the announced length up front.) A stream that ends before any byte
// returns io.EOF; one that ends inside a frame, io.ErrUnexpectedEOF.
func ReadFrameLimit(r *bufio.Reader, limit int) (*pb.Frame, error) {
	f, _, err := ReadFrameReserve(r, limit, nil)
	return f, err
}

// ReadFrameReserve is ReadFrameLimit, calling reserve (when not nil) with
// the frame's length once it is known and before its bytes are read: a
// server can then bound the memory all its streams' frames hold at once,
// and how long the bytes may take. The release reserve returns is the
// caller's to call (also on an error after it).
func ReadFrameReserve(r *bufio.Reader, limit int, reserve func(n int) (release func(), err error)) (*pb.Frame, func(), error) {
	return ReadFrameDecode(r, limit, reserve, nil)
}

// ReadFrameDecode is ReadFrameReserve decoding the frame's bytes with
// unmarshal (nil: proto.Unmarshal), which may keep slices of them: they
// are read into a buffer of the frame's own.
func ReadFrameDecode(r *bufio.Reader, limit int, reserve func(n int) (release func(), err error), unmarshal func([]byte, *pb.Frame) error) (*pb.Frame, func(), error) {
	release := func() {}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, release, err
		}
		return nil, release, fmt.Errorf("frame length: %w", err)
	}
	if n > uint64(limit) {
		return nil, release, &FrameTooLargeError{Size: n, Limit: uint64(limit)}
	}
	if reserve != nil {
		if release, err = reserve(int(n)); err != nil {
			return nil, func() {}, err
		}
	}
	f, err := readBody(r, n, reserve != nil, unmarshal)
	return f, release, err
}

func readBody(r *bufio.Reader, n uint64, reserved bool, unmarshal func([]byte, *pb.Frame) error) (*pb.Frame, error) {
	first := firstChunk
	if reserved { // the memory is accounted for: read it in one piece
		first = int(n)
	}
	buf := make([]byte, 0, min(int(n), first))
	for len(buf) < int(n) {
		if len(buf) == cap(buf) { // all that was asked for came: double
			grown := make([]byte, len(buf), min(2*cap(buf), int(n)))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r, buf[len(buf):min(cap(buf), int(n))])
		buf = buf[:len(buf)+k]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	if unmarshal == nil {
		unmarshal = func(b []byte, f *pb.Frame) error { return proto.Unmarshal(b, f) }
	}
	f := &pb.Frame{}
	if err := unmarshal(buf, f); err != nil {
		return nil, fmt.Errorf("frame of %d bytes does not decode: %w", n, err)
	}
	return f, nil
}

// FrameBuffered reports whether r holds a whole frame that can be read
// without waiting.
func FrameBuffered(r *bufio.Reader) bool {
	head, _ := r.Peek(min(r.Buffered(), binary.MaxVarintLen64))
	n, k := binary.Uvarint(head)
	return k > 0 && uint64(r.Buffered()-k) >= n
}

// NewConn makes a Conn of any byte stream (a libp2p stream, one end of a
// net.Pipe): r, when not nil, is a reader over rwc that may already hold
// bytes read past a handshake. dialed says whether this side dialed it.
func NewConn(rwc io.ReadWriteCloser, r *bufio.Reader, dialed bool) Conn {
	if r == nil {
		r = bufio.NewReaderSize(rwc, ReadBuffer)
	}
	return &streamConn{rwc: rwc, r: r, w: bufio.NewWriterSize(rwc, 64<<10), dialed: dialed}
}

type streamConn struct {
	rwc    io.ReadWriteCloser
	r      *bufio.Reader
	w      *bufio.Writer
	dialed bool
}

func (c *streamConn) ReadFrame() (*pb.Frame, error) { return ReadFrame(c.r) }
func (c *streamConn) Buffered() bool                { return FrameBuffered(c.r) }
func (c *streamConn) WriteFrame(f *pb.Frame) error  { return WriteFrame(c.w, f) }
func (c *streamConn) Flush() error                  { return c.w.Flush() }
func (c *streamConn) Dialed() bool                  { return c.dialed }
func (c *streamConn) Close() error                  { return c.rwc.Close() }

func toWire(m objsync.Message) *pb.Frame {
	s := &pb.SyncMessage{Kind: uint32(m.Kind), Session: m.Session, Seq: m.Seq, Recon: m.Recon,
		ReconEnd: m.Kind == objsync.Recon && m.Recon == nil, Held: uint64(m.Held)}
	if m.Kind != objsync.Recon {
		s.Object = m.Object[:]
	}
	for _, h := range m.Heads {
		s.Heads = append(s.Heads, append([]byte(nil), h[:]...))
	}
	for _, c := range m.Changes {
		s.Changes = append(s.Changes, &pb.WireChange{Id: append([]byte(nil), c.ID[:]...), Raw: c.Raw})
	}
	return &pb.Frame{Body: &pb.Frame_Sync{Sync: s}}
}

func id32(b []byte) (objsync.ID, error) {
	var id objsync.ID
	if len(b) != len(id) {
		return id, fmt.Errorf("id of %d bytes", len(b))
	}
	copy(id[:], b)
	return id, nil
}

// fromWire validates and converts a sync message.
func fromWire(s *pb.SyncMessage) (objsync.Message, error) {
	m := objsync.Message{Kind: objsync.Kind(s.Kind), Session: s.Session, Seq: s.Seq}
	switch m.Kind {
	case objsync.Recon:
		if !s.ReconEnd {
			if len(s.Recon) == 0 {
				return m, fmt.Errorf("empty reconciliation message")
			}
			m.Recon = s.Recon
		}
		return m, nil
	case objsync.Heads, objsync.Changes:
	default:
		return m, fmt.Errorf("unknown message kind %d", s.Kind)
	}
	if s.Held > math.MaxInt32 {
		return m, fmt.Errorf("held count %d out of range", s.Held)
	}
	m.Held = int(s.Held)
	var err error
	if m.Object, err = id32(s.Object); err != nil {
		return m, fmt.Errorf("object: %w", err)
	}
	for _, h := range s.Heads {
		id, err := id32(h)
		if err != nil {
			return m, fmt.Errorf("head: %w", err)
		}
		m.Heads = append(m.Heads, id)
	}
	for _, c := range s.Changes {
		id, err := id32(c.Id)
		if err != nil {
			return m, fmt.Errorf("change: %w", err)
		}
		m.Changes = append(m.Changes, objsync.Change{ID: id, Raw: c.Raw})
	}
	return m, nil
}
