package vault

import (
	"fmt"
	"path/filepath"

	"mycel/internal/chunkstore"
	"mycel/internal/files"
)

// ChunkFolder is the chunk folder's name, in a data folder and in a
// backup.
const ChunkFolder = "chunks"

// backupChunks copies this device's chunk folder into the backup's: the
// chunks as stored (sealed; a backup without keys still holds only
// ciphertext), each checked against its address on the way (a damaged
// one is left out and counted: sync brings it back). Chunks are copied
// after the store, so every chunk its changes name that was here is in.
func (e *Engine) backupChunks(dest string, m *Manifest) error {
	src, err := e.Chunks()
	if err != nil {
		return err
	}
	dst, err := chunkstore.Open(filepath.Join(dest, ChunkFolder))
	if err != nil {
		return err
	}
	return src.Walk(func(a files.Address, _ int64) error {
		b, err := src.Get(a)
		if err != nil {
			return nil // removed meanwhile
		}
		if _, err := dst.Put(a, b); err != nil {
			if files.AddressOf(b) != a {
				m.ChunksDamaged++
				return nil
			}
			return fmt.Errorf("back up chunk %s: %w", a.Short(), err)
		}
		m.Chunks++
		m.ChunkBytes += int64(len(b))
		return nil
	})
}

// restoreChunks copies a backup's chunks into the restored data folder,
// each checked against its address; a backup missing some of those its
// manifest counts, or holding a damaged one, is refused as damaged.
func restoreChunks(src, dir string, m Manifest) error {
	if m.Chunks == 0 {
		return nil // a backup from before files, or of a vault without any
	}
	from, err := chunkstore.Open(filepath.Join(src, ChunkFolder))
	if err != nil {
		return err
	}
	to, err := chunkstore.Open(filepath.Join(dir, ChunkFolder))
	if err != nil {
		return err
	}
	n, bad := 0, 0
	err = from.Walk(func(a files.Address, _ int64) error {
		b, err := from.Get(a)
		if err != nil {
			return err
		}
		if files.AddressOf(b) != a {
			bad++
			return nil
		}
		if _, err := to.Put(a, b); err != nil {
			return fmt.Errorf("restore chunk %s: %w", a.Short(), err)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if bad > 0 || n < m.Chunks {
		return fmt.Errorf("the backup in %s is damaged: of its %d file chunks %d are whole (%d damaged); restore from another backup, or restore the store alone by moving its %s folder away (sync fetches the files again)", src, m.Chunks, n, bad, ChunkFolder)
	}
	return nil
}
