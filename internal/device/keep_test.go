package device

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/files"
	"mycel/internal/node"
	"mycel/internal/status"
	"mycel/internal/vault"
)

// complete reports whether the whole file is on e.
func complete(t *testing.T, e *vault.Engine, m *files.Manifest) bool {
	t.Helper()
	h, err := e.Here(m)
	if err != nil {
		t.Fatal(err)
	}
	return h.Complete()
}

func sameFile(t *testing.T, e *vault.Engine, m *files.Manifest, want []byte) {
	t.Helper()
	var got bytes.Buffer
	if err := e.ReadFile(context.Background(), m, &got); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("%s: %d bytes, %v", m.Name, got.Len(), err)
	}
}

// A page kept offline after b's device started has its files fetched at
// once, a file over the 64 MiB an opened page fetches included; a file
// added to the page later comes by itself when its change arrives; --all
// brings the other pages' files too.
//
// The sync service ticks at its default (1 s), not fastConfig's 50 ms:
// with that a connection that completes no frame for 300 ms is dropped as
// stalled, which a busy machine does to the stream the film comes over;
// here only a connection quiet for 6 s is.
func TestKeepOfflineWhileRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := laptopAndPhone(t, ctx)
	film := randomFile(wantPageMax+2<<20, 31)
	id, mFilm := addFilePage(t, a, "film.mkv", film)
	other, mOther := addFilePage(t, a, "other.pdf", randomFile(200<<10, 32))
	steady := func() Config {
		c := fastConfig()
		c.Service.Tick = DefaultConfig(quietLog()).Service.Tick
		return c
	}
	da, err := Start(ctx, a, steady())
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	cfgB := steady()
	cfgB.Peers = []string{addrOf(da)}
	db, err := Start(ctx, b, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eventually(t, "the pages on b", func() bool {
		fs, _ := b.Files(ctx, id)
		gs, _ := b.Files(ctx, other)
		return len(fs) == 1 && len(gs) == 1
	})
	if st := fileState(t, db, id); st.Here != 0 || st.Kept || st.Downloading {
		t.Fatalf("b before keep: %+v", st)
	}

	// Kept while b runs: what `mycel files keep` and the API do.
	if _, err := b.SetOffline(ctx, []change.ID{id}, false, true); err != nil {
		t.Fatal(err)
	}
	db.Poke()
	eventually(t, "the film on b", func() bool { return complete(t, b, mFilm) })
	sameFile(t, b, mFilm, film)
	if st := fileState(t, db, id); !st.Kept || st.Here != st.Size {
		t.Fatalf("b's film once kept: %+v", st)
	}

	// A file added to the kept page on a: its change arriving is enough.
	photo := randomFile(300<<10, 33)
	mPhoto, err := a.StoreFile(ctx, bytes.NewReader(photo), vault.StoreFileOptions{Name: "photo.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddFileBlocks(ctx, id, []*files.Manifest{mPhoto}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the photo added later on b", func() bool { return complete(t, b, mPhoto) })
	sameFile(t, b, mPhoto, photo)
	if complete(t, b, mOther) {
		t.Fatal("a page not kept had its file fetched")
	}

	// Stopping one page while all are kept is refused with the way out.
	if _, err := b.SetOffline(ctx, nil, true, true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetOffline(ctx, []change.ID{id}, false, false); err == nil || !strings.Contains(err.Error(), "--off --all") {
		t.Fatalf("off one page under --all: %v", err)
	}
	db.Poke()
	eventually(t, "every page's files on b", func() bool { return complete(t, b, mOther) })
	if o, err := b.SetOffline(ctx, nil, true, false); err != nil || o.All || len(o.Pages) != 0 {
		t.Fatalf("off --all: %+v, %v", o, err)
	}
	if !complete(t, b, mFilm) {
		t.Fatal("stopping keep removed a file")
	}
}

// A kept file that no connected peer holds is tried again when a peer
// that holds it connects, not only when its pause is over: b learns of
// the page from c, which never fetched its file; a, which has it, comes
// later.
func TestKeptFileFetchedWhenAHolderConnects(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b, c := threeDevices(t, ctx)
	data := randomFile(1<<20, 41)
	id, m := addFilePage(t, a, "map.png", data)

	// a gives c the page (not the file: nothing on c keeps or opens it).
	actx, stopA := context.WithCancel(ctx)
	da, err := Start(actx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfgC := fastConfig()
	cfgC.Peers = []string{addrOf(da)}
	dc, err := Start(ctx, c, cfgC)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	eventually(t, "the page on c", func() bool { fs, _ := c.Files(ctx, id); return len(fs) == 1 })
	da.Close()
	stopA()
	if complete(t, c, m) {
		t.Fatal("c fetched a file nothing asked for")
	}

	// b keeps everything, and meets only c: the fetch fails, and waits.
	if _, err := b.SetOffline(ctx, nil, true, true); err != nil {
		t.Fatal(err)
	}
	cfgB := fastConfig()
	cfgB.Peers = []string{addrOf(dc)}
	db, err := Start(ctx, b, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eventually(t, "b's fetch failed (c does not hold it)", func() bool {
		db.keep.mu.Lock()
		defer db.keep.mu.Unlock()
		return db.keep.failed[m.ID()] != nil
	})
	if st := fileState(t, db, id); st.State != "waiting for pinning" || st.Here != 0 {
		t.Fatalf("b's file, nobody holding it: %+v", st)
	}

	// a comes back and dials b: the new peer is tried at once (well
	// before keepRetryMin, which eventually's deadline is below).
	cfgA := fastConfig()
	cfgA.Peers = []string{addrOf(db)}
	da, err = Start(ctx, a, cfgA)
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	eventually(t, "the file on b from a", func() bool { return complete(t, b, m) })
	sameFile(t, b, m, data)
}

// threeDevices makes three devices of one vault.
func threeDevices(t *testing.T, ctx context.Context) (a, b, c *vault.Engine) {
	t.Helper()
	a, phrase, err := vault.Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	var es [2]*vault.Engine
	for i, name := range []string{"phone", "tablet"} {
		if es[i], err = vault.Recover(ctx, filepath.Join(t.TempDir(), name), phrase, name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { es[i].Close() })
	}
	return a, es[0], es[1]
}

// While a kept file downloads its page is Syncing… with how far it is,
// and the vault counts it; before, it was "not downloaded", after,
// pinned and here.
func TestDownloadInStatus(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// 4 MB at 1 MB/s each way: seconds in which the download shows.
	addr := startNodeWith(t, ctx, node.Options{ChunkRate: 1e6})
	a, b := laptopAndPhone(t, ctx)
	for _, e := range []*vault.Engine{a, b} {
		if err := Register(ctx, e, addr); err != nil {
			t.Fatal(err)
		}
	}
	id, m := addFilePage(t, a, "scan.pdf", randomFile(4e6, 51))
	da, err := Start(ctx, a, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	eventually(t, "pinned", func() bool { return fileState(t, da, id).Pinned })
	db, err := Start(ctx, b, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	eventually(t, "not downloaded on b", func() bool {
		vs, err := db.Status(ctx, nil)
		if err != nil || vs.Files.NotDownloaded != 1 {
			return false
		}
		st := fileState(t, db, id)
		return st.State == "not downloaded" && st.Here == 0 && len(st.Holders) == 1 && st.Holders[0].Node && st.Holders[0].Holds == HoldsAll
	})
	if o := pageStatus(t, db, id); o.Status != status.Synced {
		t.Fatalf("a page pinned but not downloaded: %s (%s), want Synced", o.Status, o.Reason)
	}
	if _, err := b.SetOffline(ctx, []change.ID{id}, false, true); err != nil {
		t.Fatal(err)
	}
	db.Poke()
	eventually(t, "the download under way in the status", func() bool {
		o := pageStatus(t, db, id)
		vs, err := db.Status(ctx, nil)
		return err == nil && vs.Files.Downloading == 1 && o.Status == status.Syncing &&
			strings.HasPrefix(o.Reason, "downloading scan.pdf: ") && strings.HasSuffix(o.Reason, " of 4 MB") &&
			!strings.HasPrefix(o.Reason, "downloading scan.pdf: 4 of") && o.Files[0].State == "downloading"
	})
	eventually(t, "downloaded, Synced", func() bool {
		o := pageStatus(t, db, id)
		return o.Status == status.Synced && o.Files[0].State == "pinned" && complete(t, b, m)
	})
	if vs, err := db.Status(ctx, nil); err != nil || vs.Files != (FilesSummary{}) {
		t.Fatalf("the vault's files once all is done: %+v, %v", vs.Files, err)
	}
}

// A detail status says which devices nearby hold a file, asking them:
// none before b fetched it, all after; the node as it confirmed.
func TestWhoHoldsAFile(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := startNode(t, ctx, t.TempDir())
	a, b := laptopAndPhone(t, ctx)
	for _, e := range []*vault.Engine{a, b} {
		if err := Register(ctx, e, addr); err != nil {
			t.Fatal(err)
		}
	}
	id, m := addFilePage(t, a, "poster.png", randomFile(2<<20, 61))
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
	holders := func(d *Device) map[string]FileHolder {
		vs, err := d.Status(ctx, &id)
		if err != nil || len(vs.Objects) != 1 || len(vs.Objects[0].Files) != 1 {
			return nil
		}
		d.AskNearby(ctx, &vs)
		out := map[string]FileHolder{}
		for _, h := range vs.Objects[0].Files[0].Holders {
			kind := "device " + h.Name
			if h.Node {
				kind = "node"
			}
			out[kind] = h
		}
		return out
	}
	eventually(t, "a: the node holds it, the phone not", func() bool {
		h := holders(da)
		return h["node"].Holds == HoldsAll && h["device phone"].Holds == HoldsNone
	})
	if err := db.Download(ctx, m); err != nil {
		t.Fatal(err)
	}
	h := holders(da)
	if h["device phone"].Holds != HoldsAll || h["device phone"].Bytes != int64(m.Size) {
		t.Fatalf("a, once b fetched it: %+v", h)
	}
	// b knows what the node holds once its uploader asked (at a poke).
	eventually(t, "b: the laptop and the node hold it", func() bool {
		db.Poke()
		h := holders(db)
		return h["device laptop"].Holds == HoldsAll && h["node"].Holds == HoldsAll
	})
}
