package syncer

import (
	"bufio"
	"bytes"
	"testing"

	"mycel/internal/objsync"
)

// FrameBuffered says a frame can be read without waiting only when all of
// it is in the buffer.
func TestFrameBuffered(t *testing.T) {
	var wire bytes.Buffer
	var ends []int // where each frame ends
	for i := range 3 {
		f := toWire(objsync.Message{Kind: objsync.Changes, Object: objsync.ID{byte(i)},
			Changes: []objsync.Change{{ID: objsync.ID{9}, Raw: bytes.Repeat([]byte{byte(i)}, 1000*(i+1))}}})
		if err := WriteFrame(&wire, f); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, wire.Len())
	}
	all := wire.Bytes()
	for cut := 0; cut <= len(all); cut++ {
		r := bufio.NewReaderSize(bytes.NewReader(all[:cut]), ReadBuffer)
		r.Peek(1) // fill the buffer with what there is
		n := 0
		for FrameBuffered(r) {
			f, err := ReadFrame(r)
			if err != nil {
				t.Fatalf("cut at %d: frame %d said buffered, then: %v", cut, n, err)
			}
			if m, err := fromWire(f.GetSync()); err != nil || m.Object[0] != byte(n) {
				t.Fatalf("cut at %d: frame %d reads as %v, %v", cut, n, m.Object[0], err)
			}
			n++
		}
		want := 0
		for _, end := range ends {
			if end <= cut {
				want++
			}
		}
		if n != want {
			t.Fatalf("cut at %d: read %d whole frames, want %d", cut, n, want)
		}
	}
}
