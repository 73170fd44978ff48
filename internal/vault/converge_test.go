package vault

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/keys"
	"mycel/internal/markdown"
	"mycel/internal/store"
	"mycel/internal/store/memstore"
)

// Three devices of one vault edit an object and exchange its changes, as
// signed, sealed bytes, in random order (children before parents included,
// so changes park and unpark) with duplicates. At the end every device holds
// the same state. This runs the whole engine: crypto, store, parking, cache.
func TestEnginesConverge(t *testing.T) {
	base := t.TempDir()
	run, parked := 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		run++
		dir := filepath.Join(base, fmt.Sprint(run))
		a, phrase, err := Init(ctx, filepath.Join(dir, "a"), "a")
		if err != nil {
			rt.Fatal(err)
		}
		engines := []*Engine{a}
		for i := 1; i < 3; i++ {
			e, err := Recover(ctx, filepath.Join(dir, fmt.Sprint(i)), phrase, fmt.Sprint(i))
			if err != nil {
				rt.Fatal(err)
			}
			engines = append(engines, e)
		}
		defer func() {
			for _, e := range engines {
				e.Close()
			}
		}()
		var records [][]byte
		for _, e := range engines {
			r, _ := e.MemberRecords(ctx)
			records = append(records, r...)
		}
		for _, e := range engines {
			if err := e.AddMemberRecords(ctx, records); err != nil {
				rt.Fatal(err)
			}
		}
		id, err := a.Create(ctx, NewPage{Details: map[string]string{"title": "T"}, Blocks: markdown.Parse("alpha beta\n\n- one\n- two\n")})
		if err != nil {
			rt.Fatal(err)
		}
		// pool: every change made so far, by id.
		pool := map[change.ID][]byte{}
		collect := func(e *Engine) {
			ids, raws, _ := e.Changes(ctx, id)
			for i := range ids {
				pool[ids[i]] = raws[i]
			}
		}
		collect(a)
		deliverSome := func(e *Engine, all bool) {
			var ids []change.ID
			for k := range pool {
				ids = append(ids, k)
			}
			// Map order is random; sort so rapid controls the order.
			sortIDs(ids)
			for len(ids) > 0 {
				if !all && !rapid.Bool().Draw(rt, "more") {
					return
				}
				i := rapid.IntRange(0, len(ids)-1).Draw(rt, "which")
				out, err := e.Receive(ctx, ids[i], pool[ids[i]])
				if err != nil {
					rt.Fatalf("receive: %v", err)
				}
				if out == Parked {
					parked++
				}
				if rapid.IntRange(0, 5).Draw(rt, "dup") == 0 {
					e.Receive(ctx, ids[i], pool[ids[i]])
				} else {
					ids = append(ids[:i], ids[i+1:]...)
				}
			}
		}
		// Device 1 and 2 receive the object before editing it.
		deliverSome(engines[1], true)
		deliverSome(engines[2], true)
		words := []string{"alpha", "beta", "gamma", "one", "two", "three", "- four", "# Head", "> quote", "  - nested"}
		seen := map[*Engine][][]change.ID{} // heads each device has shown
		steps := rapid.IntRange(1, 8).Draw(rt, "steps")
		for s := 0; s < steps; s++ {
			e := engines[rapid.IntRange(0, 2).Draw(rt, "device")]
			if rapid.IntRange(0, 2).Draw(rt, "action") == 0 {
				deliverSome(e, false)
				continue
			}
			o, err := e.Get(ctx, id)
			if err != nil {
				rt.Fatal(err)
			}
			if o.Parked > 0 {
				continue // an incomplete object is not edited in this test
			}
			seen[e] = append(seen[e], o.Heads)
			// Often the edit is made on a version shown earlier (an editor
			// left open while changes came in): it must merge, not undo.
			opts := EditOptions{NewVersion: true}
			if h := seen[e]; rapid.Bool().Draw(rt, "old base") {
				opts.Base = h[rapid.IntRange(0, len(h)-1).Draw(rt, "base")]
			}
			if rapid.IntRange(0, 5).Draw(rt, "bin") == 0 {
				if o.Details["deleted"] == "true" {
					_, err = e.Undelete(ctx, id)
				} else {
					_, err = e.Delete(ctx, id)
				}
				if err != nil {
					rt.Fatal(err)
				}
				collect(e)
				continue
			}
			var md bytes.Buffer
			for n := rapid.IntRange(1, 4).Draw(rt, "blocks"); n > 0; n-- {
				md.WriteString(words[rapid.IntRange(0, len(words)-1).Draw(rt, "word")] + " " + words[rapid.IntRange(0, len(words)-1).Draw(rt, "word")] + "\n\n")
			}
			if _, err := e.Edit(ctx, id, opts, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse(md.String())); return nil }); err != nil {
				rt.Fatal(err)
			}
			collect(e)
		}
		for _, e := range engines {
			deliverSome(e, true)
		}
		var want []byte
		var wantDetails map[string]string
		for i, e := range engines {
			o, err := e.Get(ctx, id)
			if err != nil {
				rt.Fatal(err)
			}
			if o.Parked != 0 {
				rt.Fatalf("device %d: %d changes still parked after receiving everything", i, o.Parked)
			}
			st := o.Doc.MarshalState()
			if i == 0 {
				want, wantDetails = st, o.Details
			} else if !maps.Equal(o.Details, wantDetails) {
				rt.Fatalf("device %d has details %v, device 0 %v", i, o.Details, wantDetails)
			} else if !bytes.Equal(st, want) {
				rt.Fatalf("device %d differs:\n%s\nvs\n%s", i, markdown.Render(o.Doc.Blocks()), md(t, engines[0], id))
			}
			if _, err := e.Verify(ctx); err != nil {
				rt.Fatalf("device %d: %v", i, err)
			}
		}
	})
	if parked == 0 {
		t.Fatal("no change ever arrived before its parents: the test does not exercise parking")
	}
	t.Logf("%d changes arrived before their parents and were parked", parked)
}

