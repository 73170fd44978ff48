// Package durable writes files that survive a crash: the one helper the
// chunk folder and the vault's backups and exports share, so that the
// file mode (owner only) and the syncs are decided in one place.
package durable

import (
	"errors"
	"os"
	"syscall"
)

// WriteNew writes b to a new file at path that only its owner can read
// (0600: it may hold a vault's sealed bytes or its secrets), and syncs it
// before closing. It refuses a path that exists (O_EXCL): a caller renames
// a temporary file into place, and never writes through a file another
// process may be reading. The folder is not synced: a caller that renames
// or needs the name durable calls SyncDir once, after its last write.
func WriteNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// SyncDir syncs a folder, so that the names created, renamed or removed in
// it last through a crash. A file system that cannot sync a folder
// (EINVAL) is taken as one that needs no such sync.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
