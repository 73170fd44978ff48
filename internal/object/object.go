// Package object holds what is true of an object's history regardless of
// where it is stored: the deterministic order of its changes, its versions
// (what `history` shows) and when to write a snapshot. It is pure.
package object

import (
	"bytes"
	"container/heap"
	"time"

	"mycel/internal/change"
	"mycel/internal/store"
)

// Order returns an object's changes in a topological order that every device
// computes alike from the same set: among the changes whose parents are
// placed, the one with the least (Lamport counter, id) goes next. Changes
// whose parents are not in the set are left out.
func Order(metas []store.ChangeMeta) []store.ChangeMeta {
	byID := make(map[change.ID]int, len(metas))
	for i, m := range metas {
		byID[m.ID] = i
	}
	waiting := make([]int, len(metas))
	children := make([][]int, len(metas))
	h := &readyHeap{metas: metas}
	for i, m := range metas {
		for _, p := range m.Parents {
			if j, ok := byID[p]; ok {
				waiting[i]++
				children[j] = append(children[j], i)
			} else {
				waiting[i] = -1 << 30 // a parent is missing: never ready
			}
		}
		if waiting[i] == 0 {
			h.idx = append(h.idx, i)
		}
	}
	heap.Init(h)
	out := make([]store.ChangeMeta, 0, len(metas))
	for h.Len() > 0 {
		i := heap.Pop(h).(int)
		out = append(out, metas[i])
		for _, c := range children[i] {
			if waiting[c]--; waiting[c] == 0 {
				heap.Push(h, c)
			}
		}
	}
	return out
}

type readyHeap struct {
	metas []store.ChangeMeta
	idx   []int
}

func (h *readyHeap) Len() int { return len(h.idx) }
func (h *readyHeap) Less(a, b int) bool {
	x, y := &h.metas[h.idx[a]], &h.metas[h.idx[b]]
	if x.Lamport != y.Lamport {
		return x.Lamport < y.Lamport
	}
	return bytes.Compare(x.ID[:], y.ID[:]) < 0
}
func (h *readyHeap) Swap(a, b int) { h.idx[a], h.idx[b] = h.idx[b], h.idx[a] }
func (h *readyHeap) Push(x any)    { h.idx = append(h.idx, x.(int)) }
func (h *readyHeap) Pop() any {
	n := len(h.idx) - 1
	x := h.idx[n]
	h.idx = h.idx[:n]
	return x
}

// IdleGap ends a version: a device's edits more than this apart are two.
const IdleGap = 5 * time.Minute

// Version is a group of consecutive changes by one device.
type Version struct {
	N       int // 1-based
	Author  []byte
	Start   time.Time
	End     time.Time
	Changes int
	// Upto is how many changes of the ordered history make up the object
	// at this version (a prefix of a topological order is causally closed).
	Upto int
	// Merged: at this version, edits made concurrently (on different
	// devices, or on different versions of one) came together: one of its
	// changes was made on several heads, or the object had several heads
	// after it.
	Merged bool
}

// Versions groups an ordered history (from Order) into versions: a device's
// consecutive changes, until it pauses for IdleGap or a change is marked
// as starting a version (a restore). The root and snapshot changes carry no
// edits and open no version.
func Versions(ordered []store.ChangeMeta) []Version {
	var out []Version
	heads := map[change.ID]bool{}
	for i, m := range ordered {
		for _, p := range m.Parents {
			delete(heads, p)
		}
		heads[m.ID] = true
		if m.ID == m.Object || m.Snapshot || m.Inert {
			if len(out) > 0 {
				out[len(out)-1].Upto = i + 1
			}
			continue
		}
		merged := len(m.Parents) > 1 || len(heads) > 1
		if n := len(out); n > 0 {
			v := &out[n-1]
			if !m.NewVersion && bytes.Equal(v.Author, m.Author) && m.Time.Sub(v.End) <= IdleGap && !m.Time.Before(v.Start) {
				v.End = m.Time
				v.Changes++
				v.Upto = i + 1
				v.Merged = v.Merged || merged
				continue
			}
		}
		out = append(out, Version{N: len(out) + 1, Author: m.Author, Start: m.Time, End: m.Time, Changes: 1, Upto: i + 1, Merged: merged})
	}
	return out
}

// SnapshotPolicy says when a device writes a snapshot change, so opening an
// object reads one snapshot and a bounded tail instead of all history.
type SnapshotPolicy struct {
	// MinChanges since the last snapshot before another is worth writing.
	MinChanges int
	// MaxChanges since the last snapshot after which one is always written.
	MaxChanges int
	// MinBytes of changes since the last snapshot after which fewer than
	// MinChanges are enough: a page imported or pasted in one big change
	// would otherwise replay it on every open (0: no such rule).
	MinBytes int
}

// DefaultSnapshotPolicy writes a snapshot once the changes since the last
// one outweigh it (so snapshots at most double the history's size, and the
// tail replayed on open is no bigger than the snapshot), and at least every
// 1,000 changes; fewer than 32 changes only once they hold 64 KiB.
var DefaultSnapshotPolicy = SnapshotPolicy{MinChanges: 32, MaxChanges: 1000, MinBytes: 64 << 10}

// Due reports whether a snapshot should be written, given the changes and
// bytes since the last snapshot and that snapshot's size (0 when none).
func (p SnapshotPolicy) Due(changesSince, bytesSince, snapshotSize int) bool {
	if changesSince == 0 {
		return false
	}
	if changesSince < p.MinChanges && (p.MinBytes == 0 || bytesSince < p.MinBytes) {
		return false
	}
	return changesSince >= p.MaxChanges || bytesSince >= snapshotSize
}
