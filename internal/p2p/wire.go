// Package p2p runs mycel's sync protocol over libp2p (TCP and QUIC, Noise,
// yamux): the host, the vault handshake, reading and writing frames, and
// the event loop that drives an objsync.Machine for one vault.
package p2p

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protodelim"

	"mycel/internal/objsync"
	"mycel/internal/pb"
)

// ProtocolID names the sync protocol.
const ProtocolID = "/mycel/sync/1"

// MaxFrame bounds one frame: a batch of changes, or a reconciliation message.
const MaxFrame = 16 << 20

func writeFrame(w io.Writer, f *pb.Frame) error {
	_, err := protodelim.MarshalTo(w, f)
	return err
}

// readBuffer sizes a connection's read buffer: large enough to hold many
// frames, so that those that arrived together are handled together.
const readBuffer = 256 << 10

// frameBuffered reports whether r holds a whole frame that can be read
// without waiting.
func frameBuffered(r *bufio.Reader) bool {
	head, _ := r.Peek(min(r.Buffered(), binary.MaxVarintLen64))
	n, k := binary.Uvarint(head)
	return k > 0 && uint64(r.Buffered()-k) >= n
}

func readFrame(r *bufio.Reader) (*pb.Frame, error) {
	f := &pb.Frame{}
	if err := (protodelim.UnmarshalOptions{MaxSize: MaxFrame}).UnmarshalFrom(r, f); err != nil {
		return nil, err
	}
	return f, nil
}

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
