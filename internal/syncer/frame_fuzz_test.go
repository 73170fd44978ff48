package syncer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"mycel/internal/objsync"
	"mycel/internal/pb"
)

// FuzzReadFrame feeds any bytes to the frame reader (under a small limit,
// as before a handshake, and under MaxFrame) and what it decodes to the
// sync message validation: no input panics, a frame over the limit is
// refused by its length, FrameBuffered never promises a frame that is not
// all there, and the reader never consumes past the frame it returns.
func FuzzReadFrame(f *testing.F) {
	frame := func(fr *pb.Frame) []byte {
		var b bytes.Buffer
		WriteFrame(&b, fr)
		return b.Bytes()
	}
	sync := toWire(objsync.Message{Kind: objsync.Changes, Object: objsync.ID{1}, Heads: []objsync.ID{{2}},
		Changes: []objsync.Change{{ID: objsync.ID{3}, Raw: []byte("raw")}}, Held: 7})
	f.Add(frame(sync))
	f.Add(frame(&pb.Frame{Body: &pb.Frame_Hello{Hello: &pb.Hello{VaultId: make([]byte, 32), MemberRecords: [][]byte{[]byte("r")}}}}))
	f.Add(frame(&pb.Frame{Body: &pb.Frame_PeerHello{PeerHello: &pb.PeerHello{Nonce: make([]byte, 32)}}}))
	f.Add(append(frame(&pb.Frame{Body: &pb.Frame_Ping{Ping: &pb.Ping{}}}), frame(sync)...))
	f.Add(append(binary.AppendUvarint(nil, MaxFrame), 1, 2, 3, 4, 5))               // 16 MiB announced, 5 bytes sent
	f.Add(append(binary.AppendUvarint(nil, MaxFrame+1), 0))                         // over the limit
	f.Add(binary.AppendUvarint(nil, 1<<63))                                         // absurd length
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) // varint overflow
	f.Add([]byte{0x80})                                                             // cut inside the length
	f.Add([]byte{0x00})                                                             // empty frame
	f.Add([]byte{0x03, 0x1a, 0x01, 0xff})                                           // sync field with junk
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, limit := range []int{64, 8 << 10, MaxFrame} {
			br := bytes.NewReader(data)
			r := bufio.NewReaderSize(br, 16)
			for range 16 {
				r.Peek(1)
				buffered := FrameBuffered(r)
				before := len(data) - br.Len() - r.Buffered()
				fr, err := ReadFrameLimit(r, limit)
				consumed := len(data) - br.Len() - r.Buffered() - before
				var big *FrameTooLargeError
				switch {
				case errors.As(err, &big):
					if big.Size <= uint64(limit) || big.Limit != uint64(limit) {
						t.Fatalf("refused a frame of %d bytes under a limit of %d", big.Size, limit)
					}
					if consumed > binary.MaxVarintLen64 {
						t.Fatalf("read %d bytes of a frame refused by its length", consumed)
					}
				case buffered && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)):
					t.Fatalf("FrameBuffered promised a frame, then: %v", err)
				case err == nil:
					n, k := binary.Uvarint(data[before:])
					if k <= 0 || uint64(consumed) != uint64(k)+n || n > uint64(limit) {
						t.Fatalf("a frame of %d bytes consumed %d", n, consumed)
					}
					if s := fr.GetSync(); s != nil {
						fromWire(s) // must not panic
					}
				}
				if err != nil {
					break
				}
			}
		}
	})
}
