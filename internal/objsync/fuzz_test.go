package objsync

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzStep feeds a machine that holds a few objects any sequence of
// messages a peer could send (reconciliation bytes, heads and changes of
// objects it has or not, sessions and sequence numbers out of order): the
// machine answers or refuses each with an error, never panics, and its
// answers are messages it could send.
func FuzzStep(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 1, 0, 3, 0xff, 0xfe, 0x01})
	f.Add([]byte{2, 1, 0, 1, 2, 9, 9})
	f.Add([]byte{3, 1, 0, 0, 0, 0, 2, 5, 'r', 'a', 'w', '!', 0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		st := newMem()
		var objs []ID
		for i := range 3 {
			root, raw := encode(ID{}, nil, uint64(i))
			st.receive(root, raw)
			c, craw := encode(root, []ID{root}, uint64(i))
			st.receive(c, craw)
			objs = append(objs, root)
		}
		m := New("self", st, Config{ReconcileEvery: 5, BatchBytes: 300, Window: 600, PeerWindow: 900}, func() (s [16]byte) { return s })
		if err := m.Connected("peer"); err != nil {
			t.Fatal(err)
		}
		r := bytes.NewReader(b)
		byteOf := func() byte { c, _ := r.ReadByte(); return c }
		id := func() ID {
			switch k := byteOf(); {
			case int(k) < len(objs):
				return objs[k]
			default:
				return ID{k}
			}
		}
		for r.Len() > 0 {
			msg := Message{Kind: Kind(byteOf() % 5)}
			session, _ := binary.ReadUvarint(r)
			msg.Session, msg.Seq = session, uint32(byteOf())
			switch msg.Kind {
			case Recon:
				if n := int(byteOf()); n > 0 {
					msg.Recon = make([]byte, min(n, r.Len()))
					r.Read(msg.Recon)
				}
			default:
				msg.Object = id()
				for n := byteOf() % 4; n > 0; n-- {
					msg.Heads = append(msg.Heads, id())
				}
				for n := byteOf() % 3; n > 0; n-- {
					raw := make([]byte, min(int(byteOf()), r.Len()))
					r.Read(raw)
					msg.Changes = append(msg.Changes, Change{ID: id(), Raw: raw})
				}
				msg.Held = int(byteOf())
			}
			_ = m.Step("peer", msg) // an error is a refusal: fine
			// Stored as a driver would: one Applied per object, in order.
			got := map[ID][]Outcome{}
			var order []ID
			for _, in := range m.Ready().Received {
				if _, ok := got[in.Object]; !ok {
					order = append(order, in.Object)
				}
				got[in.Object] = append(got[in.Object], st.receive(in.Change.ID, in.Change.Raw))
			}
			for _, env := range m.Ready().Messages {
				if env.To != "peer" {
					t.Fatalf("a message to %q, who is not connected", env.To)
				}
			}
			m.Advance()
			for _, obj := range order {
				_ = m.Applied("peer", obj, got[obj])
			}
			_ = m.Tick()
		}
	})
}
