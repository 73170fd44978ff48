package p2p

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"mycel/internal/pb"
	"mycel/internal/syncer"
)

// A frame written with its chunk apart reads back as the frame proto
// would have written: the same message, whatever its other fields.
func TestSplitFramesReadBack(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		sealed := rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, "sealed")
		id := rapid.Uint64().Draw(t, "id")
		addr := rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "address")
		var buf bytes.Buffer
		put := &pb.ChunkPut{Address: addr, Sealed: sealed}
		if err := writePutFrame(&buf, id, put); err != nil {
			t.Fatal(err)
		}
		rep := &pb.ChunkReply{Id: id, Code: pb.ChunkReply_Code(rapid.IntRange(0, 4).Draw(t, "code")),
			Reason: rapid.String().Draw(t, "reason"), Sealed: sealed, More: rapid.Bool().Draw(t, "more"),
			Used: rapid.Uint64().Draw(t, "used"), Missing: [][]byte{addr}}
		if err := writeReplyFrame(&buf, rep); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(&buf)
		want := []*pb.Frame{
			{Body: &pb.Frame_ChunkRequest{ChunkRequest: &pb.ChunkRequest{Id: id, Op: &pb.ChunkRequest_Put{Put: put}}}},
			{Body: &pb.Frame_ChunkReply{ChunkReply: rep}},
		}
		for i, w := range want {
			got, err := syncer.ReadFrameLimit(r, MaxChunkFrame)
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if !proto.Equal(got, w) {
				t.Fatalf("frame %d reads back as %v, want %v", i, got, w)
			}
		}
		if buf.Len() != 0 {
			t.Fatalf("%d bytes left over", buf.Len())
		}
	})
}

// A chunk frame decodes without copying its chunk: a 4 MiB put costs one
// 4 MiB buffer, and its chunk is a slice of it.
func TestChunkFrameDecodesInPlace(t *testing.T) {
	sealed := bytes.Repeat([]byte{9}, 4<<20)
	var wire bytes.Buffer
	if err := writePutFrame(&wire, 7, &pb.ChunkPut{Address: []byte("addr"), Sealed: sealed}); err != nil {
		t.Fatal(err)
	}
	whole := func(int) (func(), error) { return func() {}, nil }
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, _, err := syncer.ReadFrameDecode(bufio.NewReader(bytes.NewReader(wire.Bytes())), MaxChunkFrame, whole, unmarshalChunkFrame)
	runtime.ReadMemStats(&after)
	if err != nil || !bytes.Equal(f.GetChunkRequest().GetPut().GetSealed(), sealed) || f.GetChunkRequest().GetId() != 7 {
		t.Fatalf("decoded %v, %v", err, f.GetChunkRequest().GetId())
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 5<<20 {
		t.Fatalf("a 4 MiB put allocated %d bytes: its chunk was copied", got)
	}
}

// FuzzChunkFrameDecode: whatever the bytes, the in-place decode of a
// chunk frame agrees with proto.Unmarshal (the same message, or both
// refuse), and never panics.
func FuzzChunkFrameDecode(f *testing.F) {
	var put, rep bytes.Buffer
	writePutFrame(&put, 3, &pb.ChunkPut{Address: []byte("a"), Sealed: []byte("sealed bytes")})
	writeReplyFrame(&rep, &pb.ChunkReply{Id: 4, Reason: "r", Sealed: []byte("chunk"), Missing: [][]byte{{1}}})
	for _, b := range []*bytes.Buffer{&put, &rep} {
		_, k := binary.Uvarint(b.Bytes())
		f.Add(b.Bytes()[k:])
	}
	twice, _ := proto.Marshal(&pb.Frame{Body: &pb.Frame_ChunkReply{ChunkReply: &pb.ChunkReply{Sealed: []byte("x")}}})
	f.Add(append(append([]byte(nil), twice...), twice...)) // the reply twice: merged
	f.Fuzz(func(t *testing.T, data []byte) {
		var want, got pb.Frame
		werr := proto.Unmarshal(data, &want)
		gerr := unmarshalChunkFrame(data, &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("proto.Unmarshal: %v; in place: %v", werr, gerr)
		}
		if werr == nil && !proto.Equal(&want, &got) {
			t.Fatalf("in place decodes to %v, proto.Unmarshal to %v", &got, &want)
		}
	})
}
