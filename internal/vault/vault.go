// Package vault is the local engine: the one API through which the CLI (and
// later the daemon and web app) reads and edits objects. It owns a data
// folder: the store, the vault secrets and the device key. Every call that
// writes runs in one store transaction, so it happens entirely or not at all.
package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"mycel/internal/change"
	"mycel/internal/chunkstore"
	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/object"
	"mycel/internal/store"
)

// Files in a data folder.
const (
	DBFile      = "mycel.db"
	SecretsFile = "secrets.json" // mode 0600: vault seed and device key
)

// ErrNoVault means the data folder has no vault yet.
var ErrNoVault = errors.New("no vault in the data folder")

type noVaultError struct{ dir string }

func (e noVaultError) Error() string {
	return fmt.Sprintf("%s has no vault; run `mycel init` to create one, or `mycel recover` to join yours", e.dir)
}

func (e noVaultError) Is(target error) bool { return target == ErrNoVault }

// Engine is an open vault on this device.
type Engine struct {
	dir    string
	db     store.Store
	vault  *keys.Vault
	device ed25519.PrivateKey
	// Now is the clock; tests replace it.
	Now    func() time.Time
	Policy object.SnapshotPolicy

	openStore   func(path string) (store.Store, error) // opens a copy of a store (backups)
	storeFormat int

	mu          sync.Mutex
	cache       map[change.ID]*loaded      // open objects, valid while their heads are
	textIndexed map[change.ID]textIndexing // when each object's full text was last indexed (see textDue)
	textSwept   int                        // its size after it was last swept

	memberLog *member.Log // verified membership records seen so far (under mu)

	storedMu sync.Mutex
	storedCh chan struct{} // closed at the next store of changes (see Stored)

	chunkOnce  sync.Once
	chunkStore *chunkstore.Store // see Chunks
	chunkErr   error
}

// Stored returns a channel closed the next time this engine stores a
// change (an edit, a new object, changes received by sync): for waking
// what shows changes, at once rather than at its next look at the store.
// Writes by other processes are not seen here (see Changed).
func (e *Engine) Stored() <-chan struct{} {
	e.storedMu.Lock()
	defer e.storedMu.Unlock()
	if e.storedCh == nil {
		e.storedCh = make(chan struct{})
	}
	return e.storedCh
}

func (e *Engine) notifyStored() {
	e.storedMu.Lock()
	defer e.storedMu.Unlock()
	if e.storedCh != nil {
		close(e.storedCh)
		e.storedCh = nil
	}
}

// An Option configures an engine.
type Option func(*Engine)

// WithStores says how to open a store file other than the engine's own (a
// backup's copy) and which format the engine's store writes.
func WithStores(open func(path string) (store.Store, error), format int) Option {
	return func(e *Engine) { e.openStore, e.storeFormat = open, format }
}

type secrets struct {
	Version    int    `json:"version"`
	VaultSeed  []byte `json:"vault_seed"`  // BIP39 seed of the recovery phrase
	DeviceSeed []byte `json:"device_seed"` // ed25519 seed of this device
}

// Create makes dir a new device of the vault of phrase over db, a store
// the caller opened (new and empty, or a restored backup's copy). The keys
// are written last: a folder with keys is a complete vault.
func Create(ctx context.Context, dir string, db store.Store, phrase, deviceName string, opts ...Option) (*Engine, error) {
	if err := keys.CheckPhrase(phrase); err != nil {
		return nil, err
	}
	return createFromSeed(ctx, dir, db, keys.Seed(phrase), deviceName, opts)
}

// createFromSeed is Create given the phrase's seed.
func createFromSeed(ctx context.Context, dir string, db store.Store, seed []byte, deviceName string, opts []Option) (*Engine, error) {
	if _, err := os.Stat(filepath.Join(dir, SecretsFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a vault; use another --data folder, or remove it first", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	if deviceName == "" {
		deviceName = DefaultDeviceName()
	}
	v, err := keys.DeriveVault(seed)
	if err != nil {
		return nil, err
	}
	_, device, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	e := newEngine(dir, db, v, device, opts)
	var have []byte
	if err := db.View(ctx, func(tx store.Tx) (err error) {
		have, err = tx.Setting("vault_id")
		return err
	}); err != nil {
		return nil, err
	}
	if have != nil && string(have) != string(v.ID[:]) {
		return nil, fmt.Errorf("the store in %s belongs to another vault", dir)
	}
	rec, err := member.NewRecord(v, member.Add, e.DeviceKey(), deviceName, e.Now())
	if err != nil {
		return nil, err
	}
	err = db.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetSetting("vault_id", v.ID[:]); err != nil {
			return err
		}
		return tx.PutMemberRecord(rec)
	})
	if err == nil {
		// The keys go last: a folder with keys is a complete vault.
		err = writeSecrets(filepath.Join(dir, SecretsFile), secrets{Version: 1, VaultSeed: seed, DeviceSeed: device.Seed()})
	}
	if err != nil {
		return nil, fmt.Errorf("create vault: %w", err)
	}
	return e, nil
}

