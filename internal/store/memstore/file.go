package memstore

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"os"

	"mycel/internal/change"
	"mycel/internal/store"
)

// fileMagic starts a file CopyTo writes; the number is its format.
const fileMagic = "mycel memstore 1"

// image is a whole store, for a file: every table in its order, and the
// counters, so that a store read back goes on numbering where it was.
type image struct {
	Magic              string
	LastSeq, LastOrder int64
	Settings           map[string][]byte
	Changes            []imageChange // in arrival order
	Heads              map[change.ID][]change.ID
	Objects            []imageObject
	Parked             []imageParked // in the order parked
	Members            [][]byte      // in the order stored
	Snapshots          map[change.ID]store.Snapshot
	Held               map[string]map[change.ID][32]byte
	Damaged            []imageDamaged // in the order quarantined
	ChunkRefs          []imageRef     // the changes' own, and those of damaged ones
	ChunkHeld          map[string][][32]byte
	NodeAcks           []store.NodeAck
}

type imageRef struct{ Chunk, Change, Object [32]byte }

type imageChange struct {
	Meta store.ChangeMeta
	Raw  []byte
}

type imageObject struct {
	Row     store.Object
	Indexed bool
	Title   string // as indexed
	Body    string
	Tags    []string
}

type imageParked struct {
	Meta  store.ChangeMeta
	Raw   []byte
	Order int64
}

type imageDamaged struct {
	Damaged store.Damaged
	Order   int64
}

// CopyTo writes the state committed when it is called to a new file at
// path (gob: Load reads it), made readable by its owner only, while others
// go on reading and writing. With CiphertextOnly the rows keep no title or
// snippet and are marked text-stale, and no search text is written.
func (s *Store) CopyTo(ctx context.Context, path string, opt store.CopyOptions) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	img := s.cur.Load().image(opt)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy store: %w", err)
	}
	w := bufio.NewWriter(f)
	err = gob.NewEncoder(w).Encode(img)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("copy store: %w", err)
	}
	return nil
}

func (st *state) image(opt store.CopyOptions) *image {
	img := &image{Magic: fileMagic, LastSeq: st.lastSeq, LastOrder: st.lastOrder, Settings: map[string][]byte{},
		Heads: map[change.ID][]change.ID{}, Snapshots: map[change.ID]store.Snapshot{}, Held: map[string]map[change.ID][32]byte{}}
	st.settings.ascend("", func(k string, v []byte) bool { img.Settings[k] = v; return true })
	st.bySeq.ascend("", func(_ string, c *changeRec) bool {
		img.Changes = append(img.Changes, imageChange{c.meta, c.raw})
		return true
	})
	st.heads.ascend("", func(k string, h []change.ID) bool { img.Heads[keyID(k)] = h; return true })
	st.objects.ascend("", func(_ string, rec *objectRec) bool {
		o := imageObject{Row: rec.row}
		if rec.text != nil {
			o.Indexed, o.Title, o.Body, o.Tags = true, rec.text.title, rec.text.body, rec.text.tags
		}
		if opt.CiphertextOnly {
			o.Row.Title, o.Row.Snippet, o.Row.TextStale = "", "", true
			o.Row.Archived, o.Row.Deleted = false, false
			o.Indexed, o.Title, o.Body, o.Tags = false, "", "", nil
		}
		img.Objects = append(img.Objects, o)
		return true
	})
	st.parkedBy.ascend("", func(_ string, p *parkedRec) bool {
		img.Parked = append(img.Parked, imageParked{p.meta, p.raw, p.order})
		return true
	})
	st.members.ascend("", func(_ string, r []byte) bool { img.Members = append(img.Members, r); return true })
	st.snapshots.ascend("", func(k string, sn store.Snapshot) bool { img.Snapshots[keyID(k)] = sn; return true })
	st.held.ascend("", func(k string, h [32]byte) bool {
		n, l := uvarint(k)
		peer := k[l : l+n]
		if img.Held[peer] == nil {
			img.Held[peer] = map[change.ID][32]byte{}
		}
		img.Held[peer][keyID(k[l+n:])] = h
		return true
	})
	st.damagedBy.ascend("", func(_ string, d *damagedRec) bool {
		img.Damaged = append(img.Damaged, imageDamaged{d.d, d.order})
		return true
	})
	st.refs.ascend("", func(k string, o change.ID) bool {
		img.ChunkRefs = append(img.ChunkRefs, imageRef{[32]byte([]byte(k[:32])), [32]byte([]byte(k[32:])), o})
		return true
	})
	img.ChunkHeld = map[string][][32]byte{}
	st.chunkHeld.ascend("", func(k string, _ struct{}) bool {
		n, l := uvarint(k)
		peer := k[l : l+n]
		img.ChunkHeld[peer] = append(img.ChunkHeld[peer], [32]byte([]byte(k[l+n:])))
		return true
	})
	st.nodeAcks.ascend("", func(_ string, a store.NodeAck) bool { img.NodeAcks = append(img.NodeAcks, a); return true })
	return img
}

