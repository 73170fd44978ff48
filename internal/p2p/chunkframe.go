package p2p

import (
	"encoding/binary"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"mycel/internal/pb"
)

// Chunk frames are written with their sealed bytes apart: proto.Marshal
// would copy a chunk of up to 8 MiB into the frame's buffer before it is
// written, once more on every hop; a chunk is most of what a lane moves.
// The encoding is plain protobuf (a message may hold its fields in any
// order), read back by syncer.ReadFrame like any frame.

// splitMessage is a message's encoding as head ‖ tail, the tail (a
// chunk's bytes) never copied.
type splitMessage struct{ head, tail []byte }

// withSealed is msg's encoding with field (bytes) holding sealed, last.
func withSealed(msg proto.Message, field protowire.Number, sealed []byte) (splitMessage, error) {
	head, err := proto.Marshal(msg)
	if err != nil {
		return splitMessage{}, err
	}
	head = protowire.AppendTag(head, field, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(len(sealed)))
	return splitMessage{head, sealed}, nil
}

// nest is parent's encoding with child as its field (a message), last.
func nest(parent proto.Message, field protowire.Number, child splitMessage) (splitMessage, error) {
	var head []byte
	if parent != nil {
		var err error
		if head, err = proto.Marshal(parent); err != nil {
			return splitMessage{}, err
		}
	}
	head = protowire.AppendTag(head, field, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(len(child.head)+len(child.tail)))
	return splitMessage{append(head, child.head...), child.tail}, nil
}

// writeSplitFrame writes a frame (its length, then its bytes).
func writeSplitFrame(w io.Writer, f splitMessage) error {
	n := binary.AppendUvarint(nil, uint64(len(f.head)+len(f.tail)))
	if _, err := w.Write(append(n, f.head...)); err != nil {
		return err
	}
	_, err := w.Write(f.tail)
	return err
}

// Field numbers in mycel.proto.
const (
	frameChunkRequest = 9
	frameChunkReply   = 10
	requestPut        = 3
	putSealed         = 2
	replySealed       = 5
)

// writePutFrame writes a chunk request holding a Put.
func writePutFrame(w io.Writer, id uint64, put *pb.ChunkPut) error {
	leaf, err := withSealed(&pb.ChunkPut{Address: put.Address}, putSealed, put.Sealed)
	if err != nil {
		return err
	}
	req, err := nest(&pb.ChunkRequest{Id: id}, requestPut, leaf)
	if err != nil {
		return err
	}
	f, err := nest(nil, frameChunkRequest, req)
	if err != nil {
		return err
	}
	return writeSplitFrame(w, f)
}

// writeReplyFrame writes a chunk reply, its chunk (a Get's) apart.
func writeReplyFrame(w io.Writer, rep *pb.ChunkReply) error {
	// Marshaled without its chunk (a clone would copy it), then whole
	// again: the reply is the writer's alone.
	sealed := rep.Sealed
	rep.Sealed = nil
	leaf, err := withSealed(rep, replySealed, sealed)
	rep.Sealed = sealed
	if err != nil {
		return err
	}
	f, err := nest(nil, frameChunkReply, leaf)
	if err != nil {
		return err
	}
	return writeSplitFrame(w, f)
}

// Reading: proto.Unmarshal copies every bytes field, a chunk included,
// out of the frame's buffer, which was just read for it: a second
// allocation and copy of up to 8 MiB per chunk on every hop (and the
// protobuf runtime's alias option reaches lazy fields only). A chunk
// frame is decoded with its chunk taken out, then given back as a slice
// of the buffer.

// sealedPaths are where a chunk frame holds its chunk: frame → request →
// put → sealed, and frame → reply → sealed.
var sealedPaths = [][]protowire.Number{
	{frameChunkRequest, requestPut, putSealed},
	{frameChunkReply, replySealed},
}

// unmarshalChunkFrame decodes a frame as proto.Unmarshal does, a chunk's
// bytes aliasing buf. A frame not in the plain shape (each message on
// the path once, the chunk once in it) is decoded by proto.Unmarshal.
func unmarshalChunkFrame(buf []byte, f *pb.Frame) error {
	for _, path := range sealedPaths {
		head, sealed, ok := stripField(buf, path)
		if !ok {
			continue
		}
		if err := proto.Unmarshal(head, f); err != nil {
			return err
		}
		// Another member of a oneof may have come after the one on
		// the path: then proto.Unmarshal would have dropped the chunk
		// too.
		switch {
		case path[0] == frameChunkRequest && f.GetChunkRequest().GetPut() != nil:
			f.GetChunkRequest().GetPut().Sealed = sealed
		case path[0] == frameChunkReply && f.GetChunkReply() != nil:
			f.GetChunkReply().Sealed = sealed
		}
		return nil
	}
	return proto.Unmarshal(buf, f)
}

// stripField is msg without the bytes field at path (each message on the
// way, and the field, found exactly once, with the right wire types), and
// that field's value, a slice of msg. Only the small rest is copied.
func stripField(msg []byte, path []protowire.Number) (head, value []byte, ok bool) {
	start, end, valStart, found := -1, -1, -1, 0
	for i := 0; i < len(msg); {
		num, typ, n := protowire.ConsumeTag(msg[i:])
		if n < 0 {
			return nil, nil, false
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[i+n:])
		if m < 0 {
			return nil, nil, false
		}
		if num == path[0] {
			if typ != protowire.BytesType {
				return nil, nil, false
			}
			_, k := protowire.ConsumeVarint(msg[i+n:])
			start, valStart, end = i, i+n+k, i+n+m
			found++
		}
		i += n + m
	}
	if found != 1 {
		return nil, nil, false
	}
	if len(path) == 1 {
		return append(append([]byte(nil), msg[:start]...), msg[end:]...), msg[valStart:end], true
	}
	inner, value, ok := stripField(msg[valStart:end], path[1:])
	if !ok {
		return nil, nil, false
	}
	head = append([]byte(nil), msg[:start]...)
	head = protowire.AppendTag(head, path[0], protowire.BytesType)
	head = protowire.AppendBytes(head, inner)
	return append(head, msg[end:]...), value, true
}
