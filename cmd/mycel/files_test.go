package main

import (
	"bytes"

	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"mycel/internal/device"
)

// seeded writes n bytes no compressor or dedupe would shrink.
func seeded(t *testing.T, dir, name string, n int, seed uint64) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 11))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func pageFiles(t *testing.T, c *cli, id string) []device.FileState {
	out, _, err := c.run("", "status", id, "--json")
	if err != nil {
		return nil
	}
	r := jsonOf[statusReply](t, out)
	if len(r.Objects) != 1 {
		return nil
	}
	return r.Objects[0].Files
}

func pageReason(t *testing.T, c *cli, id string) (string, string) {
	out, _, err := c.run("", "status", id, "--json")
	if err != nil {
		return "", ""
	}
	r := jsonOf[statusReply](t, out)
	if len(r.Objects) != 1 {
		return "", ""
	}
	return r.Objects[0].Status, r.Objects[0].Reason
}

// Files on real processes: A adds a photo and a large file; its running
// device uploads them to the node (at 20 MB/s, so that it can be caught
// midway), is killed -9 mid-upload and, restarted, finishes without
// starting over: the node received little more than the file once. The
// page says how far the upload is, then Synced once pinned. B, which never
// held the chunks, gets both files byte for byte through its running
// device, which is killed -9 mid-download too and, restarted, fetches only
// the rest. The node's folder holds no file name and no file bytes.
func TestFilesThroughANode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two devices, uploads 48 MB")
	}
	nodeData := filepath.Join(t.TempDir(), "node")
	listen := loopbackListen(t)
	node := start(t, "--data", nodeData, "node", "--listen", listen, "--chunk-rate", "20MB")
	addr := nodeAddr(t, node)
	a, b := newCLI(t), newCLI(t)
	phrase := jsonOf[map[string]string](t, a.ok("init", "--show-phrase", "--name", "laptop", "--json"))["phrase"]
	if _, errOut, err := b.run(phrase+"\n", "recover", "--name", "phone"); err != nil {
		t.Fatalf("recover: %v %s", err, errOut)
	}
	a.ok("nodes", "add", addr)
	b.ok("nodes", "add", addr)

	dir := t.TempDir()
	photo, photoBytes := seeded(t, dir, "quokka-portrait.jpg", 700<<10, 1)
	big, bigBytes := seeded(t, dir, "expedition-footage.mp4", 48<<20, 2)
	id := strings.TrimSpace(a.ok("new", "--title", "Trip"))
	added := jsonOf[struct {
		Files []struct {
			FileID string `json:"file_id"`
			Name   string `json:"name"`
		} `json:"files"`
	}](t, a.ok("files", "add", id, photo, big, "--json"))
	if len(added.Files) != 2 {
		t.Fatalf("files add: %+v", added)
	}
	photoID, bigID := added.Files[0].FileID, added.Files[1].FileID

	upA := start(t, "--data", a.data, "up", "--no-lan")
	// Caught midway: some of the large file held by the node, not all.
	var sawReason string
	waitFor(t, "the upload midway", func() bool {
		for _, f := range pageFiles(t, a, id) {
			if f.ID == bigID && f.Done > 0 && f.Done < f.Size {
				_, sawReason = pageReason(t, a, id)
				return true
			}
		}
		return false
	}, node, upA)
	upA.cmd.Process.Kill()
	upA.cmd.Wait()
	if !regexp.MustCompile(`^uploading expedition-footage\.mp4: [0-9.]+ of 50 MB$`).MatchString(sawReason) {
		t.Errorf("the page's reason midway: %q", sawReason)
	}
	upA = start(t, "--data", a.data, "up", "--no-lan")
	waitFor(t, "both files pinned", func() bool {
		fs := pageFiles(t, a, id)
		return len(fs) == 2 && fs[0].Pinned && fs[1].Pinned
	}, node, upA)
	waitFor(t, "a's page Synced", func() bool { return objectStatus(t, a, id) == "Synced" }, node, upA)

	// B: the page arrives, pinned (Synced) though its files are not here;
	// files get fetches them through B's running device.
	upB := start(t, "--data", b.data, "up", "--no-lan")
	waitFor(t, "b's page Synced", func() bool { return objectStatus(t, b, id) == "Synced" }, node, upA, upB)
	// B's device is killed -9 mid-download: the chunks it stored stay, and
	// the next get fetches only the rest.
	getBig := exec.Command(bin, "--data", b.data, "files", "get", bigID, "-o", filepath.Join(t.TempDir(), "partial"))
	var getOut bytes.Buffer
	getBig.Stdout, getBig.Stderr = &getOut, &getOut
	if err := getBig.Start(); err != nil {
		t.Fatal(err)
	}
	here := func() uint64 {
		out, _, err := b.run("", "files", "ls", "--json")
		if err != nil {
			return 0
		}
		for _, f := range jsonOf[struct {
			Files []struct {
				ID   string `json:"file_id"`
				Here uint64 `json:"bytes_here"`
			} `json:"files"`
		}](t, out).Files {
			if f.ID == bigID {
				return f.Here
			}
		}
		return 0
	}
	waitFor(t, "b's download midway", func() bool {
		h := here()
		if getBig.ProcessState == nil && h == uint64(len(bigBytes)) {
			t.Logf("get: %s", getOut.String())
		}
		return h > 0 && h < uint64(len(bigBytes))
	}, node, upB)
	upB.cmd.Process.Kill()
	upB.cmd.Wait()
	if err := getBig.Wait(); err == nil {
		t.Fatal("files get finished though its device was killed")
	}
	kept := here()
	upB = start(t, "--data", b.data, "up", "--no-lan")
	waitFor(t, "b connected again", func() bool { return objectStatus(t, b, id) == "Synced" }, node, upB)
	if h := here(); h < kept {
		t.Fatalf("b held %d bytes of the file when killed, %d after", kept, h)
	}
	for _, f := range []struct {
		id   string
		want []byte
	}{{photoID, photoBytes}, {bigID, bigBytes}} {
		out := filepath.Join(t.TempDir(), "got")
		var err error
		for try := 0; try < 3; try++ { // the first may find the node not connected yet
			if _, _, err = b.run("", "files", "get", f.id, "-o", out); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("files get %s: %v", f.id[:12], err)
		}
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, f.want) {
			t.Fatalf("file %s on b: %d bytes, %v", f.id[:12], len(got), err)
		}
	}

	// The node's folder: no name, no bytes of either file.
	secrets := [][]byte{[]byte("quokka-portrait"), []byte("expedition-footage"), photoBytes[4096 : 4096+64], bigBytes[30<<20 : 30<<20+64]}
	filepath.WalkDir(nodeData, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, _ := os.ReadFile(p)
		for _, s := range secrets {
			if bytes.Contains(content, s) || strings.Contains(p, string(s)) {
				t.Errorf("node file %s holds a file's name or bytes", p)
			}
		}
		return nil
	})

	// Resumed, not started over: what the node received is the files once,
	// and at most a chunk a lane (8 MiB each) sent again.
	node.stop()
	m := regexp.MustCompile(`received (\d+) chunk bytes \((\d+) already held\), sent (\d+)`).FindStringSubmatch(node.output())
	if m == nil {
		t.Fatalf("the node did not say what it received:\n%s", node.output())
	}
	received, _ := strconv.ParseInt(m[1], 10, 64)
	sent, _ := strconv.ParseInt(m[3], 10, 64)
	total := int64(len(photoBytes) + len(bigBytes))
	t.Logf("the node received %d chunk bytes for %d bytes of files (%s already held), sent %d to b (killed midway)", received, total, m[2], sent)
	if received > total+total/100+2*(8<<20) {
		t.Fatalf("the node received %d bytes for %d of files: the upload started over", received, total)
	}
	if sent > total+total/100+2*(8<<20) {
		t.Fatalf("the node sent %d bytes for %d of files: the download started over", sent, total)
	}
}

