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
