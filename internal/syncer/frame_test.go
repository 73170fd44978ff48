package syncer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	"mycel/internal/objsync"
	"mycel/internal/pb"
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

// A frame's length prefix alone makes the reader allocate nothing big: a
// peer that announces 16 MiB and sends 5 bytes costs kilobytes, not 16 MiB.
// (protodelim allocated the announced length before reading.)
func TestReadFrameAllocatesWhatArrives(t *testing.T) {
	wire := binary.AppendUvarint(nil, MaxFrame)
	wire = append(wire, 1, 2, 3, 4, 5)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		r := bufio.NewReaderSize(bytes.NewReader(wire), 16)
		if _, err := ReadFrame(r); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("a frame cut after 5 of 16 MiB reads as %v, want io.ErrUnexpectedEOF", err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 10*(firstChunk+4096) {
		t.Fatalf("10 frames announcing 16 MiB, 5 bytes each, allocated %d bytes", got)
	}
}

// A frame over the reader's limit is refused by its length, before any of
// it is read; one of the limit's size is read whole.
func TestReadFrameLimit(t *testing.T) {
	ping := func(pad int) []byte {
		f := &pb.Frame{Body: &pb.Frame_Members{Members: &pb.Members{Records: [][]byte{make([]byte, pad)}}}}
		var b bytes.Buffer
		if err := WriteFrame(&b, f); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	const limit = 8 << 10
	var fits []byte
	for pad := limit - 16; fits == nil; pad++ {
		if b := ping(pad); binary.AppendUvarint(nil, limit)[0] == b[0] && len(b) == limit+2 {
			fits = b
		}
	}
	if _, err := ReadFrameLimit(bufio.NewReader(bytes.NewReader(fits)), limit); err != nil {
		t.Fatalf("a frame of the limit's size: %v", err)
	}
	over := ping(limit)
	br := bytes.NewReader(over)
	r := bufio.NewReader(br)
	_, err := ReadFrameLimit(r, limit)
	var big *FrameTooLargeError
	if !errors.As(err, &big) || big.Limit != limit || big.Size <= limit {
		t.Fatalf("a frame over the limit reads as %v", err)
	}
	if body, left := len(over)-len(binary.AppendUvarint(nil, big.Size)), r.Buffered()+br.Len(); left != body {
		t.Fatalf("%d bytes of the refused frame were read", body-left)
	}
	if _, err := ReadFrame(bufio.NewReader(bytes.NewReader(nil))); err != io.EOF {
		t.Fatalf("an empty stream reads as %v, want io.EOF", err)
	}
}
