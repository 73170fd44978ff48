package syncer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"mycel/internal/keys"
	"mycel/internal/member"
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
	removal := &pb.RemoveObject{Object: make([]byte, 32), TimeMs: 5, Signature: make([]byte, 64), Device: make([]byte, 32)}
	f.Add(frame(&pb.Frame{Body: &pb.Frame_RemoveObject{RemoveObject: removal}}))
	f.Add(frame(&pb.Frame{Body: &pb.Frame_RemoveReply{RemoveReply: &pb.RemoveReply{Object: make([]byte, 32), Error: "no"}}}))
	f.Add(frame(&pb.Frame{Body: &pb.Frame_Refused{Refused: &pb.Refused{Object: make([]byte, 32), Reason: strings.Repeat("é", 300) + "\x1b[2J"}}}))
	f.Add(frame(&pb.Frame{Body: &pb.Frame_NodeAcks{NodeAcks: &pb.NodeAcks{Acks: []*pb.NodeAck{{Node: []byte("n"), Object: make([]byte, 32),
		Heads: [][]byte{make([]byte, 32)}, TimeMs: 9, Signature: make([]byte, 64), Removal: removal}}}}}))
	signed := toWire(objsync.Message{Kind: objsync.Heads, Object: objsync.ID{1}, Heads: []objsync.ID{{2}}})
	signed.GetSync().AckTimeMs, signed.GetSync().AckSignature, signed.GetSync().Removal = 3, make([]byte, 64), removal
	f.Add(frame(signed))
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
					handleNewFrames(t, fr)
				}
				if err != nil {
					break
				}
			}
		}
	})
}

// handleNewFrames does with a decoded frame what a reader does before any
// state is touched: a sync message is validated and its node's word read
// (with the removal request it carries), a NodeAcks frame read into words,
// a removal request verified, a refusal's reason bounded. None may panic;
// a reason kept is bounded, valid UTF-8 and free of control characters.
func handleNewFrames(t *testing.T, fr *pb.Frame) {
	verify := func(r *pb.RemoveObject) {
		if r != nil {
			member.VerifyRemoval(r.Device, keys.VaultID{}, r)
		}
	}
	s := &Service{acks: AckHooks{Verify: func(Ack) (bool, error) { return true, nil }}}
	if m := fr.GetSync(); m != nil {
		if msg, err := fromWire(m); err == nil {
			if a, ok := s.ackOf("node", m, msg); ok {
				verify(a.Removal)
			}
		}
	}
	if f := fr.GetNodeAcks(); f != nil {
		as, err := acksOf("phone", f)
		if err == nil && len(as) > MaxPassed {
			t.Fatalf("%d words taken from one frame", len(as))
		}
		for _, a := range as {
			verify(a.Removal)
		}
	}
	verify(fr.GetRemoveObject())
	if r := fr.GetRefused(); r != nil {
		got := boundedReason(r.Reason)
		if len(got) > maxReason+len("…") || !utf8.ValidString(got) || strings.ContainsFunc(got, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) {
			t.Fatalf("reason kept: %q", got)
		}
	}
}

// A reason cut at maxReason bytes inside a character is not valid UTF-8,
// which a proto string must be: the frame would not marshal. It is cut at
// a character instead, and a peer's control characters are blanked.
func TestBoundedReasonMarshals(t *testing.T) {
	long := "a" + strings.Repeat("é", 300)
	if _, err := proto.Marshal(&pb.Refused{Reason: long[:maxReason]}); err == nil {
		t.Fatal("a byte cut inside a character marshalled: this test proves nothing")
	}
	got := boundedReason(long)
	if _, err := proto.Marshal(&pb.Refused{Reason: got}); err != nil || !strings.HasSuffix(got, "é…") {
		t.Fatalf("%q: %v", got, err)
	}
	if got := boundedReason("refused\x1b[2J\n\u202egnp.exe\u200b"); got != "refused [2J gnp.exe" {
		t.Fatalf("%q", got)
	}
}
