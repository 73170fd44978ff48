package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mycel/internal/change"
	"mycel/internal/chunkstore"
	"mycel/internal/crdt"
	"mycel/internal/files"
	"mycel/internal/store"
)

// DefaultChunkGrace is how old a chunk no change names must be before
// CollectChunks removes it: a file being added (stored, its block not yet
// written) or arriving ahead of its change is younger.
const DefaultChunkGrace = 7 * 24 * time.Hour

// ChunkCollection says what CollectChunks removed, or would remove.
type ChunkCollection struct {
	Kept           int   // chunks some change names
	Collected      int   // chunks no change names, older than the grace period
	CollectedBytes int64 // their size
	Young          int   // chunks no change names yet, within the grace period
}

// CollectChunks removes the chunks that no stored or parked change of any
// object names (in any version: whatever history can restore keeps its
// files) and that are older than grace: what an abandoned add or a failed
// import left. A large file's chunks are those its index chunk lists;
// while one such index is not on this device, nothing is collected (what
// it lists is not known). dryRun only counts.
//
// Storing a file refreshes the time of each chunk it finds stored already
// (chunkstore.Put), and each chunk's time is read again under its lock as
// it is removed (chunkstore.RemoveOlder): a file added meanwhile in this
// process with the same bytes keeps its chunks. Another process's add
// (a 'mycel files add' beside a running 'mycel up') is spared by the
// grace period: its chunks are new.
func (e *Engine) CollectChunks(ctx context.Context, grace time.Duration, dryRun bool) (ChunkCollection, error) {
	var r ChunkCollection
	cs, err := e.Chunks()
	if err != nil {
		return r, err
	}
	named, err := e.namedChunks(ctx, cs)
	if err != nil {
		return r, err
	}
	cutoff := time.Now().Add(-grace)
	err = cs.Walk(func(a files.Address, size int64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if named[a] {
			r.Kept++
			return nil
		}
		h := a.String()
		fi, err := os.Stat(filepath.Join(cs.Dir(), h[:2], h[2:]))
		if err != nil {
			return nil // gone meanwhile
		}
		if !fi.ModTime().Before(cutoff) {
			r.Young++
			return nil
		}
		if !dryRun {
			removed, _, err := cs.RemoveOlder(a, cutoff)
			if err != nil {
				return fmt.Errorf("remove chunk %s: %w", a.Short(), err)
			}
			if !removed {
				r.Young++ // stored again since it was looked at
				return nil
			}
		}
		r.Collected++
		r.CollectedBytes += size
		return nil
	})
	return r, err
}

// namedChunks is every chunk a stored or parked change names: in its
// cleartext, and in the chunk lists of the large files its payload holds.
func (e *Engine) namedChunks(ctx context.Context, cs *chunkstore.Store) (map[files.Address]bool, error) {
	named := map[files.Address]bool{}
	var manifests []*files.Manifest
	seen := map[string]bool{}
	add := func(id change.ID, raw []byte, meta store.ChangeMeta) error {
		c, err := change.Decode(meta.ID, raw)
		if err != nil {
			return nil // damaged: check names it; sync brings it back
		}
		for _, a := range c.Chunks {
			named[a] = true
		}
		p, err := c.Open(e.objectKey(id))
		if err != nil {
			return nil
		}
		for _, op := range p.Ops {
			if op.Kind != crdt.OpSetAttr || op.Key != FileAttr || op.Unset || seen[op.Value] {
				continue
			}
			seen[op.Value] = true
			if m, err := parseFileAttr(op.Value); err == nil {
				manifests = append(manifests, m)
			}
		}
		return nil
	}
	err := e.db.View(ctx, func(tx store.Tx) error {
		ids, err := tx.ChangeObjects()
		if err != nil {
			return err
		}
		parked, err := tx.ParkedObjects()
		if err != nil {
			return err
		}
		for _, id := range ids {
			metas, raws, err := tx.ChangesAfter(id, 0)
			if err != nil {
				return err
			}
			for i := range metas {
				if err := add(id, raws[i], metas[i]); err != nil {
					return err
				}
			}
		}
		for _, id := range parked {
			metas, raws, err := tx.Parked(id)
			if err != nil {
				return err
			}
			for i := range metas {
				if err := add(id, raws[i], metas[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	k := e.FileKeys()
	for _, m := range manifests {
		for _, a := range m.Addresses() {
			named[a] = true
		}
		if m.Index == nil {
			continue
		}
		refs, err := k.Refs(m, cs.Get)
		if errors.Is(err, chunkstore.ErrNotFound) {
			return nil, fmt.Errorf("the chunk list of %s is not on this device yet, so which chunks it needs is not known: collect once it is fetched ('mycel up')", m.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("the chunk list of %s: %w ('mycel check' says more)", m.Name, err)
		}
		for _, r := range refs {
			named[r.Address] = true
		}
	}
	return named, nil
}
