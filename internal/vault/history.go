package vault

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/object"
	"mycel/internal/store"
)

// History lists an object's versions, oldest first (see object.Versions).
func (e *Engine) History(ctx context.Context, id change.ID) ([]object.Version, error) {
	var vs []object.Version
	err := e.db.View(ctx, func(tx store.Tx) error {
		ordered, err := ordered(tx, id)
		vs = object.Versions(ordered)
		return err
	})
	return vs, err
}

// HistoryPoints is History with, for each version, its last change: the
// point (Point{Change: …}) that names exactly that version even when
// versions are numbered anew (an older concurrent change arriving shifts
// the numbers after it).
func (e *Engine) HistoryPoints(ctx context.Context, id change.ID) ([]object.Version, []change.ID, error) {
	var vs []object.Version
	var points []change.ID
	err := e.db.View(ctx, func(tx store.Tx) error {
		ordered, err := ordered(tx, id)
		vs = object.Versions(ordered)
		for _, v := range vs {
			points = append(points, ordered[v.Upto-1].ID)
		}
		return err
	})
	return vs, points, err
}

// Step is one change of an object's history, in the order every device
// computes (`mycel history --all`).
type Step struct {
	N       int // 1-based, in that order
	Version int // the version it belongs to (0: none, a root or snapshot)
	Meta    store.ChangeMeta
}

// Steps lists every change of an object, in history's order.
func (e *Engine) Steps(ctx context.Context, id change.ID) ([]Step, error) {
	var out []Step
	err := e.db.View(ctx, func(tx store.Tx) error {
		ordered, err := ordered(tx, id)
		if err != nil {
			return err
		}
		vs := object.Versions(ordered)
		v := 0
		for i, m := range ordered {
			for v < len(vs) && vs[v].Upto <= i {
				v++
			}
			s := Step{N: i + 1, Meta: m}
			if v < len(vs) && m.ID != m.Object && !m.Snapshot && !m.Inert {
				s.Version = vs[v].N
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

func ordered(tx store.Tx, id change.ID) ([]store.ChangeMeta, error) {
	metas, err := tx.Changes(id, 0)
	if err != nil {
		return nil, err
	}
	if len(metas) == 0 {
		return nil, fmt.Errorf("no object %s in this vault", id.Short())
	}
	return object.Order(metas), nil
}

// Point is a moment of an object's history: the end of a version, or one
// change (any change can be restored, not only version ends).
type Point struct {
	Version int       // 1-based; 0: Change says
	Change  change.ID // with Version 0
}

func (p Point) String() string {
	if p.Version > 0 {
		return fmt.Sprintf("version %d", p.Version)
	}
	return "change " + p.Change.Short()
}

// ParsePoint reads what a person gives as a point of object id's history:
// a version number (see `mycel history`) or a change id, or a prefix of at
// least 6 hex characters of one (see `mycel history --all`).
func (e *Engine) ParsePoint(ctx context.Context, id change.ID, s string) (Point, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	// A number is a version, unless it is long enough to be the start of a
	// change id and one is: change ids are hex, and 6% of them start with
	// six digits.
	if n, err := strconv.Atoi(s); err == nil && (len(s) < 6 || n < 1) {
		if n < 1 {
			return Point{}, fmt.Errorf("%q is not a version number (see mycel history)", s)
		}
		return Point{Version: n}, nil
	}
	if len(s) < 6 || strings.Trim(s, "0123456789abcdef") != "" {
		return Point{}, fmt.Errorf("%q is neither a version number nor a change id (see mycel history --all)", s)
	}
	var found []change.ID
	err := e.db.View(ctx, func(tx store.Tx) error {
		metas, err := tx.Changes(id, 0)
		for _, m := range metas {
			if strings.HasPrefix(m.ID.String(), s) {
				found = append(found, m.ID)
			}
		}
		return err
	})
	switch {
	case err != nil:
		return Point{}, err
	case len(found) == 0:
		if n, err := strconv.Atoi(s); err == nil {
			return Point{Version: n}, nil // no change starts so: the version
		}
		return Point{}, fmt.Errorf("object %s has no change %q (see mycel history --all)", id.Short(), s)
	case len(found) > 1:
		return Point{}, fmt.Errorf("%d changes of %s start with %q: give more characters", len(found), id.Short(), s)
	}
	return Point{Change: found[0]}, nil
}

// At returns the object as it was at point p.
func (e *Engine) At(ctx context.Context, id change.ID, p Point) (*crdt.Doc, error) {
	var doc *crdt.Doc
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		doc, err = e.at(tx, id, p)
		return err
	})
	return doc, err
}

func (e *Engine) at(tx store.Tx, id change.ID, p Point) (*crdt.Doc, error) {
	ordered, err := ordered(tx, id)
	if err != nil {
		return nil, err
	}
	upto := -1
	if p.Version > 0 {
		vs := object.Versions(ordered)
		if p.Version > len(vs) {
			return nil, fmt.Errorf("object %s has versions 1 to %d, not %d (see `mycel history %s`)", id.Short(), len(vs), p.Version, id.Short()[:8])
		}
		upto = vs[p.Version-1].Upto
	} else {
		for i, m := range ordered {
			if m.ID == p.Change {
				upto = i + 1
			}
		}
		if upto < 0 {
			return nil, fmt.Errorf("object %s has no change %s", id.Short(), p.Change.Short())
		}
	}
	doc := crdt.NewDoc()
	key := e.objectKey(id)
	for _, m := range ordered[:upto] {
		if m.ID == m.Object || m.Snapshot || m.Inert {
			continue
		}
		raw, err := tx.RawChange(m.ID)
		if err != nil {
			return nil, err
		}
		if err := e.applyStored(doc, key, m.ID, raw); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// Restore makes the object look as it did at point p, by new changes on
// top of the current state (a version of their own): history is never
// rewritten, and a restore is undone by restoring the version before it.
// Archiving and the bin are left as they are.
func (e *Engine) Restore(ctx context.Context, id change.ID, p Point) (Result, error) {
	old, err := e.At(ctx, id, p)
	if err != nil {
		return Result{ID: id}, err
	}
	details, blocks := old.Details(), old.Blocks()
	return e.Edit(ctx, id, EditOptions{NewVersion: true}, func(t *crdt.Tx) error {
		t.ReplaceDetails(details, "archived", "deleted")
		t.Replace(blocks)
		return nil
	})
}
