// Package chunkstore keeps sealed file chunks in a folder beside a store:
// one file per chunk, named by its address, under a folder of its first
// byte (256 folders, so no folder grows huge). Chunks are kept out of the
// SQLite change log on purpose: they are large, written once and read
// whole, and a file system does that best.
//
// A chunk is written to a temporary file, synced, renamed into place and
// its folder synced: after a crash a chunk is there whole or not at all,
// and one that is there is durable. Every chunk is checked against its
// address before it is stored, so a store never holds a chunk under a
// name its bytes do not have.
package chunkstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"mycel/internal/durable"
	"mycel/internal/files"
)

// ErrNotFound is returned for a chunk the store does not hold.
var ErrNotFound = errors.New("chunk not stored here")

// ErrFull wraps a write that failed for want of disk space.
var ErrFull = errors.New("the disk is full")

// Store is a folder of chunks. It is safe for concurrent use, by several
// processes too (writes are atomic renames); its count of what it holds
// is exact for this process's writes, and counted again at each start.
type Store struct {
	dir string
	now func() time.Time

	// locks serializes what is done to one chunk in this process (a Put, a
	// removal, a move aside), so that two Puts of one chunk store and
	// count it once, and a removal never lands between a Put's check that
	// the chunk is there and its OK.
	locks addrLocks

	// counting is held shared by each change to the folder that counts (a
	// rename into place, a removal) from the change through its count, and
	// exclusively by the first count (a walk): a chunk renamed in during
	// that walk is counted by it or by its Put, never by both.
	counting sync.RWMutex

	mu       sync.Mutex
	size     int64 // bytes of the chunks stored, once counted
	count    int64
	known    bool  // size and count are counted
	reserved int64 // bytes of PutWithin writes admitted and not yet counted
}

// OverLimit is the refusal of a PutWithin: Used bytes are stored or
// being stored, and the chunk would take the store over Limit.
type OverLimit struct{ Used, Limit int64 }

func (e *OverLimit) Error() string {
	return fmt.Sprintf("chunk store limit: %d of %d bytes used", e.Used, e.Limit)
}

// Options are a store's settings; zero values are the defaults.
type Options struct {
	// Now is the clock that stamps a chunk when it is stored or put again
	// (nil: the wall clock). Garbage collection reads that stamp as the
	// chunk's age, so a node with an injected clock keeps one time.
	Now func() time.Time
}

// Open opens (making it if needed) the chunk folder dir, with the default
// options.
func Open(dir string) (*Store, error) { return OpenWith(dir, Options{}) }

// OpenWith opens (making it if needed) the chunk folder dir and removes
// what a crash left half-written: temporary files older than an hour.
// Newer ones may be another process's writes under way (a 'mycel files
// add' beside a running 'mycel up'), whose renames would fail.
func OpenWith(dir string, o Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("open chunk folder: %w", err)
	}
	tmps, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	for _, t := range tmps {
		if fi, err := t.Info(); err == nil && time.Since(fi.ModTime()) > staleTmp {
			os.Remove(filepath.Join(dir, "tmp", t.Name()))
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Store{dir: dir, now: o.Now}, nil
}

// staleTmp is the age after which a temporary file is a crash's leftover.
var staleTmp = time.Hour

// DamagedFolder holds chunks whose bytes were found not to match their
// address when read (see Read), kept rather than deleted.
const DamagedFolder = "damaged"

// Dir is the chunk folder.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(a files.Address) string {
	h := a.String()
	return filepath.Join(s.dir, h[:2], h[2:])
}

func (s *Store) damagedPath(a files.Address) string {
	return filepath.Join(s.dir, DamagedFolder, a.String())
}

// Has reports whether the chunk is stored: a file under its address whose
// size a sealed chunk can have (a file cut short to nothing by a crash or
// a full disk is not a chunk). It reads none of the bytes: it answers for
// thousands of chunks at once. Bytes that rotted in place are found by
// Read, which moves the file aside (Has says false from then on, so the
// chunk is listed missing and uploaded again), and by Check.
func (s *Store) Has(a files.Address) bool {
	fi, err := os.Stat(s.path(a))
	return err == nil && fi.Mode().IsRegular() && plausible(fi.Size())
}

