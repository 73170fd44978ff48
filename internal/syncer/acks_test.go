package syncer_test

import (
	"crypto/ed25519"
	"slices"
	"sync"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/nodeack"
	"mycel/internal/objsync"
	"mycel/internal/pb"
	"mycel/internal/syncer"
)

// words records what a device's AckHooks were given.
type words struct {
	mu              sync.Mutex
	verified, check []syncer.Ack
}

func (w *words) checked() []syncer.Ack {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]syncer.Ack(nil), w.check...)
}

// hooks verify the words of peer "node" with pub, and keep nothing else.
func (w *words) hooks(pub ed25519.PublicKey, vault []byte, pass func(objsync.PeerID) []syncer.Ack) syncer.AckHooks {
	return syncer.AckHooks{
		Verify: func(a syncer.Ack) (bool, error) {
			if a.Node != "node" {
				return false, nil
			}
			if err := nodeack.Verify(pub, vault, a.Ack); err != nil {
				return false, err
			}
			w.mu.Lock()
			w.verified = append(w.verified, a)
			w.mu.Unlock()
			return true, nil
		},
		Check: func(as []syncer.Ack) {
			w.mu.Lock()
			w.check = append(w.check, as...)
			w.mu.Unlock()
		},
		For: pass,
	}
}

// A node signs every Heads and Changes it sends; the device verifies each
// word in its reader and, after a tick, is given them to judge, in order;
// what it passes on reaches another device, which verifies it as the
// node's.
func TestNodeSignsAndDevicesPassOn(t *testing.T) {
	f := newFixture(t)
	obj := f.object(4)
	root, head := obj[0].ID, obj[len(obj)-1].ID
	vault := f.e.VaultID()
	pub, key, _ := ed25519.GenerateKey(nil)

	nodeClock, devClock, phoneClock := syncer.NewFakeClock(), syncer.NewFakeClock(), syncer.NewFakeClock()
	nodeCfg := config(nodeClock)
	nodeCfg.AckSigner = &syncer.AckSigner{Key: key, Vault: vault[:]}
	nodeSvc := start(t, "node", f.holding(obj), nil, nodeCfg)

	var dev, phone words
	devCfg := config(devClock)
	devCfg.Acks = dev.hooks(pub, vault[:], func(p objsync.PeerID) []syncer.Ack {
		if p != "phone" {
			return nil
		}
		return dev.checked()
	})
	devSvc := start(t, "device", f.vault(), nil, devCfg)
	phoneCfg := config(phoneClock)
	phoneCfg.Acks = phone.hooks(pub, vault[:], nil)
	phoneSvc := start(t, "phone", f.vault(), nil, phoneCfg)

	a, b := pipe()
	nodeSvc.Attach("device", a)
	devSvc.Attach("node", b)
	eventually(t, "the device to get the object", func() bool {
		pos, err := devSvc.Object(t.Context(), root)
		return err == nil && len(pos) == 1 && pos[0].HasMine
	})
	var got []syncer.Ack
	eventually(t, "the node's words checked", func() bool {
		devClock.Advance(time.Second)
		got = dev.checked()
		return len(got) > 0 && slices.Contains(got[len(got)-1].Heads, head)
	})
	for i, a := range got {
		if a.Node != "node" || a.Via != "" || a.Object != root || len(a.Sig) != ed25519.SignatureSize {
			t.Fatalf("word %d: %+v", i, a)
		}
		if i > 0 && a.Time < got[i-1].Time {
			t.Fatalf("the node's words go back in time: %d then %d", got[i-1].Time, a.Time)
		}
	}

	c, d := pipe()
	devSvc.Attach("phone", c)
	phoneSvc.Attach("device", d)
	eventually(t, "the phone to be passed the node's words", func() bool {
		phoneClock.Advance(time.Second)
		for _, a := range phone.checked() {
			if a.Via == "device" && a.Node == "node" && slices.Contains(a.Heads, head) {
				return true
			}
		}
		return false
	})
}

// A word the device's Verify refuses (a node's Heads it did not sign)
// drops the connection before the machine takes it: the device does not
// believe the node holds anything.
func TestUnsignedNodeWordDropsTheConnection(t *testing.T) {
	f := newFixture(t)
	obj := f.object(2)
	root, head := obj[0].ID, obj[1].ID
	vault := f.e.VaultID()
	pub, _, _ := ed25519.GenerateKey(nil)
	var dev words
	cfg := config(syncer.NewFakeClock())
	cfg.Acks = dev.hooks(pub, vault[:], nil)
	svc := start(t, "device", f.holding(obj), nil, cfg)
	mine, theirs := pipe()
	node := newRawPeer(mine, &eventLog{}, "node", true)
	done := svc.Attach("node", theirs)
	node.send(objsync.Message{Kind: objsync.Heads, Object: root, Heads: []objsync.ID{head}})
	eventually(t, "the connection dropped", func() bool { return closed(done) })
	if pos, err := svc.Object(t.Context(), root); err != nil || len(pos) == 1 && pos[0].HasMine {
		t.Fatalf("the unsigned word was taken: %+v %v", pos, err)
	}
}

