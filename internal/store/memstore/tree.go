package memstore

import "strings"

// tree is a sorted map from string keys to values of V that can be
// snapshotted for free: a treap whose committed nodes are never changed.
// A write copies the nodes on its path (O(log n) of them) and leaves every
// other node shared, so a View keeps reading the tree it started with
// while an Update builds the next one.
//
// Nodes made by the Update now running (same gen) are its own and are
// changed in place: a transaction that writes many times copies each path
// node once, not once per write. Once committed, a node's gen is never
// seen again (every Update has a new one), so it is never changed again.
type tree[V any] struct {
	root *node[V]
	n    int
}

type node[V any] struct {
	key         string
	val         V
	prio        uint64 // heap order: a parent's is at least its children's
	gen         uint64 // the Update that made this node
	left, right *node[V]
}

// priority is a function of the key, so a tree's shape depends only on
// its keys: FNV-1a, then a finalizer that spreads keys that differ in one
// byte (arrival numbers) over the whole range.
func priority(k string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(k); i++ {
		h ^= uint64(k[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// own returns n itself if the Update gen made it, else a copy made by gen.
func own[V any](n *node[V], gen uint64) *node[V] {
	if n.gen == gen {
		return n
	}
	c := *n
	c.gen = gen
	return &c
}

func (t *tree[V]) len() int { return t.n }

func (t *tree[V]) get(k string) (V, bool) {
	n := t.root
	for n != nil {
		switch c := strings.Compare(k, n.key); {
		case c < 0:
			n = n.left
		case c > 0:
			n = n.right
		default:
			return n.val, true
		}
	}
	var zero V
	return zero, false
}

func (t *tree[V]) has(k string) bool {
	_, ok := t.get(k)
	return ok
}

// put sets k to v.
func (t *tree[V]) put(gen uint64, k string, v V) {
	var added bool
	t.root, added = insert(t.root, gen, k, v, priority(k))
	if added {
		t.n++
	}
}

func insert[V any](n *node[V], gen uint64, k string, v V, p uint64) (*node[V], bool) {
	if n == nil {
		return &node[V]{key: k, val: v, prio: p, gen: gen}, true
	}
	if k == n.key {
		c := own(n, gen)
		c.val = v
		return c, false
	}
	if p > n.prio {
		// k belongs above n, and is not below it: every key below n has a
		// priority of at most n's.
		l, r := split(n, gen, k)
		return &node[V]{key: k, val: v, prio: p, gen: gen, left: l, right: r}, true
	}
	c := own(n, gen)
	var added bool
	if k < n.key {
		c.left, added = insert(c.left, gen, k, v, p)
	} else {
		c.right, added = insert(c.right, gen, k, v, p)
	}
	return c, added
}

// split divides n into the keys below k and those above (k is not in n).
func split[V any](n *node[V], gen uint64, k string) (*node[V], *node[V]) {
	if n == nil {
		return nil, nil
	}
	c := own(n, gen)
	if k < n.key {
		l, r := split(c.left, gen, k)
		c.left = r
		return l, c
	}
	l, r := split(c.right, gen, k)
	c.right = l
	return c, r
}

// del removes k, if there.
func (t *tree[V]) del(gen uint64, k string) {
	if !t.has(k) {
		return // nothing copied for nothing
	}
	t.root = remove(t.root, gen, k)
	t.n--
}

func remove[V any](n *node[V], gen uint64, k string) *node[V] {
	switch c := strings.Compare(k, n.key); {
	case c < 0:
		o := own(n, gen)
		o.left = remove(o.left, gen, k)
		return o
	case c > 0:
		o := own(n, gen)
		o.right = remove(o.right, gen, k)
		return o
	default:
		return merge(n.left, n.right, gen)
	}
}

// merge joins a and b, every key of a below every key of b.
func merge[V any](a, b *node[V], gen uint64) *node[V] {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio >= b.prio:
		c := own(a, gen)
		c.right = merge(c.right, b, gen)
		return c
	default:
		c := own(b, gen)
		c.left = merge(a, c.left, gen)
		return c
	}
}

// ascend calls f on each key from the first at or after from, in order,
// until f returns false.
func (t *tree[V]) ascend(from string, f func(k string, v V) bool) {
	ascend(t.root, from, f)
}

func ascend[V any](n *node[V], from string, f func(string, V) bool) bool {
	for n != nil {
		if from <= n.key {
			if !ascend(n.left, from, f) || !f(n.key, n.val) {
				return false
			}
		}
		n = n.right
	}
	return true
}

// prefixed calls f on each key that starts with prefix, in order, until f
// returns false.
func (t *tree[V]) prefixed(prefix string, f func(k string, v V) bool) {
	t.ascend(prefix, func(k string, v V) bool {
		return strings.HasPrefix(k, prefix) && f(k, v)
	})
}

// first is the least key at or after from.
func (t *tree[V]) first(from string) (string, V, bool) {
	var (
		key string
		val V
		ok  bool
	)
	t.ascend(from, func(k string, v V) bool {
		key, val, ok = k, v, true
		return false
	})
	return key, val, ok
}

// last is the greatest key.
func (t *tree[V]) last() (string, V, bool) {
	n := t.root
	if n == nil {
		var zero V
		return "", zero, false
	}
	for n.right != nil {
		n = n.right
	}
	return n.key, n.val, true
}

// after is the least string greater than every string starting with p
// ("" when there is none: p is all 0xff).
func after(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// distinctPrefixes lists the distinct first n bytes of the keys, in
// order, seeking past each rather than visiting every key under it.
func (t *tree[V]) distinctPrefixes(n int) []string {
	var out []string
	from := ""
	for {
		k, _, ok := t.first(from)
		if !ok || len(k) < n {
			return out
		}
		out = append(out, k[:n])
		if from = after(k[:n]); from == "" {
			return out
		}
	}
}
