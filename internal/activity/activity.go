// Package activity is a device's activity log: what sync did (sent or
// received changes and with whom, a change refused and why, concurrent
// edits merged, a file pinned on a node, a peer connected), one JSON line
// an entry in a file of the data folder, private to its owner and bounded
// (at maxSize it starts afresh, the old one kept as .1). It holds ids,
// device names, counts and reasons, never content or keys: a page's title
// is looked up when the log is shown. `mycel log` and the API read it;
// the running device writes it.
package activity

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// File is the log's name in the data folder.
const File = "activity.jsonl"

// maxSize is the size at which the log starts afresh (the old one kept
// as .1): some 10,000 entries each.
const maxSize = 2 << 20

// The kinds of entries.
const (
	Connected    = "connected"
	Disconnected = "disconnected"
	Sent         = "sent"
	Received     = "received"
	Refused      = "refused"
	Merged       = "merged"
	Pinned       = "pinned"
	// NotCarriedOut: a node did not carry out a request to remove a page
	// from it or take it back (Reason says which, and why).
	NotCarriedOut = "not carried out"
)

// Entry is one line of the log.
type Entry struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	// Who: the peer's name (a device's, as the membership log names it,
	// or "backup node"), how it is met ("lan", "node") and its sync id.
	Name string `json:"name,omitempty"`
	Via  string `json:"via,omitempty"`
	Peer string `json:"peer,omitempty"`
	// What: the object, how many changes, and for a merge the devices
	// whose concurrent edits were merged; for a pinned file its id.
	Object  string `json:"object,omitempty"`
	Changes int    `json:"changes,omitempty"`
	// Objects, without Object: a line that sums many objects (a second
	// of a first sync past what is told object by object).
	Objects int      `json:"objects,omitempty"`
	From    []string `json:"from,omitempty"`
	File    string   `json:"file,omitempty"`
	Reason  string   `json:"reason,omitempty"` // why a change was refused
}

// IsError reports whether the entry tells of a failure.
func (e Entry) IsError() bool { return e.Kind == Refused || e.Kind == NotCarriedOut }

// Log appends to a data folder's activity log.
type Log struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
}

// Open opens dir's log for appending.
func Open(dir string) (*Log, error) {
	l := &Log{path: filepath.Join(dir, File)}
	if err := l.reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Log) reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open the activity log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Append writes entries, starting the log afresh first if it is full.
func (l *Log) Append(es ...Entry) error {
	if len(es) == 0 {
		return nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, e := range es {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("the activity log is closed")
	}
	if l.size+int64(b.Len()) > maxSize {
		l.f.Close()
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			l.f = nil
			return err
		}
		if err := l.reopen(); err != nil {
			l.f = nil
			return err
		}
	}
	n, err := l.f.Write(b.Bytes())
	l.size += int64(n)
	return err
}

// Close closes the log.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Filter picks entries.
type Filter struct {
	Errors bool   // only failures
	Object string // only those of this object (its whole hex id)
}

func (f Filter) keeps(e Entry) bool {
	return (!f.Errors || e.IsError()) && (f.Object == "" || e.Object == f.Object)
}

