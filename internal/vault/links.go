package vault

import (
	"context"
	"errors"
	"slices"
	"strings"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/store"
)

// Links between objects are data: a mention (a mark whose value is an
// object id, maybe with "#anchor") or a link or embed block (attribute
// target) names its object by id, so renaming or moving the target never
// breaks them. The store indexes every object's links with its text, for
// backlinks.

// MentionTarget splits a mention's value into the object it names and
// the anchor in it (a heading, or "^block"); ok is false when the value
// names no object by id (an unresolved name from an import).
func MentionTarget(value string) (id change.ID, anchor string, ok bool) {
	v, anchor, _ := strings.Cut(value, "#")
	id, err := change.ParseID(v)
	return id, anchor, err == nil
}

// LinksOf lists the objects blocks link to, sorted, each once.
func LinksOf(blocks []*crdt.Block) []change.ID {
	var out []change.ID
	var walk func([]*crdt.Block)
	walk = func(bs []*crdt.Block) {
		for _, b := range bs {
			switch b.Type {
			case crdt.TypeLink, crdt.TypeEmbed:
				if id, _, ok := MentionTarget(b.Attrs["target"]); ok {
					out = append(out, id)
				}
			}
			for _, m := range b.Marks {
				if m.Type == crdt.MarkMention {
					if id, _, ok := MentionTarget(m.Value); ok {
						out = append(out, id)
					}
				}
			}
			walk(b.Children)
		}
	}
	walk(blocks)
	slices.SortFunc(out, compareIDs)
	return slices.Compact(out)
}

// Backlinks lists the objects that link to id, as their index rows, most
// recently updated first; objects in the bin are left out.
func (e *Engine) Backlinks(ctx context.Context, id change.ID) ([]store.Object, error) {
	var out []store.Object
	err := e.db.View(ctx, func(tx store.Tx) error {
		srcs, err := tx.Backlinks(id)
		if err != nil {
			return err
		}
		for _, s := range srcs {
			row, err := tx.Object(s)
			if err != nil {
				return err
			}
			if !row.Deleted {
				out = append(out, row)
			}
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b store.Object) int { return b.Updated.Compare(a.Updated) })
	return out, err
}

// LinkState is one object an object links to, as this device knows it.
type LinkState struct {
	ID    change.ID
	Title string
	// Missing: no such object is on this device (never synced here, or
	// a link made elsewhere to an object not yet arrived); InBin: it is
	// in the bin.
	Missing, InBin bool
}

// LinkStates says, for each object blocks link to, whether it is here.
func (e *Engine) LinkStates(ctx context.Context, blocks []*crdt.Block) ([]LinkState, error) {
	ids := LinksOf(blocks)
	out := make([]LinkState, 0, len(ids))
	err := e.db.View(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			row, err := tx.Object(id)
			switch {
			case err == nil:
				out = append(out, LinkState{ID: id, Title: row.Title, InBin: row.Deleted})
			case errors.Is(err, store.ErrNotFound):
				out = append(out, LinkState{ID: id, Missing: true})
			default:
				return err
			}
		}
		return nil
	})
	return out, err
}

// resolveNames turns the mentions in blocks that name a page by its title
// ([[Garden]], as a person types them) into mentions of it by id, when
// exactly one page has that title; others stay as typed (shown missing).
func (e *Engine) resolveNames(ctx context.Context, blocks []*crdt.Block) error {
	if !namesAny(blocks) {
		return nil
	}
	rows, err := e.List(ctx, ListOptions{Archived: true})
	if err != nil {
		return err
	}
	byTitle := map[string]change.ID{}
	twice := map[string]bool{}
	for _, r := range rows {
		k := strings.ToLower(strings.TrimSpace(r.Title))
		if _, dup := byTitle[k]; dup {
			twice[k] = true
		}
		byTitle[k] = r.ID
	}
	resolveLinks(blocks, func(name string) (change.ID, bool) {
		k := strings.ToLower(strings.TrimSpace(name))
		id, ok := byTitle[k]
		return id, ok && !twice[k]
	})
	return nil
}

// namesAny reports whether a mention in blocks names a page by name.
func namesAny(blocks []*crdt.Block) bool {
	for _, b := range blocks {
		for _, m := range b.Marks {
			if _, _, ok := MentionTarget(m.Value); m.Type == crdt.MarkMention && !ok {
				return true
			}
		}
		if namesAny(b.Children) {
			return true
		}
	}
	return false
}
