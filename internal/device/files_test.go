package device

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"mycel/internal/change"
	"mycel/internal/files"
	"mycel/internal/node"
	"mycel/internal/p2p"
	"mycel/internal/status"
	"mycel/internal/vault"
)

func randomFile(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func addFilePage(t *testing.T, e *vault.Engine, name string, data []byte) (change.ID, *files.Manifest) {
	t.Helper()
	ctx := context.Background()
	id, err := e.Create(ctx, vault.NewPage{Title: "Album"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.StoreFile(ctx, bytes.NewReader(data), vault.StoreFileOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddFileBlocks(ctx, id, []*files.Manifest{m}); err != nil {
		t.Fatal(err)
	}
	return id, m
}

func fileState(t *testing.T, d *Device, id change.ID) FileState {
	t.Helper()
	fs, err := d.Files(context.Background(), id)
	if err != nil || len(fs) != 1 {
		t.Fatalf("files: %v, %v", fs, err)
	}
	return fs[0]
}

// A file added on a runs up to the node in the background and is pinned
// (the page Synced only then); b, which has the page but not the chunks,
// fetches them through the node, byte for byte. The node's folder holds
// neither the file's name nor its bytes.
func TestFileUploadPinAndFetch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nodeDir := t.TempDir()
	addr := startNode(t, ctx, nodeDir)
	a, phrase, err := vault.Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := Register(ctx, a, addr); err != nil {
		t.Fatal(err)
	}
	small := randomFile(300<<10, 1)
	big := randomFile(12<<20, 2)
	idSmall, mSmall := addFilePage(t, a, "kitten-photo.jpg", small)
	idBig, mBig := addFilePage(t, a, "holiday-video.mp4", big)
	da, err := Start(ctx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	eventually(t, "both files pinned", func() bool {
		return fileState(t, da, idSmall).Pinned && fileState(t, da, idBig).Pinned
	})
	eventually(t, "a's pages Synced", func() bool {
		vs, err := da.Status(ctx, &idBig)
		return err == nil && len(vs.Objects) == 1 && vs.Objects[0].Status == status.Synced
	})

	b, err := vault.Recover(ctx, filepath.Join(t.TempDir(), "b"), phrase, "phone")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := Register(ctx, b, addr); err != nil {
		t.Fatal(err)
	}
	db, err := Start(ctx, b, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eventually(t, "the pages on b", func() bool {
		fs, _ := b.Files(ctx, idBig)
		gs, _ := b.Files(ctx, idSmall)
		return len(fs) == 1 && len(gs) == 1
	})
	// Pinned on b too (it asked the node), though not downloaded: Synced.
	eventually(t, "pinned as b sees it", func() bool { return fileState(t, db, idBig).Pinned })
	if st := fileState(t, db, idBig); st.Here != 0 {
		t.Fatalf("b holds %d bytes before fetching", st.Here)
	}
	eventually(t, "b connected to the node", func() bool {
		db.files.mu.Lock()
		defer db.files.mu.Unlock()
		return len(db.files.nodes) == 1
	})
	for _, c := range []struct {
		m    *files.Manifest
		want []byte
	}{{mBig, big}, {mSmall, small}} {
		if err := db.FetchFile(ctx, c.m); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := b.ReadFile(ctx, c.m, &got); err != nil || !bytes.Equal(got.Bytes(), c.want) {
			t.Fatalf("%s on b: %d bytes, %v", c.m.Name, got.Len(), err)
		}
	}
	// The node's folder: ciphertext only.
	err = filepath.WalkDir(nodeDir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, secret := range [][]byte{[]byte("kitten-photo"), []byte("holiday-video"), small[1000:1064], big[5<<20 : 5<<20+64]} {
			if bytes.Contains(raw, secret) || bytes.Contains([]byte(p), secret) {
				return errors.New(p + " holds a file's name or bytes")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func startNodeWith(t *testing.T, ctx context.Context, opts node.Options) string {
	t.Helper()
	n, err := node.OpenWith(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	cfg := node.DefaultServiceConfig(quietLog())
	cfg.Tick = 50 * time.Millisecond
	addr, h, err := node.ServeLoopback(ctx, n, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return addr
}

func pageStatus(t *testing.T, d *Device, id change.ID) ObjectStatus {
	t.Helper()
	vs, err := d.Status(context.Background(), &id)
	if err != nil || len(vs.Objects) != 1 {
		t.Fatalf("status: %+v, %v", vs, err)
	}
	return vs.Objects[0]
}

// While a file moves, its page says how far it is; a node's quota stops
// it with the node's reason, whole; the text of the page still syncs.
func TestFileStatusAndQuota(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// 4 MB at 1 MB/s: seconds in which the upload shows.
	addr := startNodeWith(t, ctx, node.Options{ChunkRate: 1e6, Quota: 6 << 20})
	a, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := Register(ctx, a, addr); err != nil {
		t.Fatal(err)
	}
	id, _ := addFilePage(t, a, "scan.pdf", randomFile(4e6, 3))
	da, err := Start(ctx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	eventually(t, "the upload under way in the status", func() bool {
		o := pageStatus(t, da, id)
		return o.Status == status.Syncing && strings.HasPrefix(o.Reason, "uploading scan.pdf: ") && strings.HasSuffix(o.Reason, " of 4 MB") &&
			!strings.HasPrefix(o.Reason, "uploading scan.pdf: 4 of")
	})
	eventually(t, "Synced once pinned", func() bool { return pageStatus(t, da, id).Status == status.Synced })
	// Past the quota: refused, with the reason.
	id2, _ := addFilePage(t, a, "big.iso", randomFile(3e6, 4))
	da.Poke()
	eventually(t, "the refusal in the status", func() bool {
		o := pageStatus(t, da, id2)
		return o.Status == status.NotSyncing && strings.HasPrefix(o.Reason, "the backup node's limit for this vault is reached: ") && strings.HasSuffix(o.Reason, " of 6 MiB")
	})
	if o := pageStatus(t, da, id); o.Status != status.Synced {
		t.Fatalf("the pinned page: %s (%s)", o.Status, o.Reason)
	}
}

// Two devices on one network share a file with no node: b fetches the
// chunks from a, each checked; a stranger's LAN host gets its chunk
// stream reset.
func TestFileFromADeviceNearby(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := laptopAndPhone(t, ctx)
	data := randomFile(5<<20, 9)
	id, m := addFilePage(t, a, "poster.png", data)
	da, err := Start(ctx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	cfgB := fastConfig()
	cfgB.Peers = []string{addrOf(da)}
	db, err := Start(ctx, b, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eventually(t, "the page on b", func() bool { fs, _ := b.Files(ctx, id); return len(fs) == 1 })
	if err := db.FetchFile(ctx, m); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := b.ReadFile(ctx, m, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("the file on b: %d bytes, %v", got.Len(), err)
	}
	// A LAN host that never did the peer handshake.
	stranger, err := p2p.NewLANHost([]string{"/ip4/127.0.0.1/tcp/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	if err := stranger.Connect(ctx, peer.AddrInfo{ID: da.LANHost().ID(), Addrs: da.LANHost().Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := stranger.NewStream(ctx, da.LANHost().ID(), p2p.ChunkProtocolID)
	if err == nil {
		cl := p2p.NewChunkClient(s, nil)
		if _, err := cl.Get(ctx, m.Addresses()[0]); err == nil {
			t.Fatal("a stranger got a chunk")
		}
	}
}

// TestFileThroughput measures an upload to a node over loopback and a
// fetch by another device (MYCEL_FILES_BENCH=MB to run it).
func TestFileThroughput(t *testing.T) {
	mb, _ := strconv.Atoi(os.Getenv("MYCEL_FILES_BENCH"))
	if mb == 0 {
		t.Skip("set MYCEL_FILES_BENCH=MB to measure")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := startNode(t, ctx, t.TempDir())
	a, b := laptopAndPhone(t, ctx)
	for _, e := range []*vault.Engine{a, b} {
		if err := Register(ctx, e, addr); err != nil {
			t.Fatal(err)
		}
	}
	data := randomFile(mb<<20, 12)
	began := time.Now()
	id, m := addFilePage(t, a, "big.bin", data)
	stored := time.Since(began)
	da, err := Start(ctx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	began = time.Now()
	eventually(t, "pinned", func() bool { return fileState(t, da, id).Pinned })
	up := time.Since(began)
	db, err := Start(ctx, b, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eventually(t, "the page on b", func() bool { fs, _ := b.Files(ctx, id); return len(fs) == 1 })
	began = time.Now()
	if err := db.FetchFile(ctx, m); err != nil {
		t.Fatal(err)
	}
	down := time.Since(began)
	rate := func(d time.Duration) float64 { return float64(len(data)) / 1e6 / d.Seconds() }
	t.Logf("%d MiB: stored (cut, sealed, written) %.0f MB/s, uploaded %.0f MB/s, fetched %.0f MB/s", mb, rate(stored), rate(up), rate(down))
}

// A photo added while a large file uploads goes first: the upload plans
// again at its next chunk and the photo takes the small lane, pinned
// while the large file is still on its way.
func TestSmallFileNotBehindALargeOne(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := startNodeWith(t, ctx, node.Options{ChunkRate: 4e6}) // per stream
	a, _, err := vault.Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := Register(ctx, a, addr); err != nil {
		t.Fatal(err)
	}
	big, _ := addFilePage(t, a, "film.mkv", randomFile(24<<20, 21))
	da, err := Start(ctx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	eventually(t, "the large upload under way", func() bool { st := fileState(t, da, big); return st.Done > 0 })
	photo, _ := addFilePage(t, a, "photo.jpg", randomFile(300<<10, 22))
	eventually(t, "the photo pinned", func() bool { return fileState(t, da, photo).Pinned })
	if st := fileState(t, da, big); st.Pinned {
		t.Fatal("the photo waited for the whole large file")
	}
	eventually(t, "the large file pinned", func() bool { return fileState(t, da, big).Pinned })
}
