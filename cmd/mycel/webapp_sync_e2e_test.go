package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mycel/internal/change"
	"mycel/internal/device"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
	"mycel/internal/vault"
	"mycel/internal/webdrive"
)

// syncMark is 'mycel sync --json' on c: its mode and the pages kept off.
func syncMark(t *testing.T, c *cli) (mode string, off []string) {
	var out struct {
		Mode    string `json:"mode"`
		SyncOff []struct {
			ID string `json:"id"`
		} `json:"sync_off"`
	}
	if err := json.Unmarshal([]byte(c.ok("sync", "--json")), &out); err != nil {
		t.Fatal(err)
	}
	for _, p := range out.SyncOff {
		off = append(off, p.ID)
	}
	return out.Mode, off
}

// syncTools: the page's "Sync" toggle keeps the page to this device (the
// CLI lists it, its status says so) and shares it again; settings' mode
// select sets the device's mode, which the running device takes at once.
func syncTools(t *testing.T, e *webE2E) {
	q := webdrive.Quote
	a := e.ba
	id := e.page(t, "E2E sync toggle", "Kept or shared")
	state := `(el => el && (el.checked ? "on" : "off") + (el.disabled ? " busy" : ""))(document.querySelector("#sync-page"))`
	waitState := func(want string) {
		t.Helper()
		e.must(t, a.WaitFor("the page's sync toggle "+want, `!document.querySelector("#sync-toggle").hidden && `+state+` === `+q(want), state), "toggle "+want)
	}
	waitState("on")
	e.must(t, a.Click("#sync-page"), "turn sync off for the page")
	waitState("off")
	if _, off := syncMark(t, e.a); !slices.Equal(off, []string{id}) {
		e.fatalf(t, "after the click, a keeps off %q; want the page %s", off, id)
	}
	waitFor(t, "the page Not syncing on a", func() bool { return objectStatus(t, e.a, id) == "Not syncing" }, e.upA)
	e.shot(t, "sync-off")
	e.must(t, a.Click("#sync-page"), "turn sync on again")
	waitState("on")
	if _, off := syncMark(t, e.a); len(off) != 0 {
		e.fatalf(t, "after the second click, a keeps off %q", off)
	}
	waitFor(t, "the page Synced again on a", func() bool { return objectStatus(t, e.a, id) == "Synced" }, e.upA)

	// A page made kept to this device: so from its first change, and its
	// toggle shows it.
	_, before := syncMark(t, e.a)
	e.must(t, a.Click("#new-private"), "a new page kept here")
	waitState("off")
	_, after := syncMark(t, e.a)
	if len(after) != len(before)+1 {
		e.fatalf(t, "after 'New, kept here', a keeps off %q (before: %q)", after, before)
	}

	// The mode, from settings.
	e.must(t, a.Click("#settings-btn"), "open settings")
	note := `document.querySelector("#mode").textContent`
	e.must(t, a.WaitFor("the mode shown", note+`.startsWith("In force now: all")`, note), "mode shown")
	choose := func(mode string) {
		t.Helper()
		_, err := webdrive.Eval[bool](a, `(s => { s.value = `+q(mode)+`; s.dispatchEvent(new Event("change")); return true; })(document.querySelector("#sync-mode"))`)
		e.must(t, err, "choose "+mode)
	}
	choose("lan-only")
	e.must(t, a.WaitFor("lan-only in force", note+`.startsWith("In force now: lan-only")`, note), "lan-only shown")
	if mode, _ := syncMark(t, e.a); mode != "lan-only" {
		e.fatalf(t, "a's mode after the select: %q", mode)
	}
	waitFor(t, "a off the node", func() bool {
		r := vaultStatus(t, e.a)
		return len(r.Nodes) == 1 && !r.Nodes[0].Connected && strings.HasPrefix(r.Mode, "lan-only")
	}, e.upA)
	e.shot(t, "sync-mode")
	choose("all")
	e.must(t, a.WaitFor("all in force", note+`.startsWith("In force now: all")`, note), "all shown")
	waitFor(t, "a back on the node", func() bool {
		r := vaultStatus(t, e.a)
		return len(r.Nodes) == 1 && r.Nodes[0].Connected
	}, e.upA)
	e.must(t, a.Click("#settings-close"), "close settings")
}

// nodeTrustTools: a node caught losing or hiding changes it had confirmed
// is shown in settings with the pages it was caught about, and "Trust
// again" clears the mark in the running device: the page is Synced again.
// (The mark is put in a's store as a caught node leaves it; catching one
// for real is cmd/mycel/nodeack_test.go's.)
func nodeTrustTools(t *testing.T, e *webE2E) {
	a := e.ba
	id := e.page(t, "E2E trust again", "Kept by the node")
	waitFor(t, "the page Synced on a", func() bool { return objectStatus(t, e.a, id) == "Synced" }, e.upA)
	naddr := nodeAddr(t, e.node)
	obj, err := change.ParseID(id)
	e.must(t, err, "the page's id")
	db, err := sqlite.Open(filepath.Join(e.a.data, vault.DBFile))
	e.must(t, err, "open a's store")
	e.must(t, db.Update(t.Context(), func(tx store.Tx) error {
		return tx.PutNodeAck(store.NodeAck{Node: naddr[strings.LastIndex(naddr, "/p2p/")+5:], Object: obj, Time: 1, Sig: []byte("s"), Lied: time.Now().UnixMilli()})
	}), "mark the node caught")
	db.Close()
	e.a.ok("nodes", "ls") // pokes the running device, which reads the marks
	waitFor(t, "the page Not syncing on a, the node caught", func() bool {
		o := objectReply(t, e.a, id)
		return o.Status == "Not syncing" && o.Reason == device.NodeLiedReason
	}, e.upA)

	e.must(t, a.Click("#settings-btn"), "open settings")
	caught := `(p => p ? p.textContent : "")(document.querySelector("#nodes .caught"))`
	e.must(t, a.WaitFor("the node shown caught", caught+`.includes("on 1 page")`, caught), "node caught shown")
	e.shot(t, "node-caught")
	e.must(t, a.Click("#nodes .caught button"), "trust the node again")
	e.must(t, a.WaitFor("the mark gone from settings", `!document.querySelector("#nodes .caught")`, caught), "mark gone")
	waitFor(t, "the page Synced again on a", func() bool { return objectStatus(t, e.a, id) == "Synced" }, e.upA)
	e.must(t, a.Click("#settings-close"), "close settings")
}
