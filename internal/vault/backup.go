package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"mycel/internal/change"
	"mycel/internal/durable"
	"mycel/internal/keys"
	"mycel/internal/store"
)

// ManifestFile describes a backup, next to the store copy in it.
const ManifestFile = "manifest.json"

// Manifest is what a backup holds and how to check it.
type Manifest struct {
	Format      int       `json:"format"` // of the backup folder: 1
	Mycel       string    `json:"mycel_version"`
	StoreFormat int       `json:"store_format"`
	VaultID     string    `json:"vault_id"`
	Device      string    `json:"device,omitempty"` // the backed-up device's key: a restore takes its name
	Created     time.Time `json:"created"`
	Objects     int       `json:"objects"`
	Changes     int       `json:"changes"`
	SHA256      string    `json:"sha256"` // of the store copy
	Bytes       int64     `json:"bytes"`
	// IncludeDeviceKey: the backup holds the vault's keys (a restore
	// needs no phrase) and, with them, the plaintext search index. Without
	// them it holds only ciphertext.
	IncludeDeviceKey bool `json:"includes_device_key"`
	// Chunks are the file chunks in the backup's chunks folder (sealed,
	// as stored), their bytes, and those left out as damaged.
	Chunks        int   `json:"chunks,omitempty"`
	ChunkBytes    int64 `json:"chunk_bytes,omitempty"`
	ChunksDamaged int   `json:"chunks_damaged,omitempty"`
}

// Backup writes a consistent copy of the store into dest (a new or empty
// folder) with a manifest, while this and other processes go on writing.
// Without includeKeys the copy holds nothing readable: the changes and
// the membership log as stored (ciphertext, and what a backup node sees
// anyway) but no title, snippet or search text; restoring it needs the
// recovery phrase and rebuilds the index. With includeKeys it holds the
// vault's keys and index too: whoever has it can read the vault.
func (e *Engine) Backup(ctx context.Context, dest string, includeKeys bool) (Manifest, error) {
	m := Manifest{Format: 1, Mycel: version(), StoreFormat: e.storeFormat, VaultID: hex.EncodeToString(e.vault.ID[:]),
		Device: hex.EncodeToString(e.DeviceKey()), Created: time.Now().UTC(), IncludeDeviceKey: includeKeys}
	if e.openStore == nil {
		return m, errors.New("backups need the engine to know how to open a store copy (vault.WithStores)")
	}
	if err := emptyFolder(dest); err != nil {
		return m, err
	}
	copyPath := filepath.Join(dest, DBFile)
	if err := e.db.CopyTo(ctx, copyPath, store.CopyOptions{CiphertextOnly: !includeKeys}); err != nil {
		return m, err
	}
	// Count what the copy holds, not the live store.
	c, err := e.openStore(copyPath)
	if err != nil {
		return m, err
	}
	err = c.View(ctx, func(tx store.Tx) error {
		objs, err := tx.ChangeObjects()
		m.Objects = len(objs)
		if err == nil {
			m.Changes, err = tx.CountChanges()
		}
		return err
	})
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return m, err
	}
	if m.SHA256, m.Bytes, err = fileSum(copyPath); err != nil {
		return m, err
	}
	if err := e.backupChunks(dest, &m); err != nil {
		return m, err
	}
	if includeKeys {
		b, err := os.ReadFile(filepath.Join(e.dir, SecretsFile))
		if err != nil {
			return m, err
		}
		if err := writePrivate(filepath.Join(dest, SecretsFile), b); err != nil {
			return m, err
		}
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	// The manifest goes last: a folder with one is a complete backup, and
	// the folder is synced after it, so that its names survive a crash.
	if err := writePrivate(filepath.Join(dest, ManifestFile), append(b, '\n')); err != nil {
		return m, err
	}
	return m, durable.SyncDir(dest)
}

// ReadBackup reads a backup's manifest and checks its store copy against
// it.
func ReadBackup(src string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(src, ManifestFile))
	if err != nil {
		return m, fmt.Errorf("%s is not a mycel backup (no %s): %w", src, ManifestFile, err)
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Format != 1 {
		return m, fmt.Errorf("%s: manifest unreadable or of an unknown format", src)
	}
	sum, _, err := fileSum(filepath.Join(src, DBFile))
	if err != nil {
		return m, err
	}
	if sum != m.SHA256 {
		return m, fmt.Errorf("the backup in %s is damaged: its store does not match the manifest's checksum", src)
	}
	return m, nil
}