// HasRefresh is Has, and a chunk it finds that was stored (or last
// refreshed) before stale gets the store's time, as a Put again would: a
// device told the chunk is here relies on it and will not upload it, so
// it must not be collected before the change naming it comes. The stamp
// is set under the chunk's lock, so a removal (RemoveOlder) lands wholly
// before (and Has says false) or after (and finds it young).
func (s *Store) HasRefresh(a files.Address, stale time.Time) bool {
	fi, err := os.Stat(s.path(a))
	if err != nil || !fi.Mode().IsRegular() || !plausible(fi.Size()) {
		return false
	}
	if !fi.ModTime().Before(stale) {
		return true
	}
	unlock := s.locks.lock(a)
	defer unlock()
	now := s.now()
	return os.Chtimes(s.path(a), now, now) == nil
}

func plausible(size int64) bool { return size >= files.Overhead && size <= files.MaxSealed }

// Get reads a chunk. It does not check the bytes against the address: the
// one who opens the chunk does (files.Keys.Open), and Read and Check do.
func (s *Store) Get(a files.Address) ([]byte, error) {
	b, err := os.ReadFile(s.path(a))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, a.Short())
	}
	return b, err
}

// Read reads a chunk and checks it against its address. Bytes that miss
// it are read once more (a fault of one read, such as a bit flipped in
// memory, is not rot on the disk); wrong again, the file is moved to the
// damaged folder and the chunk is not stored here any more: the error
// wraps both ErrNotFound and files.ErrDamaged, and Has says false, so a
// node lists the chunk missing and a device that holds it uploads it
// again. The file is moved, not deleted: nothing that might be the only
// copy of anything is destroyed on one judgment. A good copy put later
// removes it.
func (s *Store) Read(a files.Address) ([]byte, error) {
	b, err := s.Get(a)
	if err != nil || files.AddressOf(b) == a {
		return b, err
	}
	unlock := s.locks.lock(a)
	defer unlock()
	if b, err = s.Get(a); err != nil || files.AddressOf(b) == a {
		return b, err // put again meanwhile, or the first read was at fault
	}
	if err := os.MkdirAll(filepath.Join(s.dir, DamagedFolder), 0o700); err != nil {
		return nil, err
	}
	s.counting.RLock()
	defer s.counting.RUnlock()
	if err := os.Rename(s.path(a), s.damagedPath(a)); err != nil {
		return nil, fmt.Errorf("move damaged chunk %s aside: %w", a.Short(), err)
	}
	s.counted(-int64(len(b)), -1, 0)
	return nil, fmt.Errorf("%w: %w: chunk %s: its bytes hash to another address (moved to %s)", ErrNotFound, files.ErrDamaged, a.Short(), DamagedFolder)
}

// Put stores sealed under a, durably, unless it is there already (added
// says which). Bytes that do not hash to a are refused.
func (s *Store) Put(a files.Address, sealed []byte) (added bool, err error) {
	if len(sealed) > files.MaxSealed {
		return false, fmt.Errorf("chunk %s of %d bytes: over the %d-byte limit", a.Short(), len(sealed), files.MaxSealed)
	}
	if files.AddressOf(sealed) != a {
		return false, fmt.Errorf("%w: chunk %s: its bytes hash to another address", files.ErrDamaged, a.Short())
	}
	return s.PutChecked(a, sealed)
}

// PutChecked is Put of bytes the caller knows hash to a: it sealed them,
// or checked them as they arrived. Hashing is most of what storing a
// chunk costs, so it is done once on each path.
func (s *Store) PutChecked(a files.Address, sealed []byte) (added bool, err error) {
	return s.put(a, sealed, 0)
}

// PutWithin is PutChecked under a limit on the bytes stored: a chunk not
// held yet that would take them over limit is refused with *OverLimit.
// The bytes of writes under way count from admission until they are
// stored, so that writes at once cannot pass the limit together; a chunk
// held already, or being written by another Put, is not counted twice.
func (s *Store) PutWithin(a files.Address, sealed []byte, limit int64) (added bool, err error) {
	if _, _, err := s.Usage(); err != nil { // counted before the limit is read
		return false, err
	}
	return s.put(a, sealed, limit)
}

