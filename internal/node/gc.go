package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"mycel/internal/change"
	"mycel/internal/chunkstore"
	"mycel/internal/files"
	"mycel/internal/keys"
	"mycel/internal/store"
)

// Chunk collection on a node (issue 13: "chunks no version of any page
// references any more are collected after a grace period").
//
// A node cannot read a change, but each change names in its cleartext
// every chunk its new file blocks need, a large file's leaves included
// (the engine reads them from the file's index chunk when it writes the
// change), and the node indexes those names (chunk_refs) as it stores
// the change. Change logs are append-only: a chunk a stored change names
// is needed by some version that history can restore, and is kept for
// good. What the node may collect is a chunk no stored or parked change
// names and that has not been stored or put again for the grace period:
// what an abandoned upload left, or a change that never came.
//
// The grace period is what makes the order of arrival safe. A device
// uploads a file's chunks once its own change naming them is stored on
// the device, and sends that change on the sync stream at the same time;
// the two arrive in either order. A change first: its chunks are named
// when they land. Chunks first: they are young until the change comes,
// within seconds, or, after a crash or days offline, within the grace
// period (a week by default). A change that comes later still finds its
// chunks gone, lists them in Missing, and the device uploads them again.
// A device that asks Has about a chunk an abandoned upload left (the same
// bytes) will not upload it, so Has stamps an old chunk it confirms anew,
// as a Put would, giving it a whole grace period more.
//
// What is named is read after the chunks are listed, with the vault's
// receiving held off (gcMu), and each removal checks the chunk's age
// again under the chunk's lock: a change stored after a sweep began, or a
// Put of the chunk meanwhile, keeps it.

// Defaults of chunk collection.
const (
	// DefaultChunkGrace is how long a chunk no change names is kept.
	DefaultChunkGrace = 7 * 24 * time.Hour
	// MinChunkGrace is the shortest grace a node accepts: shorter, a
	// change delayed behind its chunks (a slow link, a device that
	// crashed mid-sync) would find them gone.
	MinChunkGrace = time.Hour
	// DefaultChunkSweepEvery is how often the sweep runs.
	DefaultChunkSweepEvery = 10 * time.Minute
)

// sweepBatch bounds the chunks one sweep looks at in one vault (one
// ReadDir of at most a few folders, a stat and, for the old ones, an
// indexed lookup each): a vault of a million chunks is swept across many
// ticks, each short, and receiving in that vault waits at most one
// batch's lookups.
var sweepBatch = 4096

// sweepRest is how long a vault whose every chunk was looked at waits
// before its next pass: chunks age by days, not minutes.
const sweepRest = time.Hour

// ChunkSweep counts what a sweep did, in all the vaults it looked at.
type ChunkSweep struct {
	Vaults         int   // vaults whose chunk folders were looked at
	Looked         int   // chunks looked at
	Named          int   // of the old ones, named by a stored or parked change
	Young          int   // within the grace period (named or not: not looked up)
	Collected      int   // named by none, older than it: removed
	CollectedBytes int64 // their sealed bytes
}

func (r *ChunkSweep) add(o ChunkSweep) {
	r.Vaults += o.Vaults
	r.Looked += o.Looked
	r.Named += o.Named
	r.Young += o.Young
	r.Collected += o.Collected
	r.CollectedBytes += o.CollectedBytes
}

// sweepState is where each vault's pass stands: the last chunk looked at,
// and for a vault whose pass ended, when the next starts. In memory only:
// a restart starts each pass again, which costs work, not chunks.
type sweepState struct {
	cursor map[keys.VaultID]files.Address
	rest   map[keys.VaultID]time.Time
	// hook, when set (tests), runs in a vault's sweep after its chunks
	// are listed and before what is named is read.
	hook func(*Vault)
}

// SweepChunks runs one step of chunk collection in every vault whose
// pass is not resting: at most sweepBatch chunks each. A vault that
// cannot be swept (its store does not open) is skipped, and the first
// such error returned with the counts of the others; nothing is removed
// from a vault whose references could not be read.
func (n *Node) SweepChunks(ctx context.Context) (ChunkSweep, error) {
	var r ChunkSweep
	if n.opts.ChunkGrace < 0 {
		return r, nil // collection is off
	}
	now := n.opts.Now()
	n.mu.Lock()
	ids := make([]keys.VaultID, 0, len(n.known))
	for id := range n.known {
		if now.Before(n.sweep.rest[id]) {
			continue
		}
		ids = append(ids, id)
	}
	n.mu.Unlock()
	slices.SortFunc(ids, func(a, b keys.VaultID) int { return slices.Compare(a[:], b[:]) })
	var first error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		vr, err := n.sweepVault(ctx, id, now)
		r.add(vr)
		if err != nil && first == nil {
			first = fmt.Errorf("collect chunks of vault %s: %w", id.Short(), err)
		}
	}
	return r, first
}

