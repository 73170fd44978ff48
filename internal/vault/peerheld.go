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

// heldAtSetting, followed by a peer id, "/" and the first byte of an
// object id in hex (256 settings a peer, so that what a write rewrites, and
// what it decodes first, stays small), holds when that peer last said
// which heads it holds of each object of the bucket (the word whose hash
// the held table keeps), and those heads: for each object its 32-byte id,
// the time in Unix milliseconds (8 bytes) and the number of heads (2
// bytes), both big-endian, then the heads.
const heldAtSetting = "held-at/"

func heldAtKey(peer string, bucket byte) string {
	return fmt.Sprintf("%s%s/%02x", heldAtSetting, peer, bucket)
}

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

// heldAt decodes a peer's held-at settings (empty when unset).
func heldAt(tx store.Tx, peer string) (map[change.ID]HeldWord, error) {
	out := map[change.ID]HeldWord{}
	for b := range 256 {
		if err := heldAtBucket(tx, peer, byte(b), out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// heldAtBucket decodes one bucket into out (what does not decode is
// dropped: it only informs).
func heldAtBucket(tx store.Tx, peer string, bucket byte, out map[change.ID]HeldWord) error {
	b, err := tx.Setting(heldAtKey(peer, bucket))
	if err != nil {
		return err
	}
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
	return nil
}

// NoteHeldAt records, by peer, its last word of what it holds of each
// object (the later one wins), rewriting only the buckets it touches.
func (e *Engine) NoteHeldAt(ctx context.Context, at map[string]map[change.ID]HeldWord) error {
	if len(at) == 0 {
		return nil
	}
	return e.db.Update(ctx, func(tx store.Tx) error {
		for p, objs := range at {
			var buckets [256][]change.ID
			for o := range objs {
				buckets[o[0]] = append(buckets[o[0]], o)
			}
			for bk, ids := range buckets {
				if len(ids) == 0 {
					continue
				}
				old := map[change.ID]HeldWord{}
				if err := heldAtBucket(tx, p, byte(bk), old); err != nil {
					return err
				}
				for _, o := range ids {
					if w := objs[o]; w.At.After(old[o].At) {
						old[o] = w
					}
				}
				keys := slices.SortedFunc(maps.Keys(old), func(a, b change.ID) int { return bytes.Compare(a[:], b[:]) })
				b := make([]byte, 0, 74*len(old))
				for _, o := range keys {
					w := old[o]
					hs := w.Heads[:min(len(w.Heads), math.MaxUint16)]
					b = append(b, o[:]...)
					b = binary.BigEndian.AppendUint64(b, uint64(w.At.UnixMilli()))
					b = binary.BigEndian.AppendUint16(b, uint16(len(hs)))
					for _, h := range hs {
						b = append(b, h[:]...)
					}
				}
				if err := tx.SetSetting(heldAtKey(p, byte(bk)), b); err != nil {
					return fmt.Errorf("note held at: %w", err)
				}
			}
		}
		return nil
	})
}