// RestoreBackupWith restores the backup in src into dir, which must be new or
// empty, opening the restored store with open. The restore is always a new
// device of the vault, with a key of its own (two stores writing with one
// key would fork pages), named deviceName or else like the device backed
// up. A backup without keys needs the recovery phrase, and its index
// (titles, search) is rebuilt from the changes.
func RestoreBackupWith(ctx context.Context, src, dir, phrase, deviceName string, open func(path string) (store.Store, error), opts ...Option) (*Engine, error) {
	m, err := ReadBackup(src)
	if err != nil {
		return nil, err
	}
	var seed []byte
	if m.IncludeDeviceKey {
		s, err := readSecrets(src)
		if err != nil {
			return nil, fmt.Errorf("the backup says it holds the keys, but: %w", err)
		}
		seed = s.VaultSeed
	} else {
		if phrase == "" {
			return nil, errors.New("this backup holds no keys: give the vault's recovery phrase, and the restore becomes a new device")
		}
		if err := keys.CheckPhrase(phrase); err != nil {
			return nil, err
		}
		seed = keys.Seed(phrase)
	}
	v, err := keys.DeriveVault(seed)
	if err != nil {
		return nil, err
	}
	if hex.EncodeToString(v.ID[:]) != m.VaultID {
		if m.IncludeDeviceKey {
			return nil, errors.New("the backup's keys are of another vault than its store")
		}
		return nil, errors.New("this recovery phrase is of another vault than the backup's")
	}
	if err := emptyFolder(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, DBFile)
	if err := copyFile(filepath.Join(src, DBFile), path); err != nil {
		return nil, err
	}
	if err := restoreChunks(src, dir, m); err != nil {
		return nil, err
	}
	db, err := open(path)
	if err != nil {
		return nil, err
	}
	if deviceName == "" {
		deviceName = backedUpName(ctx, db, v, m.Device)
	}
	e, err := createFromSeed(ctx, dir, db, seed, deviceName, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	if !m.IncludeDeviceKey {
		if err := e.RebuildIndex(ctx); err != nil {
			e.Close()
			return nil, fmt.Errorf("rebuild the index of the restored store: %w", err)
		}
	}
	return e, nil
}

// backedUpName is the name of the backed-up device (hex key) in the
// restored membership log, or the host name.
func backedUpName(ctx context.Context, db store.Store, v *keys.Vault, device string) string {
	_, scratch, _ := ed25519.GenerateKey(nil) // Devices marks "this" device by key
	e := &Engine{db: db, vault: v, device: scratch}
	if devs, err := e.Devices(ctx); err == nil {
		for _, d := range devs {
			if hex.EncodeToString(d.Key) == device {
				return d.Name
			}
		}
	}
	return DefaultDeviceName()
}

// RebuildIndex writes every object's index row and search text again from
// its changes.
func (e *Engine) RebuildIndex(ctx context.Context) error {
	var ids []change.ID
	if err := e.db.View(ctx, func(tx store.Tx) (err error) {
		ids, err = tx.ChangeObjects()
		return err
	}); err != nil {
		return err
	}
	for _, id := range ids {
		var l *loaded
		err := e.db.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.Object(id); errors.Is(err, store.ErrNotFound) {
				// A store copy keeps its rows; one without is given one.
				root, err := tx.Meta(id)
				if err != nil {
					return err
				}
				return tx.PutObject(store.Object{ID: id, Type: "page", Created: root.Time, Updated: root.Time, TextStale: true})
			} else {
				return err
			}
		})
		if err != nil {
			return err
		}
		if err := e.db.View(ctx, func(tx store.Tx) (err error) {
			l, err = e.load(tx, id)
			if err == nil {
				l.row.Changes, err = countChanges(tx, id)
			}
			return err
		}); err != nil {
			return err
		}
		err = e.db.Update(ctx, func(tx store.Tx) error {
			if err := e.index(tx, l); err != nil {
				return err
			}
			blocks := l.doc.Blocks()
			l.row.TextStale, l.row.Body, l.row.Links = false, PlainText(blocks), LinksOf(blocks)
			return tx.PutObject(l.row)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// emptyFolder makes dir, or checks that it is empty: a restore or backup
// never overwrites anything.
func emptyFolder(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty: give a new or empty folder (nothing is overwritten)", dir)
	}
	return nil
}

func fileSum(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return writePrivate(to, b)
}

// writePrivate writes a new file only its owner can read, synced (the
// helper the chunk folder uses too).
func writePrivate(path string, b []byte) error { return durable.WriteNew(path, b) }