// A NodeAcks frame of too many words drops the connection; one whose
// words are malformed too.
func TestPassedWordsAreBounded(t *testing.T) {
	f := newFixture(t)
	vault := f.e.VaultID()
	pub, _, _ := ed25519.GenerateKey(nil)
	for name, frame := range map[string]*pb.NodeAcks{
		"too many":  {Acks: make([]*pb.NodeAck, syncer.MaxPassed+1)},
		"bad id":    {Acks: []*pb.NodeAck{{Node: []byte("node"), Object: []byte{1, 2}}}},
		"bad heads": {Acks: []*pb.NodeAck{{Node: []byte("node"), Object: make([]byte, 32), Heads: [][]byte{{1}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			for i := range frame.Acks {
				if frame.Acks[i] == nil {
					frame.Acks[i] = &pb.NodeAck{Node: []byte("node"), Object: make([]byte, 32)}
				}
			}
			var dev words
			cfg := config(syncer.NewFakeClock())
			cfg.Acks = dev.hooks(pub, vault[:], nil)
			svc := start(t, "device", f.vault(), nil, cfg)
			mine, theirs := pipe()
			newRawPeer(mine, &eventLog{}, "phone", true)
			done := svc.Attach("phone", theirs)
			if err := mine.WriteFrame(&pb.Frame{Body: &pb.Frame_NodeAcks{NodeAcks: frame}}); err == nil {
				mine.Flush()
			}
			eventually(t, "the connection dropped", func() bool { return closed(done) })
		})
	}
}

// The cost a node's writer pays for a Heads message, signed or not (one
// head, as after each stored batch of a line of edits): the signature is
// the ack path's only addition.
func BenchmarkHeadsFrame(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(nil)
	m := objsync.Message{Kind: objsync.Heads, Object: objsync.ID{1}, Heads: []objsync.ID{{2}}}
	for _, c := range []struct {
		name string
		cfg  syncer.Config
	}{{"unsigned", syncer.Config{}}, {"signed", syncer.Config{AckSigner: &syncer.AckSigner{Key: key, Vault: make([]byte, 32)}}}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				syncer.SignedFrame(c.cfg, m)
			}
		})
	}
}

// A node's Heads of an object removed at a member's request name no heads,
// whatever the machine found before the removal, and carry the request;
// once the object is back, its Heads name what the node holds and still
// carry the request (why it once dropped them). A Heads queued before a
// removal and a restore names none either: what it found is gone.
func TestRemovedObjectsHeadsCarryTheRequest(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	vault := make([]byte, 32)
	req := &pb.RemoveObject{Object: make([]byte, 32), TimeMs: 7}
	removed, gen := true, uint64(1)
	cfg := syncer.Config{AckSigner: &syncer.AckSigner{Key: key, Vault: vault,
		Removal: func(change.ID) (*pb.RemoveObject, bool, uint64) { return req, removed, gen }}}
	m := objsync.Message{Kind: objsync.Heads, Object: objsync.ID{1}, Heads: []objsync.ID{{2}}}
	for _, back := range []bool{false, true} {
		removed = !back
		s := syncer.SignedFrame(cfg, m).GetSync()
		want := 0
		if back {
			want = 1
		}
		if len(s.Heads) != want || s.Removal != req {
			t.Fatalf("back %v: heads %x, removal %v", back, s.Heads, s.Removal)
		}
		a := nodeack.Ack{Object: [32]byte{1}, Time: s.AckTimeMs, Sig: s.AckSignature}
		if back {
			a.Heads = append(a.Heads, [32]byte{2})
		}
		if err := nodeack.Verify(pub, vault, a); err != nil {
			t.Fatalf("back %v: the word does not verify as sent: %v", back, err)
		}
	}
	// Queued at gen 1 (removed), written at gen 2 (restored since).
	gen = 2
	if s := syncer.QueuedFrame(cfg, m, 1).GetSync(); len(s.Heads) != 0 || s.Removal != req {
		t.Fatalf("queued before a restore: heads %x", s.Heads)
	}
	if s := syncer.QueuedFrame(cfg, m, 2).GetSync(); len(s.Heads) != 1 {
		t.Fatalf("queued after it: heads %x", s.Heads)
	}
}
