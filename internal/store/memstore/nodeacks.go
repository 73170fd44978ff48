package memstore

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"mycel/internal/change"
	"mycel/internal/store"
)

func (t *tx) PutNodeAck(a store.NodeAck) error {
	st, err := t.w()
	if err != nil {
		return err
	}
	a.Heads = slices.Clone(a.Heads)
	slices.SortFunc(a.Heads, func(x, y change.ID) int { return bytes.Compare(x[:], y[:]) })
	a.Sig, a.Removal = slices.Clone(a.Sig), slices.Clone(a.Removal)
	st.nodeAcks.put(t.gen, heldKey(a.Node, a.Object), a)
	return nil
}

// copyAck hands out a kept acknowledgement: its slices are the caller's.
func copyAck(a store.NodeAck) store.NodeAck {
	a.Heads, a.Sig, a.Removal = slices.Clone(a.Heads), slices.Clone(a.Sig), slices.Clone(a.Removal)
	return a
}

func (t *tx) NodeAck(node string, object change.ID) (store.NodeAck, error) {
	st, err := t.r()
	if err != nil {
		return store.NodeAck{}, err
	}
	a, ok := st.nodeAcks.get(heldKey(node, object))
	if !ok {
		return a, fmt.Errorf("node ack of %s: %w", object.Short(), store.ErrNotFound)
	}
	return copyAck(a), nil
}

func (t *tx) NodeAcks(limit int) ([]store.NodeAck, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	var out []store.NodeAck
	st.nodeAcks.ascend("", func(_ string, a store.NodeAck) bool { out = append(out, copyAck(a)); return true })
	slices.SortStableFunc(out, func(a, b store.NodeAck) int {
		return cmp.Or(cmp.Compare(b.Time, a.Time), cmp.Compare(a.Node, b.Node), bytes.Compare(a.Object[:], b.Object[:]))
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (t *tx) NodeLies() ([]store.NodeAck, error) {
	st, err := t.r()
	if err != nil {
		return nil, err
	}
	var out []store.NodeAck
	st.nodeAcks.ascend("", func(_ string, a store.NodeAck) bool {
		if a.Lied != 0 {
			out = append(out, copyAck(a))
		}
		return true
	})
	slices.SortFunc(out, func(a, b store.NodeAck) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), bytes.Compare(a.Object[:], b.Object[:]))
	})
	return out, nil
}
