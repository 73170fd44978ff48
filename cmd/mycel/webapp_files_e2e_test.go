package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"mycel/internal/api"
	"mycel/internal/webdrive"
)

// pngOf is a w×h PNG of one random colour: a valid image whose bytes
// are the test's own.
func pngOf(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c := color.RGBA{uint8(rand.IntN(256)), uint8(rand.IntN(256)), uint8(rand.IntN(256)), 255}
	for x := range w {
		for y := range h {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// giveFiles drops (how "drop") or pastes ("paste") a file onto element
// el of browser b, as a person dragging it from their files or pasting
// an image: a DataTransfer holding it, in the event the browser sends.
// Every upload widget shown meanwhile is recorded in window.uploadsSeen.
func giveFiles(b *webdrive.Browser, how, el, name, typ string, data []byte) error {
	_, err := webdrive.Eval[bool](b, fmt.Sprintf(`(() => {
		if (!window.uploadsSeen) {
			window.uploadsSeen = [];
			new MutationObserver(() => {
				for (const u of document.querySelectorAll("#page .upload")) window.uploadsSeen.push(u.textContent);
			}).observe(document.querySelector("#page"), {subtree: true, childList: true, characterData: true});
		}
		const bin = atob(%s);
		const file = new File([Uint8Array.from(bin, c => c.charCodeAt(0))], %s, {type: %s});
		const dt = new DataTransfer();
		dt.items.add(file);
		const target = %s;
		const r = target.getBoundingClientRect();
		const ev = %q === "drop"
			? new DragEvent("drop", {dataTransfer: dt, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true, cancelable: true})
			: new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true});
		if (%[5]q === "paste") document.querySelector(%[6]s).focus();
		target.dispatchEvent(ev);
		return ev.defaultPrevented;
	})()`, webdrive.Quote(base64.StdEncoding.EncodeToString(data)), webdrive.Quote(name), webdrive.Quote(typ), el, how, webdrive.Quote(webdrive.Editor)))
	return err
}

// chooseFiles answers the file chooser that press opens in b (as a person
// picking files in it) with paths.
func chooseFiles(b *webdrive.Browser, press func(ctx context.Context) error, paths ...string) error {
	return b.Do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true}); err != nil {
			return err
		}
		defer chromedp.Call(ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: false})
		sub, stop := context.WithCancel(ctx)
		defer stop()
		opened := chromedp.Events(sub, page.FileChooserOpened)
		if err := press(ctx); err != nil {
			return err
		}
		for ev, err := range opened {
			if err != nil {
				return err
			}
			_, err := chromedp.Call(ctx, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: paths, BackendNodeID: ev.BackendNodeID})
			return err
		}
		return ctx.Err()
	}))
}

// downloadByKeys presses keys in b (press) that download a file, and
// returns where the browser saved it in dir.
func downloadByKeys(b *webdrive.Browser, dir string, press func() error) (string, error) {
	var path string
	err := b.Do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		events := true
		if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &events,
		}); err != nil {
			return err
		}
		sub, stop := context.WithCancel(ctx)
		defer stop()
		progress := chromedp.BrowserEvents(sub, browser.DownloadProgress)
		if err := press(); err != nil {
			return err
		}
		for ev, err := range progress {
			if err != nil {
				return err
			}
			switch ev.State {
			case browser.DownloadProgressStateCompleted:
				path = filepath.Join(dir, ev.GUID)
				return nil
			case browser.DownloadProgressStateCanceled:
				return errors.New("the download was canceled")
			}
		}
		return ctx.Err()
	}))
	return path, err
}

// throttleUploads bounds what b uploads to the web app's files route to
// rate bytes a second (-1: no bound).
func throttleUploads(b *webdrive.Browser, rate float64) error {
	origin, err := webdrive.Eval[string](b, `location.origin`)
	if err != nil {
		return err
	}
	return b.Do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{URLPattern: origin + "/api/v1/objects/*", UploadThroughput: rate, DownloadThroughput: -1}},
		})
		return err
	}))
}

// fileBlocksJS is the open page's file blocks as the editor shows them:
// "image: NAME (loaded)" or "link: NAME SIZE", and the caption.
const fileBlocksJS = `Array.from(document.querySelectorAll("#page .ProseMirror div.b-file")).map(d => {
	const img = d.querySelector(".file img"), link = d.querySelector(".file-link");
	const cap = d.querySelector(".file-caption > p.line").textContent;
	return (img ? "image: " + link.textContent + (img.complete && img.naturalWidth > 0 ? " (loaded)" : " (not loaded)") : "link: " + link.textContent + " " + d.querySelector(".file-size").textContent) + (cap ? " | " + cap : "");
})`

