package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/device"
)

type keptReply struct {
	All   bool     `json:"all"`
	Pages []string `json:"pages"`
	Kept  keptSize `json:"kept"`
}

type lsReply struct {
	Files []struct {
		ID     string `json:"file_id"`
		Object string `json:"id"`
		Size   uint64 `json:"size"`
		Here   uint64 `json:"bytes_here"`
		Kept   bool   `json:"kept_offline"`
	} `json:"files"`
}

// files keep with no device running: the mark is set, shown, listed by
// files ls, undone; the mistakes are refused with the way out.
func TestFilesKeep(t *testing.T) {
	c := newCLI(t)
	c.ok("init", "--show-phrase", "--name", "laptop")
	p, _ := seeded(t, t.TempDir(), "chart.png", 100<<10, 7)
	trip := strings.TrimSpace(c.ok("new", "--title", "Trip"))
	home := strings.TrimSpace(c.ok("new", "--title", "Home"))
	c.ok("files", "add", trip, p)
	c.ok("files", "add", home, p)

	if out := c.ok("files", "keep"); !strings.Contains(out, "Nothing is kept offline") {
		t.Fatalf("keep, nothing kept:\n%s", out)
	}
	r := jsonOf[keptReply](t, c.ok("files", "keep", trip[:6], "--json"))
	if r.All || len(r.Pages) != 1 || !strings.HasPrefix(r.Pages[0], trip) || r.Kept.Files != 1 || r.Kept.Bytes != 100<<10 || r.Kept.ToFetch != 0 {
		t.Fatalf("keep one page: %+v", r)
	}
	out := c.ok("files", "keep")
	if !strings.Contains(out, "Trip") || strings.Contains(out, "Home") || !strings.Contains(out, "all on this device") {
		t.Fatalf("what is kept:\n%s", out)
	}
	for _, f := range jsonOf[lsReply](t, c.ok("files", "ls", "--json")).Files {
		if f.Kept != strings.HasPrefix(trip, f.Object[:12]) {
			t.Fatalf("files ls: page %s kept %v", f.Object[:12], f.Kept)
		}
	}
	if ls := c.ok("files", "ls", trip); !strings.Contains(ls, "KEPT") || !strings.Contains(ls, "kept") {
		t.Fatalf("files ls does not show it kept:\n%s", ls)
	}

	c.ok("files", "keep", "--all")
	c.fails("mycel files keep --off --all", "files", "keep", "--off", trip)
	c.fails("not both", "files", "keep", "--all", trip)
	c.fails("say what to stop keeping", "files", "keep", "--off")
	c.fails("not an object id", "files", "keep", "zz")
	if out := c.ok("files", "keep", "--off", "--all"); !strings.Contains(out, "The files already here stay") || !strings.Contains(out, "Nothing is kept offline") {
		t.Fatalf("keep --off --all:\n%s", out)
	}
	for _, f := range jsonOf[lsReply](t, c.ok("files", "ls", "--json")).Files {
		if f.Kept || f.Here != f.Size {
			t.Fatalf("after --off --all: %+v", f)
		}
	}
	if help := c.ok("files", "keep", "--help"); !strings.Contains(help, "--off") || !strings.Contains(help, "64 MiB") {
		t.Fatalf("keep --help does not teach the undo and the difference:\n%s", help)
	}
}

// A running `mycel up` honours a keep set after it started: B (LAN only,
// no node) has A's page but not its file; `mycel files keep` on B, with
// nothing restarted, brings it from A. B's status says where the file
// is and who holds it.
func TestFilesKeepWhileUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two devices")
	}
	a, b := newCLI(t), newCLI(t)
	phrase := jsonOf[map[string]string](t, a.ok("init", "--show-phrase", "--name", "laptop", "--json"))["phrase"]
	if _, errOut, err := b.run(phrase+"\n", "recover", "--name", "phone"); err != nil {
		t.Fatalf("recover: %v %s", err, errOut)
	}
	map1, mapBytes := seeded(t, t.TempDir(), "island-map.png", 3<<20, 8)
	id := strings.TrimSpace(a.ok("new", "--title", "Atlas"))
	a.ok("files", "add", id, map1)

	upA := start(t, "--data", a.data, "up", "--no-lan", "--listen", loopbackListen(t))
	upB := start(t, "--data", b.data, "up", "--lan-only", "--peer", reachAt(t, upA))
	ls := func() lsReply {
		out, _, err := b.run("", "files", "ls", "--json")
		if err != nil {
			return lsReply{}
		}
		return jsonOf[lsReply](t, out)
	}
	waitFor(t, "the page on b", func() bool { return len(ls().Files) == 1 }, upA, upB)
	if f := ls().Files[0]; f.Here != 0 || f.Kept {
		t.Fatalf("b's file before keep: %+v", f)
	}
	if out := b.ok("files", "ls", id); !strings.Contains(out, "not downloaded: 3 MiB") {
		t.Fatalf("files ls does not say the file is not downloaded:\n%s", out)
	}
	if out := b.ok("files", "keep", id); !strings.Contains(out, "the running 'mycel up' fetches it now") {
		t.Fatalf("keep while up runs:\n%s", out)
	}
	waitFor(t, "b keeps the file", func() bool {
		f := ls().Files
		return len(f) == 1 && f[0].Kept && f[0].Here == f[0].Size
	}, upA, upB)
	got := filepath.Join(t.TempDir(), "map.png")
	b.ok("files", "get", ls().Files[0].ID, "-o", got)
	if data, err := os.ReadFile(got); err != nil || !bytes.Equal(data, mapBytes) {
		t.Fatalf("the map on b: %d bytes, %v", len(data), err)
	}

	// Who holds it, as B sees it: the laptop, asked over the LAN.
	var fs []device.FileState
	waitFor(t, "the laptop holding it in b's status", func() bool {
		fs = pageFiles(t, b, id)
		if len(fs) != 1 {
			return false
		}
		for _, h := range fs[0].Holders {
			if h.Name == "laptop" && h.Holds == device.HoldsAll {
				return true
			}
		}
		return false
	}, upA, upB)
	if !fs[0].Kept || fs[0].Here != fs[0].Size {
		t.Fatalf("b's status of the file: %+v", fs[0])
	}
	out := b.ok("status", id)
	t.Logf("b's status:\n%s", out)
	if !strings.Contains(out, "island-map.png") || !strings.Contains(out, "kept offline") || !strings.Contains(out, "held by: device laptop") {
		t.Fatalf("b's detail status:\n%s", out)
	}
}

func TestFilesLine(t *testing.T) {
	for _, c := range []struct {
		s    device.FilesSummary
		want string
	}{
		{device.FilesSummary{}, ""},
		{device.FilesSummary{Uploading: 3, Downloading: 1, NotDownloaded: 2}, "3 files uploading, 1 downloading, 2 not downloaded"},
		{device.FilesSummary{Waiting: 1}, "1 file waiting for the backup node to pin"},
	} {
		if got := filesLine(c.s); got != c.want {
			t.Errorf("filesLine(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}
