package memstore

import (
	"bytes"
	"slices"

	"mycel/internal/change"
)

// The chunk index: refs by chunk ‖ change (value: the object), refsBy by
// object ‖ chunk ‖ change, chunkHeld by heldPrefix(peer) ‖ chunk.

func (t *tx) putChunkRefs(id, object change.ID, chunks [][32]byte) {
	st := t.st
	for _, c := range chunks {
		st.refs.put(t.gen, string(c[:])+idKey(id), object)
		st.refsBy.put(t.gen, idKey(object)+string(c[:])+idKey(id), struct{}{})
	}
}

// dropChunkRefs forgets a change's references. They are found by walking
// the chunks it named, so a change record keeps its Chunks.
func (t *tx) dropChunkRefs(id, object change.ID, chunks [][32]byte) {
	st := t.st
	for _, c := range chunks {
		st.refs.del(t.gen, string(c[:])+idKey(id))
		st.refsBy.del(t.gen, idKey(object)+string(c[:])+idKey(id))
	}
}

// IndexChunks records a stored change's chunks, also in its record, so
// that a later DeleteChange finds them.
func (t *tx) IndexChunks(id, object change.ID, chunks [][32]byte) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	if c, ok := st.changes.get(idKey(id)); ok {
		m := c.meta
		m.Chunks = append(slices.Clone(m.Chunks), chunks...)
		t.putRec(&changeRec{meta: m, raw: c.raw})
	}
	t.putChunkRefs(id, object, chunks)
	return nil
}

func (t *tx) ChunkRefs(above [32]byte, limit int) ([][32]byte, error) {
	return t.ChunksNotHeld("", above, limit)
}

func (t *tx) ObjectChunks(object change.ID) ([][32]byte, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	var out [][32]byte
	p := idKey(object)
	st.refsBy.prefixed(p, func(k string, _ struct{}) bool {
		c := [32]byte([]byte(k[len(p) : len(p)+32]))
		if len(out) == 0 || out[len(out)-1] != c {
			out = append(out, c)
		}
		return true
	})
	return out, nil
}

func (t *tx) ChunkObjects(chunk [32]byte) ([]change.ID, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	var out []change.ID
	st.refs.prefixed(string(chunk[:]), func(_ string, object change.ID) bool {
		out = append(out, object)
		return true
	})
	slices.SortFunc(out, func(a, b change.ID) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out), nil
}

// ChunksNotHeld with the peer "" is ChunkRefs: no peer is named "" (and
// one would only hide chunks from the list of references).
func (t *tx) ChunksNotHeld(peer string, above [32]byte, limit int) ([][32]byte, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	var out [][32]byte
	from := after(string(above[:])) // past every key of the chunk above
	if from == "" {
		return nil, nil
	}
	hp := heldPrefix(peer)
	st.refs.ascend(from, func(k string, _ change.ID) bool {
		if len(out) >= limit {
			return false
		}
		c := [32]byte([]byte(k[:32]))
		if len(out) > 0 && out[len(out)-1] == c {
			return true
		}
		if peer == "" || !st.chunkHeld.has(hp+k[:32]) {
			out = append(out, c)
		}
		return true
	})
	return out, nil
}

func (t *tx) ChunkHeld(peer string, cs [][32]byte) ([]bool, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(cs))
	hp := heldPrefix(peer)
	for i, c := range cs {
		out[i] = st.chunkHeld.has(hp + string(c[:]))
	}
	return out, nil
}

func (t *tx) PutChunkHeld(peer string, cs [][32]byte) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	hp := heldPrefix(peer)
	for _, c := range cs {
		st.chunkHeld.put(t.gen, hp+string(c[:]), struct{}{})
	}
	return nil
}

func (t *tx) DropChunkHeld(peer string, cs [][32]byte) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	hp := heldPrefix(peer)
	for _, c := range cs {
		st.chunkHeld.del(t.gen, hp+string(c[:]))
	}
	return nil
}
