package vault

import (
	"errors"
	"fmt"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/keys"
	"mycel/internal/store"
)

// Snapshots are each device's own: a sealed copy of an object's state that
// covers every change of it stored up to an arrival number, kept in the
// store beside the changes and never synced. Opening an object reads its
// snapshot and replays only the changes stored after it, on a device that
// wrote the changes and on one that only received them alike: both write
// snapshots by the same policy (object.SnapshotPolicy). A snapshot is
// derived data: one that does not open is dropped, and the object replays
// from its changes.

// snapshotAD binds a sealed snapshot to its object.
func snapshotAD(id change.ID) []byte { return append([]byte("mycel/snapshot/v1\n"), id[:]...) }

func sealSnapshot(key [32]byte, id change.ID, doc *crdt.Doc) ([]byte, error) {
	nonce, ct, err := keys.Seal(key, doc.MarshalState(), snapshotAD(id))
	if err != nil {
		return nil, err
	}
	return append(nonce, ct...), nil
}

func openSnapshot(key [32]byte, id change.ID, sealed []byte) (*crdt.Doc, error) {
	if len(sealed) < keys.NonceSize {
		return nil, fmt.Errorf("snapshot of %s is truncated", id.Short())
	}
	state, err := keys.Open(key, sealed[:keys.NonceSize], sealed[keys.NonceSize:], snapshotAD(id))
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", id.Short(), err)
	}
	doc, err := crdt.UnmarshalState(state)
	if err == nil && doc.Legacy() {
		return nil, fmt.Errorf("snapshot of %s was written before Fugue: replaying the object", id.Short())
	}
	return doc, err
}

// snapshotDue reports whether the policy wants a snapshot of l now.
func (e *Engine) snapshotDue(l *loaded) bool {
	return e.Policy.Due(l.sinceSnap, l.bytesSince, l.snapSize)
}

// putSnapshot writes l's state as its local snapshot, if no newer one is
// there. sealed is sealSnapshot's output for l.
func (e *Engine) putSnapshot(tx store.Tx, l *loaded, sealed []byte) error {
	// Only while the object is as l says: a repair or a fork resolution in
	// between may have made what l holds no longer the replay of its
	// changes up to l.seq.
	if heads, err := tx.Heads(l.id); err != nil || !sameIDs(heads, l.heads) {
		return err
	}
	switch old, err := tx.Snapshot(l.id); {
	case err == nil && old.Seq >= l.seq:
		return nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	if err := tx.PutSnapshot(l.id, store.Snapshot{Seq: l.seq, Sealed: sealed}); err != nil {
		return err
	}
	l.sinceSnap, l.bytesSince, l.snapSize = 0, 0, len(sealed)
	return nil
}
