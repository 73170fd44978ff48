package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"mycel/internal/change"
	"mycel/internal/markdown"
	"mycel/internal/vault"
)

// BackupResult is what Backup measured.
type BackupResult struct {
	vault.Manifest
	Wall      time.Duration // writing the backup
	StoreSize int64         // of the live store, for comparison
	// Exports of the same store, each timed, with the size written.
	Markdown, JSON         time.Duration
	MarkdownSize, JSONSize int64
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
	if err != nil {
		return r, err
	}
	for _, x := range []struct {
		name   string
		export func(context.Context, string, []change.ID) (int, error)
		wall   *time.Duration
		size   *int64
	}{{"markdown", func(ctx context.Context, dir string, ids []change.ID) (int, error) {
		return a.ExportMarkdown(ctx, dir, ids, markdown.Markdown)
	}, &r.Markdown, &r.MarkdownSize}, {"json", a.ExportJSON, &r.JSON, &r.JSONSize}} {
		start := time.Now()
		if _, err := x.export(ctx, filepath.Join(dir, x.name), nil); err != nil {
			return r, err
		}
		*x.wall = time.Since(start)
		if *x.size, err = dirSize(filepath.Join(dir, x.name)); err != nil {
			return r, err
		}
	}
	return r, nil
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
