package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mycel/internal/vault"
)

// BackupResult is what Backup measured.
type BackupResult struct {
	vault.Manifest
	Wall      time.Duration // writing the backup
	StoreSize int64         // of the live store, for comparison
}

// Backup fills a device's store with objects × perObject changes, then
// times a backup of it.
func Backup(ctx context.Context, dir string, objects, perObject int, progress func(string)) (BackupResult, error) {
	var r BackupResult
	a, phrase, err := vault.Init(ctx, filepath.Join(dir, "a"), "writer")
	if err != nil {
		return r, err
	}
	defer a.Close()
	all, err := generate(a, phrase, objects, perObject)
	if err != nil {
		return r, err
	}
	if progress != nil {
		progress(fmt.Sprintf("storing %d changes on the device", len(all)))
	}
	for i := 0; i < len(all); i += 2000 {
		if _, _, err := a.ReceiveBatch(ctx, all[i:min(i+2000, len(all))]); err != nil {
			return r, err
		}
	}
	if r.StoreSize, err = dirSize(a.Dir()); err != nil {
		return r, err
	}
	start := time.Now()
	m, err := a.Backup(ctx, filepath.Join(dir, "backup"), false)
	r.Wall, r.Manifest = time.Since(start), m
	return r, err
}

// dirSize adds up the sizes of the files in dir.
func dirSize(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !info.IsDir() {
			n += info.Size()
		}
	}
	return n, nil
}
