package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"mycel/internal/keys"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
)

// ManifestFile describes a backup, next to the store copy in it.
const ManifestFile = "manifest.json"

// Manifest is what a backup holds and how to check it.
type Manifest struct {
	Format           int       `json:"format"` // of the backup folder: 1
	Mycel            string    `json:"mycel_version"`
	StoreFormat      int       `json:"store_format"`
	VaultID          string    `json:"vault_id"`
	Created          time.Time `json:"created"`
	Objects          int       `json:"objects"`
	Changes          int       `json:"changes"`
	SHA256           string    `json:"sha256"` // of the store copy
	Bytes            int64     `json:"bytes"`
	IncludeDeviceKey bool      `json:"includes_device_key"`
}

// Backup writes a consistent copy of the store into dest (a new or empty
// folder) with a manifest, while this and other processes go on writing.
// The keys are left out unless includeDeviceKey: then whoever holds the
// backup holds this device (and can read the vault).
func (e *Engine) Backup(ctx context.Context, dest string, includeDeviceKey bool) (Manifest, error) {
	m := Manifest{Format: 1, Mycel: version(), StoreFormat: sqlite.SchemaVersion, VaultID: hex.EncodeToString(e.vault.ID[:]),
		Created: time.Now().UTC(), IncludeDeviceKey: includeDeviceKey}
	if err := emptyFolder(dest); err != nil {
		return m, err
	}
	copyPath := filepath.Join(dest, DBFile)
	if err := e.db.CopyTo(ctx, copyPath, store.CopyOptions{CiphertextOnly: !includeDeviceKey}); err != nil {
		return m, err
	}
	// Count what the copy holds, not the live store.
	c, err := sqlite.Open(copyPath)
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
	if includeDeviceKey {
		b, err := os.ReadFile(filepath.Join(e.dir, SecretsFile))
		if err != nil {
			return m, err
		}
		if err := writePrivate(filepath.Join(dest, SecretsFile), b); err != nil {
			return m, err
		}
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	// The manifest goes last: a folder with one is a complete backup.
	return m, writePrivate(filepath.Join(dest, ManifestFile), append(b, '\n'))
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

// RestoreBackup restores the backup in src into dir, which must be new or
// empty. A backup with the device key opens as that device; one without
// becomes a new device of the vault, named deviceName, which needs the
// recovery phrase.
func RestoreBackup(ctx context.Context, src, dir, phrase, deviceName string) (*Engine, error) {
	m, err := ReadBackup(src)
	if err != nil {
		return nil, err
	}
	if !m.IncludeDeviceKey {
		if phrase == "" {
			return nil, errors.New("this backup holds no device key: give the vault's recovery phrase, and the restore becomes a new device")
		}
		if err := keys.CheckPhrase(phrase); err != nil {
			return nil, err
		}
		v, err := keys.DeriveVault(keys.Seed(phrase))
		if err != nil {
			return nil, err
		}
		if hex.EncodeToString(v.ID[:]) != m.VaultID {
			return nil, errors.New("this recovery phrase is of another vault than the backup's")
		}
	}
	if err := emptyFolder(dir); err != nil {
		return nil, err
	}
	if err := copyFile(filepath.Join(src, DBFile), filepath.Join(dir, DBFile)); err != nil {
		return nil, err
	}
	if m.IncludeDeviceKey {
		b, err := os.ReadFile(filepath.Join(src, SecretsFile))
		if err != nil {
			return nil, fmt.Errorf("the backup says it holds the device key, but: %w", err)
		}
		if err := writePrivate(filepath.Join(dir, SecretsFile), b); err != nil {
			return nil, err
		}
		e, err := Open(dir)
		if err != nil {
			return nil, err
		}
		if hex.EncodeToString(e.vault.ID[:]) != m.VaultID {
			e.Close()
			return nil, errors.New("the backup's device key is of another vault than its store")
		}
		return e, nil
	}
	return adopt(ctx, dir, phrase, deviceName)
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

// writePrivate writes a new file only its owner can read, synced.
func writePrivate(path string, b []byte) error {
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
