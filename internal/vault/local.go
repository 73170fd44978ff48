package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"mycel/internal/keys"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
)

// A device's data folder holds its SQLite store (DBFile) beside its keys
// (SecretsFile). Open, Init and Recover are New and Create over that store:
// what the CLI and a running device use. Tests may give New and Create
// another store.

func openSQLite(path string) (store.Store, error) { return openDevice(path) }

// openDevice opens a device's SQLite store (a backup's copy too).
func openDevice(path string) (*sqlite.DB, error) {
	return sqlite.OpenWith(path, sqlite.Options{CacheMiB: deviceCacheMiB})
}

// deviceCacheMiB is the page cache of a device's store connection that
// writes (its readers keep SQLite's default). An initial sync inserts
// changes whose ids are random keys of an index far larger than a batch: a
// batch of 2,048 changes dirties some 2,000 pages (8 MB), which SQLite's
// default cache of 2 MiB spilled to the WAL before the commit and read back
// (7 µs of the writer's CPU a change). 16 MiB holds twice that. It costs
// twice what it says: modernc's allocator rounds each cached page (4 KiB
// and SQLite's header) up to an 8 KiB slot, so 32 MiB took 64 MiB of a
// device's memory, a sixth of its peak in a first sync of 100,000 objects,
// and syncing it with 16 took no longer. A node keeps the default: it
// holds many vaults' stores.
const deviceCacheMiB = 16

// LocalStores is the option Open, Init and Recover give the engine.
var LocalStores = WithStores(openSQLite, sqlite.SchemaVersion)

// Open opens the vault in data folder dir.
func Open(dir string) (*Engine, error) {
	if _, err := readSecrets(dir); err != nil {
		return nil, err
	}
	db, err := openDevice(filepath.Join(dir, DBFile))
	if err != nil {
		return nil, err
	}
	e, err := New(dir, db, LocalStores)
	if err != nil {
		db.Close()
	}
	return e, err
}

// Init creates a new vault with a fresh recovery phrase in dir and makes
// this device its first member. It returns the phrase, which is shown once
// and stored nowhere.
func Init(ctx context.Context, dir, deviceName string) (*Engine, string, error) {
	phrase, err := keys.NewPhrase()
	if err != nil {
		return nil, "", err
	}
	e, err := createLocal(ctx, dir, phrase, deviceName)
	return e, phrase, err
}

// Recover sets up this device as a new member of the vault of phrase.
func Recover(ctx context.Context, dir, phrase, deviceName string) (*Engine, error) {
	if err := keys.CheckPhrase(phrase); err != nil {
		return nil, err
	}
	return createLocal(ctx, dir, phrase, deviceName)
}

func createLocal(ctx context.Context, dir, phrase, deviceName string) (*Engine, error) {
	if _, err := os.Stat(filepath.Join(dir, SecretsFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a vault; use another --data folder, or remove it first", dir)
	}
	path := filepath.Join(dir, DBFile)
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%s holds a store but no keys (an interrupted init?); move it away and try again", dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	db, err := openDevice(path)
	if err != nil {
		return nil, err
	}
	e, err := Create(ctx, dir, db, phrase, deviceName, LocalStores)
	if err != nil {
		db.Close()
		os.Remove(path)
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
		return nil, err
	}
	return e, nil
}

// RestoreBackup restores the backup in src into data folder dir (see
// RestoreBackupWith), over a SQLite store.
func RestoreBackup(ctx context.Context, src, dir, phrase, deviceName string) (*Engine, error) {
	return RestoreBackupWith(ctx, src, dir, phrase, deviceName, openSQLite, LocalStores)
}