// sweepVault looks at the next batch of a vault's chunks.
func (n *Node) sweepVault(ctx context.Context, id keys.VaultID, now time.Time) (ChunkSweep, error) {
	r := ChunkSweep{Vaults: 1}
	v, err := n.acquire(id)
	if err != nil {
		return ChunkSweep{}, err
	}
	defer n.release(v)
	cs, err := v.chunkStore()
	if err != nil {
		return r, err
	}
	n.mu.Lock()
	after := n.sweep.cursor[id]
	hook := n.sweep.hook
	n.mu.Unlock()
	es, more, err := cs.List(after, sweepBatch)
	if err != nil {
		return r, err
	}
	r.Looked = len(es)
	cutoff := now.Add(-n.opts.ChunkGrace)
	var old []chunkstore.Entry
	for _, e := range es {
		if e.Modified.Before(cutoff) {
			old = append(old, e)
		} else {
			r.Young++
		}
	}
	if len(old) > 0 {
		if hook != nil {
			hook(v)
		}
		if err := v.collect(ctx, cs, old, cutoff, &r); err != nil {
			return r, err
		}
	}
	n.mu.Lock()
	if more {
		n.sweep.cursor[id] = es[len(es)-1].Address
	} else {
		delete(n.sweep.cursor, id)
		n.sweep.rest[id] = now.Add(sweepRest)
	}
	n.mu.Unlock()
	return r, nil
}

// collect removes, of old (chunks older than cutoff when listed), those
// no stored or parked change names and that are still older than cutoff.
// Receiving into the vault waits meanwhile, so no change is stored
// between the reading of names and the removals.
func (v *Vault) collect(ctx context.Context, cs *chunkstore.Store, old []chunkstore.Entry, cutoff time.Time, r *ChunkSweep) error {
	v.gcMu.Lock()
	defer v.gcMu.Unlock()
	var unnamed []chunkstore.Entry
	var parked map[files.Address]bool
	err := v.db.View(ctx, func(tx store.Tx) error {
		unnamed = unnamed[:0]
		for _, e := range old {
			named, err := isNamed(tx, e.Address)
			if err != nil {
				return err
			}
			if !named {
				unnamed = append(unnamed, e)
			}
		}
		if len(unnamed) == 0 {
			return nil
		}
		var err error
		parked, err = parkedChunks(tx)
		return err
	})
	if err != nil {
		return err
	}
	r.Named += len(old) - len(unnamed)
	for _, e := range unnamed {
		if parked[e.Address] {
			r.Named++
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		removed, size, err := cs.RemoveOlder(e.Address, cutoff)
		if err != nil {
			return err
		}
		if removed {
			r.Collected++
			r.CollectedBytes += size
		} else {
			r.Young++ // put again since it was listed (or gone already)
		}
	}
	return nil
}

// isNamed reports whether a stored change names chunk a: the first
// indexed name above the address just below it is a itself.
func isNamed(tx store.Tx, a files.Address) (bool, error) {
	below, ok := predecessor(a)
	if !ok {
		return true, nil // the zero address: nothing is below it to ask from, so it is kept
	}
	page, err := tx.ChunkRefs(below, 1)
	if err != nil {
		return false, err
	}
	return len(page) == 1 && files.Address(page[0]) == a, nil
}

// predecessor is the address one below a, read as a big-endian number.
func predecessor(a files.Address) (files.Address, bool) {
	if a == (files.Address{}) {
		return a, false
	}
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] > 0 {
			a[i]--
			break
		}
		a[i] = 0xff
	}
	return a, true
}

// errUnreadableParked stops a collection: a parked change that does not
// decode may name any chunk.
var errUnreadableParked = errors.New("a change waiting for its parents does not decode, so the chunks it names are not known: nothing is collected")

// parkedChunks is every chunk the changes waiting for their parents name
// (they are not in the index until they are stored). Parked changes are
// bounded (admit.MaxParked), so reading them all is bounded too.
func parkedChunks(tx store.Tx) (map[files.Address]bool, error) {
	out := map[files.Address]bool{}
	objs, err := tx.ParkedObjects()
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		metas, raws, err := tx.Parked(o)
		if err != nil {
			return nil, err
		}
		for i, m := range metas {
			c, err := change.Decode(m.ID, raws[i])
			if err != nil {
				return nil, errUnreadableParked
			}
			for _, a := range c.Chunks {
				out[a] = true
			}
		}
	}
	return out, nil
}
