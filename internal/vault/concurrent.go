package vault

import (
	"context"
	"slices"

	"mycel/internal/change"
	"mycel/internal/store"
)

// ConcurrentAuthors names the devices whose concurrent edits of an object
// the page now merges: the authors of its heads, when it has more than one
// (nil otherwise). The activity log tells of a merge with it.
func (e *Engine) ConcurrentAuthors(ctx context.Context, id change.ID) ([]string, error) {
	var out []string
	err := e.db.View(ctx, func(tx store.Tx) error {
		heads, err := tx.Heads(id)
		if err != nil || len(heads) < 2 {
			return err
		}
		l, err := e.members(tx)
		if err != nil {
			return err
		}
		for _, h := range heads {
			m, err := tx.Meta(h)
			if err != nil {
				return err
			}
			name := "a device no longer known"
			if d, ok := l.Device(m.Author); ok {
				if n, err := d.Name(e.vault.ReadKey); err == nil {
					name = n
				}
			}
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}
