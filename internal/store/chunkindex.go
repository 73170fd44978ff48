package store

import (
	"context"

	"mycel/internal/change"
)

// chunkIndexSetting marks a store whose changes' chunks are all indexed.
const chunkIndexSetting = "chunk_index_v1"

// IndexOldChunkRefs indexes the chunks of changes stored before the
// store kept an index of them (format 4, when files first came): once,
// then a setting says it is done. Without it, their files would never
// upload.
func IndexOldChunkRefs(ctx context.Context, db Store) error {
	return db.Update(ctx, func(tx Tx) error {
		if v, err := tx.Setting(chunkIndexSetting); err != nil || v != nil {
			return err
		}
		objs, err := tx.ChangeObjects()
		if err != nil {
			return err
		}
		for _, o := range objs {
			metas, raws, err := tx.ChangesAfter(o, 0)
			if err != nil {
				return err
			}
			for i, m := range metas {
				c, err := change.Decode(m.ID, raws[i])
				if err != nil || len(c.Chunks) == 0 {
					continue // damaged: reported by check
				}
				if err := tx.IndexChunks(m.ID, o, c.Chunks); err != nil {
					return err
				}
			}
		}
		return tx.SetSetting(chunkIndexSetting, []byte("1"))
	})
}