func (s *Store) put(a files.Address, sealed []byte, limit int64) (added bool, err error) {
	if len(sealed) > files.MaxSealed {
		return false, fmt.Errorf("chunk %s of %d bytes: over the %d-byte limit", a.Short(), len(sealed), files.MaxSealed)
	}
	unlock := s.locks.lock(a)
	defer unlock()
	dst := s.path(a)
	now := s.now()
	if old, err := os.ReadFile(dst); err == nil && files.AddressOf(old) == a {
		// Fresh again: garbage collection spares chunks stored lately,
		// and this one is about to be named by a change again.
		os.Chtimes(dst, now, now)
		return false, nil
	}
	// Rotted on disk, or unreadable: the good bytes replace it (a node
	// would have said it holds the chunk while it held damage), and its
	// size is what the count had.
	oldSize := int64(-1)
	if fi, err := os.Stat(dst); err == nil {
		oldSize = fi.Size()
	}
	var reserved int64 // released as the bytes are counted, or on failure
	if limit > 0 {
		n := int64(len(sealed))
		s.mu.Lock()
		if used := s.size + s.reserved; used+n > limit {
			s.mu.Unlock()
			return false, &OverLimit{Used: used, Limit: limit}
		}
		s.reserved += n
		s.mu.Unlock()
		reserved = n
		defer func() { s.release(reserved) }()
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return false, s.failed(err)
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	tmp := filepath.Join(s.dir, "tmp", a.String()[:16]+"-"+hex.EncodeToString(nonce[:]))
	if err := durable.WriteNew(tmp, sealed); err != nil {
		os.Remove(tmp)
		return false, s.failed(err)
	}
	os.Chtimes(tmp, now, now) // the store's clock, which collection reads
	s.counting.RLock()
	if err := os.Rename(tmp, dst); err != nil {
		s.counting.RUnlock()
		os.Remove(tmp)
		return false, s.failed(err)
	}
	if oldSize >= 0 {
		s.counted(int64(len(sealed))-oldSize, 0, reserved)
	} else {
		s.counted(int64(len(sealed)), 1, reserved)
	}
	reserved = 0
	s.counting.RUnlock()
	if err := durable.SyncDir(filepath.Dir(dst)); err != nil {
		return false, s.failed(err)
	}
	os.Remove(s.damagedPath(a)) // a copy moved aside by Read is not needed now
	return oldSize < 0, nil
}

// counted adds to the count, once there is one, and releases a
// reservation in the same step: between the two a limit would see the
// chunk's bytes twice. Called with counting held.
func (s *Store) counted(bytes, count, reserved int64) {
	s.mu.Lock()
	if s.known {
		s.size += bytes
		s.count += count
	}
	s.reserved -= reserved
	s.mu.Unlock()
}

// release gives back a reservation of a write that failed.
func (s *Store) release(reserved int64) {
	if reserved != 0 {
		s.mu.Lock()
		s.reserved -= reserved
		s.mu.Unlock()
	}
}

func (s *Store) failed(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w (%s): free some space; what was stored is kept and the rest follows once there is room: %v", ErrFull, s.dir, err)
	}
	return fmt.Errorf("store chunk: %w", err)
}

// Remove deletes a chunk (absent is not an error).
func (s *Store) Remove(a files.Address) error {
	_, _, err := s.remove(a, time.Time{})
	return err
}

// RemoveOlder deletes a chunk stored, or last put again, before cutoff,
// and says whether it did and the bytes freed. The age is read under the
// chunk's lock, so a Put of it in this process lands wholly before (and
// then the chunk is young and kept) or wholly after (and stores it anew).
func (s *Store) RemoveOlder(a files.Address, cutoff time.Time) (removed bool, size int64, err error) {
	return s.remove(a, cutoff)
}

