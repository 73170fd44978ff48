package crdt

import (
	"errors"
	"fmt"
	"sort"
)

// counterRange is the counters lo..hi (inclusive) of one actor.
type counterRange struct{ lo, hi uint64 }

// rangeSet holds the counters an actor has used in a document: sorted,
// disjoint ranges, adjacent ones merged. An actor's changes usually come in
// counter order, so adding is an append; but two changes by one device can
// be concurrent (an edit built on the state the person saw, while another
// edit by the same device was stored meanwhile) and arrive in either order,
// so a later change may fill a gap below the actor's greatest counter.
// What must never happen is two changes using the same counter: that is
// what overlaps reports, whatever the order they came in.
type rangeSet []counterRange

// overlaps reports whether any counter in lo..hi is used.
func (r rangeSet) overlaps(lo, hi uint64) bool {
	// First range ending at or after lo.
	i := sort.Search(len(r), func(i int) bool { return r[i].hi >= lo })
	return i < len(r) && r[i].lo <= hi
}

// add returns the set with lo..hi marked used; it must not overlap. (It
// returns the set rather than changing it through a pointer, so that the
// set in a map entry stays off the heap on the usual path.)
func (s rangeSet) add(lo, hi uint64) rangeSet {
	if n := len(s); n == 0 || s[n-1].hi < lo {
		if n > 0 && s[n-1].hi+1 == lo {
			s[n-1].hi = hi
		} else {
			s = append(s, counterRange{lo, hi})
		}
		return s
	}
	i := sort.Search(len(s), func(i int) bool { return s[i].lo > hi })
	// s[i-1] ends before lo (no overlap), s[i] starts after hi.
	joinLeft := i > 0 && s[i-1].hi+1 == lo
	joinRight := i < len(s) && hi+1 == s[i].lo
	switch {
	case joinLeft && joinRight:
		s[i-1].hi = s[i].hi
		s = append(s[:i], s[i+1:]...)
	case joinLeft:
		s[i-1].hi = hi
	case joinRight:
		s[i].lo = lo
	default:
		s = append(s, counterRange{})
		copy(s[i+1:], s[i:])
		s[i] = counterRange{lo, hi}
	}
	return s
}

// OverlapError is returned by Apply for a change that uses counters its
// author has already used in another change: two stores are writing with
// one device key (a copied data folder), and the two changes cannot both
// be part of one state.
type OverlapError struct {
	Actor      string
	Start, End uint64
}

func (e *OverlapError) Error() string {
	return fmt.Sprintf("change by %s uses counters %d to %d, which another change by the same device already used (two copies of one device are writing)", short(e.Actor), e.Start, e.End)
}

// IsOverlap reports whether err is an OverlapError.
func IsOverlap(err error) bool {
	var oe *OverlapError
	return errors.As(err, &oe)
}

// stamp is an actor's greatest counter among some ops.
type stamp struct {
	act uint32
	ctr uint64
}

// stamps is a small version vector: per actor (sorted by actor index), the
// greatest counter of the ops it covers. Blocks keep one of the ops made
// on them; a block delete keeps one of the ops it saw, so that an edit the
// delete did not see makes the delete void (see block.deleted).
type stamps []stamp

// note raises act's counter to at least ctr.
func (s *stamps) note(act uint32, ctr uint64) {
	v := *s
	i := 0 // a handful of actors: a scan beats a search (and allocates nothing)
	for i < len(v) && v[i].act < act {
		i++
	}
	if i < len(v) && v[i].act == act {
		if ctr > v[i].ctr {
			v[i].ctr = ctr
		}
		return
	}
	v = append(v, stamp{})
	copy(v[i+1:], v[i:])
	v[i] = stamp{act, ctr}
	*s = v
}

// merge raises s to cover o.
func (s *stamps) merge(o stamps) {
	for _, x := range o {
		s.note(x.act, x.ctr)
	}
}

// covers reports whether every op o stands for is within s.
func (s stamps) covers(o stamps) bool {
	j := 0
	for _, x := range o {
		for j < len(s) && s[j].act < x.act {
			j++
		}
		if j == len(s) || s[j].act != x.act || s[j].ctr < x.ctr {
			return false
		}
	}
	return true
}