func newEngine(dir string, db store.Store, v *keys.Vault, device ed25519.PrivateKey, opts []Option) *Engine {
	e := &Engine{dir: dir, db: db, vault: v, device: device, Now: time.Now, Policy: object.DefaultSnapshotPolicy}
	for _, o := range opts {
		o(e)
	}
	return e
}

// New opens the vault whose keys are in dir over db, the store the caller
// opened for it (see Open for a device's data folder).
func New(dir string, db store.Store, opts ...Option) (*Engine, error) {
	s, err := readSecrets(dir)
	if err != nil {
		return nil, err
	}
	v, err := keys.DeriveVault(s.VaultSeed)
	if err != nil {
		return nil, err
	}
	return newEngine(dir, db, v, ed25519.NewKeyFromSeed(s.DeviceSeed), opts), nil
}

func readSecrets(dir string) (secrets, error) {
	var s secrets
	path := filepath.Join(dir, SecretsFile)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, noVaultError{dir}
	}
	if err != nil {
		return s, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return s, fmt.Errorf("%s is readable by others (mode %v); run `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Version != 1 || len(s.VaultSeed) != 64 || len(s.DeviceSeed) != ed25519.SeedSize {
		return s, fmt.Errorf("%s is damaged; recover the vault into a new folder with your recovery phrase", path)
	}
	return s, nil
}

// DefaultDeviceName is the host name, or "device".
func DefaultDeviceName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "device"
}

// writeSecrets writes the file atomically with mode 0600.
func writeSecrets(path string, s secrets) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	os.Remove(tmp) // left by a crash
	if err := writePrivate(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Close brings the text index up to date and closes the store.
func (e *Engine) Close() error {
	err := e.refreshText(context.Background())
	if errors.Is(err, store.ErrFull) {
		// The search text is brought up to date at the next close with
		// room to write it: a full disk must not fail a command that
		// only read.
		err = nil
	}
	if cerr := e.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// Dir is the data folder.
func (e *Engine) Dir() string { return e.dir }

// VaultID is the vault's public id.
func (e *Engine) VaultID() keys.VaultID { return e.vault.ID }

// DeviceKey is this device's public key.
func (e *Engine) DeviceKey() ed25519.PublicKey { return e.device.Public().(ed25519.PublicKey) }

// members returns the membership log as stored. Records only grow, in
// arrival order, so the engine keeps the verified log and checks only
// records it has not seen.
func (e *Engine) members(tx store.Tx) (*member.Log, error) {
	raws, err := tx.MemberRecords()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.memberLog == nil || len(raws) < e.memberLog.Len() {
		e.memberLog = member.NewLog(e.vault.ID)
	}
	l := e.memberLog.Clone()
	for _, r := range raws[l.Len():] {
		if err := l.Add(r); err != nil {
			return nil, fmt.Errorf("membership log in the store: %w", err)
		}
	}
	e.memberLog = l
	return l, nil
}

// DeviceInfo describes one device of the vault.
type DeviceInfo struct {
	Key     ed25519.PublicKey
	Name    string
	Added   time.Time
	Removed bool
	This    bool
	// LastSeen is when this device last heard from it (see NoteLastSeen);
	// zero if never, and for this device itself.
	LastSeen time.Time
}

// Devices lists the vault's devices with their names.
func (e *Engine) Devices(ctx context.Context) ([]DeviceInfo, error) {
	var out []DeviceInfo
	err := e.db.View(ctx, func(tx store.Tx) error {
		l, err := e.members(tx)
		if err != nil {
			return err
		}
		seen := lastSeen(tx)
		for _, d := range l.Devices() {
			name, err := d.Name(e.vault.ReadKey)
			if err != nil {
				name = "(name unreadable)"
			}
			out = append(out, DeviceInfo{Key: d.Key, Name: name, Added: d.Added, Removed: d.Removed != nil, This: d.Key.Equal(e.DeviceKey()),
				LastSeen: seen[hex.EncodeToString(d.Key)]})
		}
		return nil
	})
	return out, err
}

// Setting reads a device setting (nil when unset).
func (e *Engine) Setting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		v, err = tx.Setting(key)
		return err
	})
	return v, err
}

