package vault

import (
	"context"
	"fmt"

	"mycel/internal/change"
	"mycel/internal/store"
)

// Verify checks the whole store as if every change had just arrived: each
// one hashes to its id, carries a valid signature by a device of the vault,
// has its parents stored before it, and every object opens. It returns the
// number of changes checked.
func (e *Engine) Verify(ctx context.Context) (int, error) {
	n := 0
	err := e.db.View(ctx, func(tx store.Tx) error {
		members, err := e.members(tx)
		if err != nil {
			return err
		}
		objs, err := tx.Objects()
		if err != nil {
			return err
		}
		for _, o := range objs {
			metas, raws, err := tx.ChangesAfter(o.ID, 0)
			if err != nil {
				return err
			}
			seen := map[change.ID]bool{}
			for i, m := range metas {
				c, err := change.ParseWithID(m.ID, raws[i])
				if err != nil {
					return fmt.Errorf("object %s: %w", o.ID.Short(), err)
				}
				if !members.MayAuthor(c.Author, c.Time) {
					return fmt.Errorf("object %s: change %s: author is not a device of this vault", o.ID.Short(), c.ID.Short())
				}
				for _, p := range c.Parents {
					if !seen[p] {
						return fmt.Errorf("object %s: change %s stored before its parent %s", o.ID.Short(), c.ID.Short(), p.Short())
					}
				}
				seen[c.ID] = true
				n++
			}
			if _, err := e.load(tx, o.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
