package crdt

import (
	"bytes"
	"math"
	"testing"
)

// FuzzAdversarialChanges applies changes a hostile member could sign
// (counters at and past the limit, huge spans, references to anything) to a
// document and checks what no received change may ever do: panic, wrap a
// counter, break the canonical state's round trip, or leave the document
// unable to take a local edit.
func FuzzAdversarialChanges(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0})
	f.Add([]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0, 6, 1, 2, 3})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 7, 3, 0, 2})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0x20, 0, 7, 0xff, 0xff, 5, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := sampleDoc()
		actors := []string{"a\xff\x00binary-key", "mallory", ""}
		counters := []uint64{0, 1, 2, 3, 5, 8, MaxCounter - 1, MaxCounter, MaxCounter + 1, math.MaxUint64 - 1, math.MaxUint64}
		r := bytes.NewReader(b)
		next := func() int {
			c, err := r.ReadByte()
			if err != nil {
				return 0
			}
			return int(c)
		}
		u64 := func() uint64 {
			var v uint64
			for i := 0; i < 8; i++ {
				v |= uint64(next()) << (8 * i)
			}
			return v
		}
		id := func() ID {
			return ID{Counter: counters[next()%len(counters)], Actor: actors[next()%len(actors)]}
		}
		for n := 0; r.Len() > 0 && n < 32; n++ { // a few changes: each clones the document
			ch := &Change{Actor: actors[next()%2], Start: u64()}
			for n := next() % 4; n >= 0 && r.Len() > 0; n-- {
				op := Op{Kind: OpKind(next()%8 + 0), Block: id(), Parent: id(), Ref: id(), Key: "k", Value: "v"}
				switch op.Kind {
				case OpInsertText:
					op.Text = "xyz"[:next()%4]
				case OpDeleteText:
					op.Spans = []Span{{Start: id(), N: int(int8(next())) << (8 * (next() % 4))}}
				case OpDeleteBlock:
					op.Seen = []ID{id()}
				}
				ch.Ops = append(ch.Ops, op)
			}
			trial := d.Clone()
			if err := trial.Apply(ch); err != nil {
				continue // refused; the clone is dropped
			}
			d = trial
			if d.MaxCounter() > MaxCounter {
				t.Fatalf("counter %d past the limit", d.MaxCounter())
			}
			state := d.MarshalState()
			back, err := UnmarshalState(state)
			if err != nil {
				t.Fatalf("state does not read back: %v", err)
			}
			if again := back.MarshalState(); !bytes.Equal(again, state) {
				t.Fatal("state round trip is not canonical")
			}
		}
		// The document still takes a local edit.
		tx := d.Begin("local")
		blk := tx.InsertBlock(ID{}, ID{}, TypeParagraph)
		tx.InsertText(blk, 0, "still editable")
		tx.SetDetail("title", "ok")
		if c := tx.Commit(); c == nil || c.Start == 0 {
			t.Fatal("no local change")
		}
	})
}