// SetSetting writes a device setting.
func (e *Engine) SetSetting(ctx context.Context, key string, value []byte) error {
	return e.db.Update(ctx, func(tx store.Tx) error { return tx.SetSetting(key, value) })
}

// DiscoveryKey keys the handshake between devices of this vault (see
// p2p.DialPeer); it never leaves the device.
func (e *Engine) DiscoveryKey() [32]byte { return e.vault.DiscoveryKey }

// IsMember reports whether key is a current (not removed) device of the
// vault.
func (e *Engine) IsMember(ctx context.Context, key ed25519.PublicKey) (bool, error) {
	devs, err := e.Devices(ctx)
	if err != nil {
		return false, err
	}
	for _, d := range devs {
		if d.Key.Equal(key) && !d.Removed {
			return true, nil
		}
	}
	return false, nil
}

// AddMemberRecords adds membership records from elsewhere (another device
// of the vault); each is verified.
func (e *Engine) AddMemberRecords(ctx context.Context, raws [][]byte) error {
	return e.db.Update(ctx, func(tx store.Tx) error {
		l, err := e.members(tx)
		if err != nil {
			return err
		}
		l = l.Clone()
		for _, r := range raws {
			if l.Has(r) {
				continue // known: verified when it came
			}
			if l.Len() >= member.MaxRecords {
				return fmt.Errorf("%w: the log already holds %d records, the most a vault may have", member.ErrInvalid, member.MaxRecords)
			}
			if err := l.Add(r); err != nil {
				return err
			}
			if err := tx.PutMemberRecord(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// MemberRecords returns the raw membership log.
func (e *Engine) MemberRecords(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		out, err = tx.MemberRecords()
		return err
	})
	return out, err
}

func sha256sum(b []byte) [32]byte { return sha256.Sum256(b) }

// HostKey is this device's private key, which is also its libp2p identity.
func (e *Engine) HostKey() ed25519.PrivateKey { return e.device }

// Store is the engine's store, for the sync service (reads, and the
// engine's Receive for writes).
func (e *Engine) Store() store.Store { return e.db }

// Nodes lists the backup nodes this device syncs with (their multiaddrs).
func (e *Engine) Nodes(ctx context.Context) ([]string, error) {
	var out []string
	err := e.db.View(ctx, func(tx store.Tx) error {
		b, err := tx.Setting("nodes")
		if err != nil || b == nil {
			return err
		}
		return json.Unmarshal(b, &out)
	})
	return out, err
}

// SetNodes replaces the list of backup nodes.
func (e *Engine) SetNodes(ctx context.Context, addrs []string) error {
	b, err := json.Marshal(addrs)
	if err != nil {
		return err
	}
	return e.db.Update(ctx, func(tx store.Tx) error { return tx.SetSetting("nodes", b) })
}

// RemoveNode stops syncing with the node at addr (the running device
// drops it at once), or says it is not one of this device's nodes.
func (e *Engine) RemoveNode(ctx context.Context, addr string) error {
	ns, err := e.Nodes(ctx)
	if err != nil {
		return err
	}
	kept := slices.DeleteFunc(slices.Clone(ns), func(n string) bool { return n == addr })
	if len(kept) == len(ns) {
		return fmt.Errorf("%s is not one of this device's nodes (see mycel nodes ls)", addr)
	}
	return e.SetNodes(ctx, kept)
}

// DeviceNames maps each device key of the vault (as a string of its bytes)
// to its name: for showing who made a version or a change.
func (e *Engine) DeviceNames(ctx context.Context) map[string]string {
	names := map[string]string{}
	if ds, err := e.Devices(ctx); err == nil {
		for _, d := range ds {
			names[string(d.Key)] = d.Name
		}
	}
	return names
}
