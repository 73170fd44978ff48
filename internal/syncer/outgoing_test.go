package syncer

import (
	"math"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"mycel/internal/objsync"
)

// A message waiting in a peer's queue is counted at no less than the frame
// it becomes, so that the queue's bound in bytes still drops a peer that
// leaves too much unread.
func TestQueuedMessageSizeIsAnUpperBound(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := objsync.Message{
			Kind:    rapid.SampledFrom([]objsync.Kind{objsync.Heads, objsync.Changes}).Draw(rt, "kind"),
			Session: rapid.SampledFrom([]uint64{0, 1, math.MaxUint64}).Draw(rt, "session"),
			Seq:     rapid.SampledFrom([]uint32{0, 1, math.MaxUint32}).Draw(rt, "seq"),
			Held:    rapid.SampledFrom([]int{0, 1, 1 << 30, math.MaxInt}).Draw(rt, "held"),
			Object:  objsync.ID{1},
		}
		for range rapid.IntRange(0, 5).Draw(rt, "heads") {
			m.Heads = append(m.Heads, objsync.ID{2})
		}
		for range rapid.IntRange(0, 5).Draw(rt, "changes") {
			n := rapid.SampledFrom([]int{0, 1, 127, 128, 16383, 16384, 1 << 21}).Draw(rt, "raw")
			m.Changes = append(m.Changes, objsync.Change{ID: objsync.ID{3}, Raw: make([]byte, n)})
		}
		o := outgoing{msg: m}
		if got, want := o.size(), proto.Size(toWire(m)); got < want {
			rt.Fatalf("counted %d bytes for a frame of %d", got, want)
		}
	})
}