// Two devices on one network share a file with no node: B (LAN only)
// gets A's file byte for byte from A. Then a node with a small quota
// refuses A's upload, and A's page says so with the node's reason whole,
// while its text still syncs.
func TestFilesNearbyAndQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two devices")
	}
	a, b := newCLI(t), newCLI(t)
	phrase := jsonOf[map[string]string](t, a.ok("init", "--show-phrase", "--name", "laptop", "--json"))["phrase"]
	if _, errOut, err := b.run(phrase+"\n", "recover", "--name", "phone"); err != nil {
		t.Fatalf("recover: %v %s", err, errOut)
	}
	dir := t.TempDir()
	poster, posterBytes := seeded(t, dir, "poster.png", 3<<20, 5)
	id := strings.TrimSpace(a.ok("new", "--title", "Wall", "--text", "Hang it high."))
	fileID := jsonOf[struct {
		Files []struct {
			FileID string `json:"file_id"`
		} `json:"files"`
	}](t, a.ok("files", "add", id, poster, "--json")).Files[0].FileID

	upA := start(t, "--data", a.data, "up", "--no-lan", "--listen", loopbackListen(t))
	aAddr := reachAt(t, upA)
	upB := start(t, "--data", b.data, "up", "--lan-only", "--peer", aAddr)
	waitFor(t, "the page on b", func() bool {
		out, _, err := b.run("", "files", "ls", id)
		return err == nil && strings.Contains(out, "poster.png")
	}, upA, upB)
	out := filepath.Join(t.TempDir(), "poster.png")
	waitFor(t, "b gets the poster from a", func() bool {
		_, _, err := b.run("", "files", "get", fileID, "-o", out)
		return err == nil
	}, upA, upB)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, posterBytes) {
		t.Fatalf("the poster on b: %d bytes, %v", len(got), err)
	}
	upB.stop()

	// A node that keeps 1 MiB a vault.
	nodeData := filepath.Join(t.TempDir(), "node")
	node := start(t, "--data", nodeData, "node", "--listen", loopbackListen(t), "--quota", "1MiB")
	a.ok("nodes", "add", nodeAddr(t, node))
	reason := regexp.MustCompile(`^the backup node's limit for this vault is reached: 0(\.[0-9])? of 1 MiB$`)
	var want, last string
	waitFor(t, "the refusal on a's page", func() bool {
		st, why := pageReason(t, a, id)
		last = st + ": " + why
		want = why
		return st == "Not syncing" && reason.MatchString(why)
	}, node, upA)
	t.Logf("a's page: %s", last)
	if out := a.ok("status", id); !strings.Contains(out, want) {
		t.Fatalf("mycel status does not show the reason whole:\n%s", out)
	}
}
