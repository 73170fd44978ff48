// Package reconcile finds which objects differ between two peers by
// range-based set reconciliation (Meyer, "Range-Based Set Reconciliation",
// 2023; as in negentropy and any-sync's ldiff). Each side holds a set of
// items (object id → hash of its heads). They exchange fingerprints of
// ranges of ids, split the ranges that differ, and list the items of small
// ranges, until each side knows the ids that differ. The cost is
// O(d log n) bytes for d differences among n items.
//
// The package is pure: sessions turn messages into replies, with no I/O,
// goroutines or clock, so any transport (or a simulated network) drives it.
package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// ID is an item's key (an object id).
type ID = [32]byte

// Item is one entry of a set: an object and the hash of its heads.
type Item struct {
	ID    ID
	Value [32]byte
}

// sum is a 256-bit number, little-endian limbs; fingerprints add item
// hashes modulo 2^256, so a range's sum is a difference of prefix sums.
type sum [4]uint64

func (a sum) add(b sum) sum {
	var c sum
	var carry uint64
	for i := 0; i < 4; i++ {
		s := a[i] + b[i]
		c1 := uint64(0)
		if s < a[i] {
			c1 = 1
		}
		s2 := s + carry
		if s2 < s {
			c1 = 1
		}
		c[i], carry = s2, c1
	}
	return c
}

func (a sum) sub(b sum) sum {
	var c sum
	var borrow uint64
	for i := 0; i < 4; i++ {
		d := a[i] - b[i]
		b1 := uint64(0)
		if a[i] < b[i] {
			b1 = 1
		}
		d2 := d - borrow
		if d < borrow {
			b1 = 1
		}
		c[i], borrow = d2, b1
	}
	return c
}

func elemSum(h [32]byte) sum {
	var s sum
	for i := 0; i < 4; i++ {
		s[i] = binary.LittleEndian.Uint64(h[i*8:])
	}
	return s
}

// Set is an immutable, sorted set of items with prefix sums of their
// hashes, so the fingerprint of any range costs O(1) after a binary search.
type Set struct {
	items  []Item
	hashes [][32]byte // SHA-256(id || value) of each item
	prefix []sum      // prefix[i] = sum of hashes[:i]
}

// NewSet builds a set; later items with the same id replace earlier ones.
func NewSet(items []Item) *Set {
	its := slices.Clone(items)
	slices.SortStableFunc(its, func(a, b Item) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	// Keep the last of equal ids.
	out := its[:0]
	for i, it := range its {
		if i+1 < len(its) && its[i+1].ID == it.ID {
			continue
		}
		out = append(out, it)
	}
	s := &Set{items: out, hashes: make([][32]byte, len(out)), prefix: make([]sum, len(out)+1)}
	var buf [64]byte
	for i, it := range out {
		copy(buf[:32], it.ID[:])
		copy(buf[32:], it.Value[:])
		s.hashes[i] = sha256.Sum256(buf[:])
		s.prefix[i+1] = s.prefix[i].add(elemSum(s.hashes[i]))
	}
	return s
}

// Len is the number of items.
func (s *Set) Len() int { return len(s.items) }

// Items returns the items in id order (do not modify).
func (s *Set) Items() []Item { return s.items }

// lowerBound is the index of the first item whose id is not below bound
// (bound compared as a prefix, as on the wire: see below).
func (s *Set) lowerBound(b bound) int {
	if b.inf {
		return len(s.items)
	}
	i, _ := slices.BinarySearchFunc(s.items, b, func(it Item, b bound) int {
		return bytes.Compare(it.ID[:len(b.prefix)], b.prefix)
	})
	return i
}
