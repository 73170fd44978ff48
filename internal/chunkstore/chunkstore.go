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

	"mycel/internal/files"
)

// ErrNotFound is returned for a chunk the store does not hold.
var ErrNotFound = errors.New("chunk not stored here")

// ErrFull wraps a write that failed for want of disk space.
var ErrFull = errors.New("the disk is full")

// Store is a folder of chunks. It is safe for concurrent use, by several
// processes too (writes are atomic renames).
type Store struct {
	dir string

	mu    sync.Mutex
	size  int64 // bytes of the chunks stored, once counted
	count int64
	known bool // size and count are counted
}

// Open opens (making it if needed) the chunk folder dir and removes what a
// crash left half-written: temporary files older than an hour. Newer ones
// may be another process's writes under way (a 'mycel files add' beside a
// running 'mycel up'), whose renames would fail.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("open chunk folder: %w", err)
	}
	tmps, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	for _, t := range tmps {
		if fi, err := t.Info(); err == nil && time.Since(fi.ModTime()) > staleTmp {
			os.Remove(filepath.Join(dir, "tmp", t.Name()))
		}
	}
	return &Store{dir: dir}, nil
}

// staleTmp is the age after which a temporary file is a crash's leftover.
var staleTmp = time.Hour

// Dir is the chunk folder.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(a files.Address) string {
	h := a.String()
	return filepath.Join(s.dir, h[:2], h[2:])
}

// Has reports whether the chunk is stored.
func (s *Store) Has(a files.Address) bool {
	_, err := os.Stat(s.path(a))
	return err == nil
}

// Get reads a chunk. It does not check the bytes against the address: the
// one who opens the chunk does (files.Keys.Open), and Check does.
func (s *Store) Get(a files.Address) ([]byte, error) {
	b, err := os.ReadFile(s.path(a))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, a.Short())
	}
	return b, err
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
	if len(sealed) > files.MaxSealed {
		return false, fmt.Errorf("chunk %s of %d bytes: over the %d-byte limit", a.Short(), len(sealed), files.MaxSealed)
	}
	dst := s.path(a)
	repair := false
	if old, err := os.ReadFile(dst); err == nil {
		if files.AddressOf(old) == a {
			// Fresh again: garbage collection spares chunks stored lately,
			// and this one is about to be named by a change again.
			now := time.Now()
			os.Chtimes(dst, now, now)
			return false, nil
		}
		// Rotted on disk: the good bytes replace it (a node would have
		// said it holds the chunk while it held damage).
		repair = true
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return false, s.failed(err)
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	tmp := filepath.Join(s.dir, "tmp", a.String()[:16]+"-"+hex.EncodeToString(nonce[:]))
	if err := writeSynced(tmp, sealed); err != nil {
		os.Remove(tmp)
		return false, s.failed(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return false, s.failed(err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return false, s.failed(err)
	}
	if repair {
		return false, nil
	}
	s.mu.Lock()
	if s.known {
		s.size += int64(len(sealed))
		s.count++
	}
	s.mu.Unlock()
	return true, nil
}

func (s *Store) failed(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w (%s): free some space; what was stored is kept and the rest follows once there is room: %v", ErrFull, s.dir, err)
	}
	return fmt.Errorf("store chunk: %w", err)
}

func writeSynced(path string, b []byte) error {
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

func syncDir(dir string) error {
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

// Remove deletes a chunk (absent is not an error).
func (s *Store) Remove(a files.Address) error {
	fi, err := os.Stat(s.path(a))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.Remove(s.path(a)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s.mu.Lock()
	if s.known && fi != nil {
		s.size -= fi.Size()
		s.count--
	}
	s.mu.Unlock()
	return nil
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
