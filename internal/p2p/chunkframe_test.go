package p2p

import (
	"bufio"
	"bytes"
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