// Load reads a store from a file CopyTo wrote.
func Load(path string) (*Store, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load store: %w", err)
	}
	defer f.Close()
	var img image
	if err := gob.NewDecoder(bufio.NewReader(f)).Decode(&img); err != nil || img.Magic != fileMagic {
		if err == nil {
			err = errors.New("not a memstore file of this format")
		}
		return nil, fmt.Errorf("load store %s: %w", path, err)
	}
	s := New()
	s.gen = 1
	st := &state{lastSeq: img.LastSeq, lastOrder: img.LastOrder}
	t := &tx{st: st, gen: s.gen}
	for k, v := range img.Settings {
		st.settings.put(t.gen, k, v)
	}
	for _, c := range img.Changes {
		t.putRec(&changeRec{meta: c.Meta, raw: c.Raw})
	}
	for o, h := range img.Heads {
		st.heads.put(t.gen, idKey(o), h)
	}
	for _, o := range img.Objects {
		rec := &objectRec{row: o.Row}
		if o.Indexed {
			rec.text = newIndexed(o.Title, o.Body, o.Tags)
		}
		st.objects.put(t.gen, idKey(o.Row.ID), rec)
	}
	for _, p := range img.Parked {
		rec := &parkedRec{meta: p.Meta, raw: p.Raw, order: p.Order}
		st.parked.put(t.gen, idKey(p.Meta.ID), rec)
		st.parkedBy.put(t.gen, idKey(p.Meta.Object)+seqKey(p.Order), rec)
	}
	// Members get their order numbers again: only their order is kept.
	for i, r := range img.Members {
		h := sha256Key(r)
		st.memberHash.put(t.gen, h, struct{}{})
		st.members.put(t.gen, seqKey(int64(i+1)), r)
	}
	for o, sn := range img.Snapshots {
		st.snapshots.put(t.gen, idKey(o), sn)
	}
	for peer, hs := range img.Held {
		for o, h := range hs {
			st.held.put(t.gen, heldKey(peer, o), h)
		}
	}
	for _, d := range img.Damaged {
		rec := &damagedRec{d: d.Damaged, order: d.Order}
		st.damaged.put(t.gen, idKey(d.Damaged.ID), rec)
		st.damagedBy.put(t.gen, idKey(d.Damaged.Object)+seqKey(d.Order), rec)
	}
	for _, r := range img.ChunkRefs {
		t.putChunkRefs(r.Change, r.Object, [][32]byte{r.Chunk})
	}
	for peer, cs := range img.ChunkHeld {
		hp := heldPrefix(peer)
		for _, c := range cs {
			st.chunkHeld.put(t.gen, hp+string(c[:]), struct{}{})
		}
	}
	for _, a := range img.NodeAcks {
		st.nodeAcks.put(t.gen, heldKey(a.Node, a.Object), a)
	}
	s.cur.Store(st)
	return s, nil
}