// Read returns the last limit entries of dir's log that f keeps, oldest
// first (limit 0: all of them), and where the log ends, for Follow.
func Read(dir string, f Filter, limit int) ([]Entry, int64, error) {
	path := filepath.Join(dir, File)
	if f == (Filter{}) && limit > 0 {
		// The last lines of the log only: read its tail (what the web
		// app's panel asks every second), unless it is too short.
		if fi, err := os.Stat(path); err == nil && fi.Size() > int64(limit)*tailPerLine {
			var out []Entry
			end, err := scan(path, fi.Size()-int64(limit)*tailPerLine, func(e Entry) { out = append(out, e) })
			if err == nil && len(out) > limit {
				return out[len(out)-limit:], end, nil
			}
		}
	}
	var out []Entry
	for _, p := range []string{path + ".1", path} {
		end, err := scan(p, 0, func(e Entry) {
			if f.keeps(e) {
				out = append(out, e)
				if limit > 0 && len(out) > 2*limit {
					out = append(out[:0], out[len(out)-limit:]...)
				}
			}
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, 0, err
		}
		if p == path {
			if limit > 0 && len(out) > limit {
				out = out[len(out)-limit:]
			}
			return out, end, nil
		}
	}
	return out, 0, nil
}

// tailPerLine is the bytes read per line asked for from the end of the
// log: lines are some 200 bytes (one cut at the start is skipped).
const tailPerLine = 1024

// scan reads the entries of one file from offset, and returns the offset
// after the last whole line (a line being written is left for later).
// Lines that do not decode are skipped: a log is no reason to fail.
func scan(path string, from int64, f func(Entry)) (int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return from, err
	}
	defer fh.Close()
	if _, err := fh.Seek(from, io.SeekStart); err != nil {
		return from, err
	}
	r := bufio.NewReader(fh)
	at := from
	if from > 0 {
		// Mid-file: unless from starts a line, what precedes the next
		// newline is the end of one (it would not decode anyway).
		skip, err := r.ReadBytes('\n')
		if err != nil {
			return from, nil
		}
		var e Entry
		if json.Unmarshal(skip, &e) == nil {
			f(e)
		}
		at += int64(len(skip))
	}
	for {
		line, err := r.ReadBytes('\n')
		if err != nil { // EOF: a partial line is read next time
			return at, nil
		}
		at += int64(len(line))
		var e Entry
		if json.Unmarshal(line, &e) == nil {
			f(e)
		}
	}
}

// Follow calls f with each entry f keeps written to dir's log after
// offset from, polling every interval, until ctx ends. A log started
// afresh is read from its start.
func Follow(ctx context.Context, dir string, flt Filter, from int64, every time.Duration, f func(Entry)) error {
	path := filepath.Join(dir, File)
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() < from {
			from = 0 // started afresh: the rest of the old one is in .1
		}
		end, err := scan(path, from, func(e Entry) {
			if flt.keeps(e) {
				f(e)
			}
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		from = end
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}

// Describe is an entry as one line for a person: title names the object
// ("" when unknown).
func Describe(e Entry, title string) string {
	who := e.Name
	if who == "" {
		who = "…" + e.Peer[max(0, len(e.Peer)-8):]
	}
	if e.Via == "lan" {
		who += " (directly)"
	}
	obj := ""
	if e.Object == "" && e.Objects > 0 {
		obj = fmt.Sprintf("%d more objects", e.Objects)
	}
	if e.Object != "" {
		obj = e.Object[:min(12, len(e.Object))]
		if title != "" {
			obj += " (" + title + ")"
		}
	}
	plural := func(n int) string {
		if n == 1 {
			return "1 change"
		}
		return fmt.Sprintf("%d changes", n)
	}
	var s string
	switch e.Kind {
	case Connected:
		s = "connected to " + who
	case Disconnected:
		s = "disconnected from " + who
	case Sent:
		s = fmt.Sprintf("sent %s of %s to %s", plural(e.Changes), obj, who)
	case Received:
		s = fmt.Sprintf("received %s of %s from %s", plural(e.Changes), obj, who)
	case Refused:
		s = fmt.Sprintf("refused %s of %s from %s: %s", plural(e.Changes), obj, who, e.Reason)
	case Merged:
		s = fmt.Sprintf("merged concurrent edits of %s by %s", obj, strings.Join(e.From, ", "))
	case Pinned:
		s = fmt.Sprintf("file %s of %s pinned on %s", e.File[:min(12, len(e.File))], obj, who)
	case NotCarriedOut:
		s = fmt.Sprintf("%s did not carry out the request for %s: %s", who, obj, e.Reason)
	default:
		s = e.Kind
	}
	return e.Time.Local().Format("2006-01-02 15:04:05") + "  " + s
}
