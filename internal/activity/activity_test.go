package activity

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func entry(i int, kind, obj string) Entry {
	return Entry{Time: time.Unix(int64(i), 0).UTC(), Kind: kind, Name: "phone", Peer: "12D3KooWpeer", Object: obj, Changes: i}
}

// The log is bounded: past maxSize it starts afresh with the old one as
// .1, and Read gives the last lines across both, filtered, oldest first.
func TestLogIsBoundedAndReadBack(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	obj := strings.Repeat("ab", 32)
	n := 0
	for fi, _ := os.Stat(filepath.Join(dir, File+".1")); fi == nil || n < 20000; fi, _ = os.Stat(filepath.Join(dir, File+".1")) {
		kind := Received
		if n%100 == 0 {
			kind = Refused
		}
		if err := l.Append(entry(n, kind, obj)); err != nil {
			t.Fatal(err)
		}
		n++
		if n > 200000 {
			t.Fatal("the log never started afresh")
		}
	}
	l.Close()
	for _, name := range []string{File, File + ".1"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Size() > maxSize || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, %v", name, fi, err)
		}
	}
	got, end, err := Read(dir, Filter{}, 10)
	if err != nil || len(got) != 10 || got[9].Changes != n-1 || got[0].Changes != n-10 || end == 0 {
		t.Fatalf("last 10: %d entries, last %+v, end %d, %v", len(got), got[len(got)-1], end, err)
	}
	errs, _, _ := Read(dir, Filter{Errors: true}, 0)
	for _, e := range errs {
		if e.Kind != Refused {
			t.Fatalf("--errors gave %+v", e)
		}
	}
	if len(errs) < 2 {
		t.Fatalf("%d refusals read back", len(errs))
	}
	if other, _, _ := Read(dir, Filter{Object: strings.Repeat("cd", 32)}, 0); len(other) != 0 {
		t.Fatalf("another object's filter gave %d", len(other))
	}
}

// Follow gives what is written after the offset, skips a damaged line,
// reads a log started afresh from its start, and ends with its context.
func TestFollow(t *testing.T) {
	dir := t.TempDir()
	l, _ := Open(dir)
	l.Append(entry(1, Received, ""))
	_, end, _ := Read(dir, Filter{}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Entry, 10)
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, dir, Filter{}, end, time.Millisecond, func(e Entry) { got <- e }) }()
	f, _ := os.OpenFile(filepath.Join(dir, File), os.O_WRONLY|os.O_APPEND, 0)
	fmt.Fprintln(f, "{not json")
	f.Close()
	l.Append(entry(2, Sent, ""))
	if e := <-got; e.Changes != 2 {
		t.Fatalf("followed %+v", e)
	}
	// Started afresh (as Append does past maxSize): read from its start.
	l.Close()
	if err := os.Rename(filepath.Join(dir, File), filepath.Join(dir, File+".1")); err != nil {
		t.Fatal(err)
	}
	l2, _ := Open(dir)
	defer l2.Close()
	l2.Append(entry(3, Sent, ""))
	if e := <-got; e.Changes != 3 {
		t.Fatalf("followed after a fresh start %+v", e)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDescribe(t *testing.T) {
	e := Entry{Time: time.Now(), Kind: Received, Name: "phone", Via: "lan", Object: strings.Repeat("ab", 32), Changes: 3}
	if s := Describe(e, "Plans"); !strings.Contains(s, "received 3 changes of abababababab (Plans) from phone (directly)") {
		t.Fatal(s)
	}
	m := Entry{Time: time.Now(), Kind: Merged, Object: strings.Repeat("ab", 32), From: []string{"laptop", "phone"}}
	if s := Describe(m, ""); !strings.Contains(s, "merged concurrent edits of abababababab by laptop, phone") {
		t.Fatal(s)
	}
}