func sortIDs(ids []change.ID) {
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && bytes.Compare(ids[j][:], ids[j-1][:]) < 0; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
}

// Two copies of one data folder (one device key) and another device edit
// one page, at times on versions they saw earlier, and exchange changes in
// random orders. Whatever each saw first, all three end in the same state
// (which changes are inert included), and no refusal is left over.
func TestForksConverge(t *testing.T) {
	forked := 0
	rapid.Check(t, func(rt *rapid.T) {
		phrase, _ := keys.NewPhrase()
		dir := t.TempDir()
		a, err := Create(ctx, filepath.Join(dir, "a"), memstore.New(), phrase, "a")
		if err != nil {
			rt.Fatal(err)
		}
		b, err := Create(ctx, filepath.Join(dir, "b"), memstore.New(), phrase, "b")
		if err != nil {
			rt.Fatal(err)
		}
		for _, x := range [][2]*Engine{{a, b}, {b, a}} {
			recs, _ := x[0].MemberRecords(ctx)
			x[1].AddMemberRecords(ctx, recs)
		}
		id, err := a.Create(ctx, NewPage{Title: "T", Blocks: markdown.Parse("alpha\n\nbeta\n")})
		if err != nil {
			rt.Fatal(err)
		}
		// The copy: a's store and keys, as cp -r makes it.
		img := filepath.Join(dir, "image")
		if err := a.db.CopyTo(ctx, img, store.CopyOptions{}); err != nil {
			rt.Fatal(err)
		}
		cdb, err := memstore.Load(img)
		if err != nil {
			rt.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "c"), 0o700)
		sec, _ := os.ReadFile(filepath.Join(a.Dir(), SecretsFile))
		os.WriteFile(filepath.Join(dir, "c", SecretsFile), sec, 0o600)
		c, err := New(filepath.Join(dir, "c"), cdb)
		if err != nil {
			rt.Fatal(err)
		}
		engines := []*Engine{a, b, c}
		seen := map[*Engine][][]change.ID{}
		p := &changePool{rt: rt, id: id, raw: map[change.ID][]byte{}}
		collect, deliver := p.collect, p.deliver
		collect(a)
		deliver(b, true) // b starts from the page too
		words := []string{"alpha", "beta", "gamma", "delta", "- item", "# head"}
		for s, n := 0, rapid.IntRange(1, 8).Draw(rt, "steps"); s < n; s++ {
			e := engines[rapid.IntRange(0, 2).Draw(rt, "device")]
			if rapid.IntRange(0, 2).Draw(rt, "action") == 0 {
				deliver(e, false)
				continue
			}
			o, err := e.Get(ctx, id)
			if err != nil {
				rt.Fatal(err)
			}
			seen[e] = append(seen[e], o.Heads)
			opts := EditOptions{NewVersion: true}
			if h := seen[e]; rapid.Bool().Draw(rt, "old base") {
				opts.Base = h[rapid.IntRange(0, len(h)-1).Draw(rt, "base")]
			}
			var md strings.Builder
			for k := rapid.IntRange(1, 3).Draw(rt, "blocks"); k > 0; k-- {
				md.WriteString(words[rapid.IntRange(0, len(words)-1).Draw(rt, "w")] + " " + words[rapid.IntRange(0, len(words)-1).Draw(rt, "w")] + "\n\n")
			}
			_, err = e.Edit(ctx, id, opts, func(tx *crdt.Tx) error { tx.Replace(markdown.Parse(md.String())); return nil })
			if err != nil && !errors.Is(err, ErrKeyInUse) {
				rt.Fatal(err)
			}
			collect(e)
		}
		for round := 0; round < 3; round++ {
			for _, e := range engines {
				deliver(e, true)
			}
		}
		var want []byte
		var wantInert []change.ID
		for i, e := range engines {
			o, err := e.Get(ctx, id)
			if err != nil {
				rt.Fatal(err)
			}
			var inert []change.ID
			e.db.View(ctx, func(tx store.Tx) error {
				ms, err := tx.Changes(id, 0)
				for _, m := range ms {
					if m.Inert {
						inert = append(inert, m.ID)
					}
				}
				return err
			})
			sortIDs(inert)
			st := o.Doc.MarshalState()
			if i == 0 {
				want, wantInert = st, inert
				if len(inert) > 0 {
					forked++
				}
				continue
			}
			if !bytes.Equal(st, want) || !slices.Equal(inert, wantInert) {
				rt.Fatalf("device %d differs: %q (inert %d) vs %q (inert %d)", i, markdown.Render(o.Doc.Blocks()), len(inert), md(t, a, id), len(wantInert))
			}
			if o.Parked != 0 {
				rt.Fatalf("device %d: %d parked", i, o.Parked)
			}
		}
	})
	if forked == 0 {
		t.Fatal("no run had two copies write overlapping changes: the test does not exercise forks")
	}
	t.Logf("%d runs forked", forked)
}

// changePool is every change of one object the devices of a property test
// have written, handed to them in orders the test draws.
type changePool struct {
	rt  *rapid.T
	id  change.ID
	raw map[change.ID][]byte
}

// collect adds every change e holds of the object.
func (p *changePool) collect(e *Engine) {
	ids, raws, _ := e.Changes(ctx, p.id)
	for i := range ids {
		p.raw[ids[i]] = raws[i]
	}
}

// deliver gives e the pool's changes in a drawn order (all of them, or as
// many as drawn), then collects what it wrote again on its own.
func (p *changePool) deliver(e *Engine, all bool) {
	var ids []change.ID
	for k := range p.raw {
		ids = append(ids, k)
	}
	sortIDs(ids)
	for len(ids) > 0 {
		if !all && !rapid.Bool().Draw(p.rt, "more") {
			break
		}
		i := rapid.IntRange(0, len(ids)-1).Draw(p.rt, "which")
		if _, err := e.Receive(ctx, ids[i], p.raw[ids[i]]); err != nil && !errors.Is(err, ErrRejected) {
			p.rt.Fatalf("receive: %v", err)
		}
		ids = append(ids[:i], ids[i+1:]...)
	}
	p.collect(e)
}
