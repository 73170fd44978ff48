package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
)

// heldAtSetting, followed by a peer id, holds when that peer last said
// which heads it holds of each object (the word whose hash the held table
// keeps), and those heads: for each object its 32-byte id, the time in
// Unix milliseconds (8 bytes) and the number of heads (2 bytes), both
// big-endian, then the heads. One setting a peer, rewritten with what
// changed at most every few seconds (see device's lastSeenEvery), never
// at each word.
const heldAtSetting = "held-at/"

// HeldWord is a peer's last word of what it holds of an object.
type HeldWord struct {
	At    time.Time
	Heads []change.ID // nil when not known
}

// PeerHeld is what peers said they hold, as persisted, beside the heads
// this device holds: read in one transaction, so they compare.
type PeerHeld struct {
	Mine map[change.ID][]change.ID // every object's current heads
	// Held is, by peer, the hash of the heads it said it holds of each
	// object (objsync.HeadsHash), and At when it said so.
	Held map[string]map[change.ID][32]byte
	At   map[string]map[change.ID]HeldWord
}

// PeerHeld reads every object's heads and what each of peers said it
// holds, and when.
func (e *Engine) PeerHeld(ctx context.Context, peers []string) (PeerHeld, error) {
	out := PeerHeld{Held: map[string]map[change.ID][32]byte{}, At: map[string]map[change.ID]HeldWord{}}
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		if out.Mine, err = tx.AllHeads(); err != nil {
			return err
		}
		for _, p := range peers {
			if out.Held[p], err = tx.Held(p); err != nil {
				return err
			}
			if out.At[p], err = heldAt(tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// heldAt decodes a peer's held-at setting (empty when unset; what does
// not decode is dropped: it only informs).
func heldAt(tx store.Tx, peer string) (map[change.ID]HeldWord, error) {
	b, err := tx.Setting(heldAtSetting + peer)
	if err != nil {
		return nil, err
	}
	out := make(map[change.ID]HeldWord, len(b)/74)
	for len(b) >= 42 {
		n := int(binary.BigEndian.Uint16(b[40:42]))
		if len(b) < 42+32*n {
			break
		}
		w := HeldWord{At: time.UnixMilli(int64(binary.BigEndian.Uint64(b[32:40])))}
		if n > 0 {
			w.Heads = make([]change.ID, n)
			for i := range w.Heads {
				w.Heads[i] = change.ID(b[42+32*i : 74+32*i])
			}
		}
		out[change.ID(b[:32])] = w
		b = b[42+32*n:]
	}
	return out, nil
}

// NoteHeldAt records, by peer, its last word of what it holds of each
// object (the later one wins).
func (e *Engine) NoteHeldAt(ctx context.Context, at map[string]map[change.ID]HeldWord) error {
	if len(at) == 0 {
		return nil
	}
	return e.db.Update(ctx, func(tx store.Tx) error {
		for p, objs := range at {
			old, err := heldAt(tx, p)
			if err != nil {
				return err
			}
			for o, w := range objs {
				if w.At.After(old[o].At) {
					old[o] = w
				}
			}
			ids := slices.SortedFunc(maps.Keys(old), func(a, b change.ID) int { return bytes.Compare(a[:], b[:]) })
			b := make([]byte, 0, 74*len(old))
			for _, o := range ids {
				w := old[o]
				hs := w.Heads[:min(len(w.Heads), math.MaxUint16)]
				b = append(b, o[:]...)
				b = binary.BigEndian.AppendUint64(b, uint64(w.At.UnixMilli()))
				b = binary.BigEndian.AppendUint16(b, uint16(len(hs)))
				for _, h := range hs {
					b = append(b, h[:]...)
				}
			}
			if err := tx.SetSetting(heldAtSetting+p, b); err != nil {
				return fmt.Errorf("note held at: %w", err)
			}
		}
		return nil
	})
}