func (s *Store) remove(a files.Address, cutoff time.Time) (bool, int64, error) {
	unlock := s.locks.lock(a)
	defer unlock()
	p := s.path(a)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	if !cutoff.IsZero() && !fi.ModTime().Before(cutoff) {
		return false, 0, nil
	}
	s.counting.RLock()
	defer s.counting.RUnlock()
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, 0, nil // another process's removal: it is not counted here twice
		}
		return false, 0, err
	}
	s.counted(-fi.Size(), -1, 0)
	return true, fi.Size(), nil
}

// addrLocks are per-chunk locks, held only while in use.
type addrLocks struct {
	mu sync.Mutex
	m  map[files.Address]*addrLock
}

type addrLock struct {
	mu    sync.Mutex
	users int
}

func (l *addrLocks) lock(a files.Address) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[files.Address]*addrLock{}
	}
	e := l.m[a]
	if e == nil {
		e = &addrLock{}
		l.m[a] = e
	}
	e.users++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.users--; e.users == 0 {
			delete(l.m, a)
		}
		l.mu.Unlock()
	}
}

// Entry is a chunk stored: its address, size and stamp (when it was
// stored or last put again).
type Entry struct {
	Address  files.Address
	Size     int64
	Modified time.Time
}

// List gives at most limit chunks above after, ascending by address, and
// whether there may be more: a walk of the folder in steps of bounded
// work, resumed from the last address given.
func (s *Store) List(after files.Address, limit int) ([]Entry, bool, error) {
	tops, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, false, err
	}
	from := after.String()
	var out []Entry
	for _, top := range tops { // ReadDir sorts by name: hex sorts as the bytes
		if !top.IsDir() || len(top.Name()) != 2 || top.Name() < from[:2] {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(s.dir, top.Name()))
		if err != nil {
			return nil, false, err
		}
		for _, e := range ents {
			name := top.Name() + e.Name()
			if name <= from {
				continue
			}
			a, err := files.ParseAddress(name)
			if err != nil || a.String() != name {
				continue // not a chunk (or not in the canonical spelling)
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			out = append(out, Entry{Address: a, Size: fi.Size(), Modified: fi.ModTime()})
			if len(out) == limit {
				return out, true, nil
			}
		}
	}
	return out, false, nil
}

// Walk calls fn for every chunk stored, with its size in bytes. Files that
// are not chunks (named otherwise) are skipped.
func (s *Store) Walk(fn func(a files.Address, size int64) error) error {
	tops, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, top := range tops {
		if !top.IsDir() || len(top.Name()) != 2 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(s.dir, top.Name()))
		if err != nil {
			return err
		}
		for _, e := range ents {
			a, err := files.ParseAddress(top.Name() + e.Name())
			if err != nil {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if err := fn(a, fi.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Usage is the count and bytes of the chunks stored (counted once, then
// kept up to date by this process's Put and Remove).
func (s *Store) Usage() (count, bytes int64, err error) {
	s.mu.Lock()
	if s.known {
		defer s.mu.Unlock()
		return s.count, s.size, nil
	}
	s.mu.Unlock()
	s.counting.Lock() // no count changes while the walk counts
	defer s.counting.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known {
		var c, b int64
		if err := s.Walk(func(_ files.Address, n int64) error { c++; b += n; return nil }); err != nil {
			return 0, 0, err
		}
		s.count, s.size, s.known = c, b, true
	}
	return s.count, s.size, nil
}

// Check reads every chunk and reports those whose bytes no longer match
// their address (they are damaged: a device fetches them again). A chunk
// that cannot be read (permissions, too many open files, an I/O error) is
// not damaged and not reported: removing it could lose the only copy. Its
// read error stops the check.
func (s *Store) Check(fn func(a files.Address, err error)) error {
	return s.Walk(func(a files.Address, _ int64) error {
		b, err := s.Get(a)
		if errors.Is(err, ErrNotFound) {
			return nil // removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("read chunk %s: %w", a.Short(), err)
		}
		if files.AddressOf(b) != a {
			fn(a, fmt.Errorf("%w: chunk %s: its bytes hash to another address", files.ErrDamaged, a.Short()))
		}
		return nil
	})
}
