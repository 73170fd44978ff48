package bench

import "math"

// lib0Rand is lib0's default generator (lib0/prng: Xoroshiro128+ in 32-bit
// halves, seeded through Xorshift32), so that the crdt-benchmarks scenarios
// draw the same strings and positions in Go as peers/crdt.mjs draws with
// lib0 itself in JavaScript.
type lib0Rand struct {
	s     [4]uint32
	fresh bool
}

func newLib0Rand(seed int32) *lib0Rand {
	g := &lib0Rand{fresh: true}
	x := seed
	for i := range g.s {
		x ^= x << 13
		x ^= x >> 17 // arithmetic, as JavaScript's >> on an int32
		x ^= x << 5
		f := float64(uint32(x)) / (1 << 32)
		g.s[i] = uint32(math.Floor(f * 0xFFFFFFFF))
	}
	return g
}

// next is a float64 in [0, 1).
func (g *lib0Rand) next() float64 {
	s := &g.s
	if g.fresh {
		g.fresh = false
		return float64(s[0]+s[2]) / (1 << 32)
	}
	g.fresh = true
	s0, s1 := s[0], s[1]
	s2, s3 := s[2]^s0, s[3]^s1
	s[0] = (s1<<23 | s0>>9) ^ s2 ^ (s2<<14 | s3>>18)
	s[1] = (s0<<23 | s1>>9) ^ s3 ^ (s3 << 14)
	s[2] = s3<<4 | s2>>28
	s[3] = s2<<4 | s3>>28
	return float64(s[1]+s[3]) / (1 << 32)
}

// int is prng.int32 (and uint32, int31 for non-negative bounds): an
// integer in [lo, hi].
func (g *lib0Rand) int(lo, hi int) int {
	// The conversion keeps the product rounded on its own (no fused
	// multiply-add), as JavaScript computes it.
	return int(math.Floor(float64(g.next()*float64(hi+1-lo)) + float64(lo)))
}

func (g *lib0Rand) bool() bool { return g.next() >= 0.5 }

// word is prng.word: between lo and hi letters a–z.
func (g *lib0Rand) word(lo, hi int) string {
	n := g.int(lo, hi)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.int(97, 122))
	}
	return string(b)
}