// filesOn is 'mycel files ls ID --json' on c.
func filesOn(t *testing.T, c *cli, id string) []struct {
	ID   string `json:"file_id"`
	Name string `json:"name"`
	Size uint64 `json:"size"`
} {
	var out struct {
		Files []struct {
			ID   string `json:"file_id"`
			Name string `json:"name"`
			Size uint64 `json:"size"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(c.ok("files", "ls", id, "--json")), &out); err != nil {
		t.Fatal(err)
	}
	return out.Files
}

// fileAttrs is the attributes of each file block of bs, by block id.
func fileAttrs(bs []api.Block) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, b := range flat(bs) {
		if b.Type == "file" {
			out[b.ID] = b.Attrs
		}
	}
	return out
}

// fileTools: a file the CLI adds shows in the page (an image inline, any
// other file as a link with its size, downloaded by a click); an image
// dropped onto the page, one pasted and a file picked from the / menu are
// uploaded and become file blocks whose bytes 'mycel files get' gives
// back; a large upload shows its progress on its way; a refused one says
// why where it was going; text typed around them and into a caption keeps
// every file block, on this device and the other.
func fileTools(t *testing.T, e *webE2E) {
	q := webdrive.Quote
	dir := t.TempDir()
	id := e.page(t, "E2E files", "Text above")
	b := e.ba

	t.Run("AddedByTheCLI", func(t *testing.T) {
		photo, notes := filepath.Join(dir, "photo.png"), filepath.Join(dir, "notes.pdf")
		os.WriteFile(photo, pngOf(t, 40, 30), 0o600)
		os.WriteFile(notes, bytes.Repeat([]byte("%PDF-1.4 "), 2000), 0o600)
		e.a.ok("files", "add", id, photo, notes)
		want := []string{"image: photo.png (loaded)", "link: notes.pdf 18.0 kB"}
		e.must(t, b.WaitFor(fmt.Sprintf("the files shown as %q", want), fileBlocksJS+`.join("\n") === `+q(strings.Join(want, "\n")), fileBlocksJS), "files shown")
		w, err := webdrive.Eval[float64](b, `document.querySelector("#page .b-file img").naturalWidth`)
		e.must(t, err, "the image's width")
		if w != 40 {
			e.fatalf(t, "the image is %v pixels wide, not 40", w)
		}
		e.shot(t, "files-from-cli")
		// A click on a file's link downloads it, byte for byte.
		got, err := b.Download(`#page .b-file a.file-link[download="notes.pdf"]`, t.TempDir())
		e.must(t, err, "download notes.pdf")
		sent, _ := os.ReadFile(notes)
		if data, _ := os.ReadFile(got); !bytes.Equal(data, sent) {
			e.fatalf(t, "the download is %d bytes, not the %d of notes.pdf", len(data), len(sent))
		}
		// And by the keyboard: Ctrl+Enter in its caption.
		e.must(t, b.Click(`#page .b-file:has(a.file-link[download="notes.pdf"]) .file-caption p.line`), "into notes.pdf's caption")
		got, err = downloadByKeys(b, t.TempDir(), func() error { return b.Press(kb.Enter, chromedp.ModifierCtrl) })
		e.must(t, err, "download notes.pdf by Ctrl+Enter")
		if data, _ := os.ReadFile(got); !bytes.Equal(data, sent) {
			e.fatalf(t, "the download by keys is %d bytes, not the %d of notes.pdf", len(data), len(sent))
		}
	})

	var dropped, pasted []byte
	t.Run("DroppedAndPasted", func(t *testing.T) {
		dropped, pasted = pngOf(t, 16, 16), pngOf(t, 8, 12)
		e.must(t, giveFiles(b, "drop", lineEl(0), "dropped.png", "image/png", dropped), "drop")
		// Dropped onto the first line: it goes right after that block.
		want := []string{"image: dropped.png (loaded)", "image: photo.png (loaded)", "link: notes.pdf 18.0 kB"}
		e.must(t, b.WaitFor(fmt.Sprintf("the files shown as %q", want), fileBlocksJS+`.join("\n") === `+q(strings.Join(want, "\n")), fileBlocksJS), "dropped")
		e.must(t, b.SelectEnd(0), "caret at the end of the first line")
		e.must(t, giveFiles(b, "paste", `document.querySelector(`+q(webdrive.Editor)+`)`, "image.png", "image/png", pasted), "paste")
		want = []string{"image: image.png (loaded)", "image: dropped.png (loaded)", "image: photo.png (loaded)", "link: notes.pdf 18.0 kB"}
		e.must(t, b.WaitFor(fmt.Sprintf("the files shown as %q", want), fileBlocksJS+`.join("\n") === `+q(strings.Join(want, "\n")), fileBlocksJS), "pasted")
		seen, err := webdrive.Eval[[]string](b, `window.uploadsSeen`)
		e.must(t, err, "the uploads seen")
		if !strings.Contains(strings.Join(seen, "\n"), "Uploading dropped.png") {
			e.fatalf(t, "no upload shown with its progress: %q", seen)
		}
		e.shot(t, "files-dropped-pasted")
		// The bytes are the device's: 'mycel files get' gives them back.
		got := map[string][]byte{}
		for _, f := range filesOn(t, e.a, id) {
			out := filepath.Join(dir, "got-"+f.Name)
			e.a.ok("files", "get", f.ID, "-o", out)
			got[f.Name], _ = os.ReadFile(out)
		}
		if !bytes.Equal(got["dropped.png"], dropped) || !bytes.Equal(got["image.png"], pasted) {
			e.fatalf(t, "files get: dropped %d bytes (sent %d), pasted %d (sent %d)", len(got["dropped.png"]), len(dropped), len(got["image.png"]), len(pasted))
		}
	})

	t.Run("PickedFromTheSlashMenu", func(t *testing.T) {
		// The keyboard's way: "/file", Enter, and the files picked go
		// after the block.
		picked := filepath.Join(dir, "picked.txt")
		os.WriteFile(picked, []byte("picked by keyboard"), 0o600)
		e.must(t, b.SelectEnd(0), "caret at the end of the first line")
		e.must(t, b.Type("\r/file"), "a new line, then /file")
		e.waitPicker(t, b, "File or image*")
		e.must(t, chooseFiles(b, func(ctx context.Context) error { return b.Press(kb.Enter) }, picked), "pick a file")
		e.must(t, b.WaitFor("picked.txt on the page", `Array.from(document.querySelectorAll("#page .b-file .file-link")).some(a => a.textContent === "picked.txt")`, fileBlocksJS), "picked")
		var got []byte
		for _, f := range filesOn(t, e.a, id) {
			if f.Name == "picked.txt" {
				out := filepath.Join(dir, "got-picked.txt")
				e.a.ok("files", "get", f.ID, "-o", out)
				got, _ = os.ReadFile(out)
			}
		}
		if string(got) != "picked by keyboard" {
			e.fatalf(t, "picked.txt on a: %q", got)
		}
		// After the block it was picked in (the line "/file" was typed on,
		// empty now).
		order, err := webdrive.Eval[[]string](b, `Array.from(document.querySelectorAll("#page .ProseMirror > div.b")).map(d => d.dataset.type + ":" + (d.querySelector(".file-link")?.textContent || d.textContent))`)
		e.must(t, err, "the blocks")
		if len(order) < 3 || order[1] != "paragraph:" || order[2] != "file:picked.txt" {
			e.fatalf(t, "picked.txt is not after the line it was picked on: %q", order)
		}
		e.shot(t, "files-picked")
	})

	t.Run("LargeUploadShowsProgress", func(t *testing.T) {
		// 10 MB made in the browser (not sent through the test's
		// connection to it), its SHA-256 (the file's id) taken there.
		sum, err := webdrive.Eval[string](b, `(async () => {
			const parts = [];
			for (let i = 0; i < 10_000_000 / 50_000; i++) parts.push(crypto.getRandomValues(new Uint8Array(50_000)));
			window.bigFile = new File(parts, "big.bin", {type: "application/octet-stream"});
			window.progressSeen = [];
			new MutationObserver(() => {
				for (const p of document.querySelectorAll("#page .upload .upload-progress")) window.progressSeen.push(p.textContent);
			}).observe(document.querySelector("#page"), {subtree: true, childList: true, characterData: true});
			const h = new Uint8Array(await crypto.subtle.digest("SHA-256", await window.bigFile.arrayBuffer()));
			return Array.from(h, x => x.toString(16).padStart(2, "0")).join("");
		})()`)
		e.must(t, err, "make a large file")
		// Its upload at 20 MB/s (as from a laptop on Wi-Fi): on loopback
		// it was gone before the browser's first progress event.
		e.must(t, throttleUploads(b, 20e6), "throttle uploads")
		defer throttleUploads(b, -1)
		_, err = webdrive.Eval[bool](b, `(() => {
			const dt = new DataTransfer();
			dt.items.add(window.bigFile);
			const r = document.querySelectorAll(`+q(webdrive.Lines)+`)[0].getBoundingClientRect();
			return document.querySelectorAll(`+q(webdrive.Lines)+`)[0].dispatchEvent(new DragEvent("drop", {dataTransfer: dt, clientX: r.left + 5, clientY: r.top + r.height / 2, bubbles: true, cancelable: true}));
		})()`)
		e.must(t, err, "drop it")
		e.must(t, b.WaitFor("big.bin on the page", `Array.from(document.querySelectorAll("#page .b-file .file-link")).some(a => a.textContent === "big.bin")`, fileBlocksJS), "big.bin")
		e.must(t, b.WaitFor("the upload's progress gone once its block is in", `document.querySelector("#page .upload") === null`, `document.querySelector("#page .upload")?.textContent`), "progress gone")
		seen, err := webdrive.Eval[[]string](b, `window.progressSeen`)
		e.must(t, err, "progress seen")
		t.Logf("progress shown: %q", seen)
		between := false
		for _, p := range seen {
			between = between || p != "0%" && p != "100%"
		}
		if !between {
			e.fatalf(t, "no progress between 0 and 100%% shown: %q", seen)
		}
		// The bytes the device gives back are the browser's.
		fid := ""
		for _, f := range filesOn(t, e.a, id) {
			if f.Name == "big.bin" && f.Size == 10_000_000 {
				fid = f.ID
			}
		}
		if fid == "" {
			e.fatalf(t, "no file big.bin of 10 MB on a: %v", filesOn(t, e.a, id))
		}
		got := filepath.Join(dir, "big.bin")
		e.a.ok("files", "get", fid, "-o", got)
		if b, err := os.ReadFile(got); err != nil || fmt.Sprintf("%x", sha256.Sum256(b)) != sum {
			e.fatalf(t, "big.bin from 'mycel files get' is not the bytes uploaded (%v)", err)
		}
	})

	t.Run("RefusedUploadSaysWhy", func(t *testing.T) {
		n := len(filesOn(t, e.a, id))
		e.must(t, giveFiles(b, "drop", lineEl(0), "bad\x00name.png", "image/png", pngOf(t, 4, 4)), "drop")
		failed := `document.querySelector("#page .upload.failed")`
		e.must(t, b.WaitFor("the refusal shown where the file was going", failed+`?.textContent.includes("Not uploaded") && `+failed+`.textContent.includes("name must be text")`, failed+`?.textContent`), "refused")
		e.shot(t, "files-refused")
		e.must(t, b.Click("#page .upload.failed button"), "dismiss")
		e.must(t, b.WaitFor("the refusal dismissed", failed+` === null`, ""), "dismissed")
		if got := len(filesOn(t, e.a, id)); got != n {
			e.fatalf(t, "a refused upload added a file: %d files, were %d", got, n)
		}
	})

	t.Run("EditingAroundKeepsThem", func(t *testing.T) {
		before := fileAttrs(blocksOn(e.a, id))
		if len(before) != 6 {
			e.fatalf(t, "file blocks on a: %v", before)
		}
		// Text typed in the first line and after the last file, and a
		// caption typed under an image.
		e.must(t, b.SelectEnd(0), "caret at the end of the first line")
		e.must(t, b.Type(", typed on"), "type")
		e.must(t, b.Click("#page .b-file .file-caption p.line"), "into the first caption")
		e.must(t, b.Type("A caption"), "type a caption")
		e.must(t, b.Press(kb.Backspace), "Backspace in the caption")
		e.must(t, b.Type("n"), "type")
		var blocks []api.Block
		waitFor(t, "the typing on a", func() bool {
			blocks = blocksOn(e.a, id)
			bs := flat(blocks)
			return len(bs) >= 2 && bs[0].Text == "Text above, typed on" && strings.Contains(strings.Join(outline(blocks, 0), "\n"), "file: A caption")
		}, e.upA)
		after := fileAttrs(blocks)
		if len(after) != len(before) {
			e.fatalf(t, "file blocks after typing: %v, before %v", after, before)
		}
		for k, v := range before {
			if !maps.Equal(after[k], v) {
				e.fatalf(t, "block %s's attributes became %v, were %v", k, after[k], v)
			}
		}
		// The other device has the same blocks (its copy of the page; the
		// files' bytes travel on their own).
		waitFor(t, "the file blocks on b", func() bool {
			bs := blocksOn(e.b, id)
			got := fileAttrs(bs)
			if len(got) != len(before) {
				return false
			}
			for k, v := range before {
				if !maps.Equal(got[k], v) {
					return false
				}
			}
			return strings.Contains(strings.Join(outline(bs, 0), "\n"), "file: A caption")
		}, e.node, e.upA, e.upB)
		// b's browser shows them too: the image not on b yet says so.
		const namesJS = `Array.from(document.querySelectorAll("#page .b-file .file-link")).map(a => a.textContent)`
		want := []string{"big.bin", "picked.txt", "image.png", "dropped.png", "photo.png", "notes.pdf"}
		e.must(t, e.bb.WaitFor(fmt.Sprintf("b to show %q", want), namesJS+`.join("\n") === `+q(strings.Join(want, "\n")), `document.querySelector("#page").innerHTML`), "b's files")
		// Two frames later: blocks just shown (content-visibility: auto)
		// are painted only once the browser has seen them on screen, and
		// a screenshot taken at once left them out.
		_, err := webdrive.Eval[bool](e.bb, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`)
		e.must(t, err, "two frames")
		e.shot(t, "files-edited-around")
	})
}
