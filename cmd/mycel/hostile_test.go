package main

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/change"
	"mycel/internal/store"
	"mycel/internal/store/sqlite"
)

// malleate gives the node operator's version of the attack: with no key,
// it stores second encodings of a device's changes (two bytes appended
// give a new id), one of the object's newest change beside it and one of
// the object's root, which older versions took for a new page.
func malleate(t *testing.T, nodeData string) {
	t.Helper()
	dbs, _ := filepath.Glob(filepath.Join(nodeData, "vaults", "*", "mycel.db"))
	if len(dbs) != 1 {
		t.Fatalf("node stores: %v", dbs)
	}
	db, err := sqlite.Open(dbs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(context.Background(), func(tx store.Tx) error {
		heads, err := tx.AllHeads()
		if err != nil {
			return err
		}
		for obj, hs := range heads {
			for _, target := range []change.ID{hs[0], obj} {
				m, err := tx.Meta(target)
				if err != nil {
					return err
				}
				raw, err := tx.RawChange(target)
				if err != nil {
					return err
				}
				raw = append(raw, 0x78, 0x01)
				m.ID = sha256.Sum256(raw)
				if target == obj {
					m.Object = m.ID // "a new object"
				}
				if _, _, err := tx.PutChange(m, raw); err != nil {
					return err
				}
				if target == obj {
					err = tx.SetHeads(m.ID, []change.ID{m.ID})
				} else {
					err = tx.SetHeads(obj, append(hs, m.ID))
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A node operator rewrote stored changes into second encodings: two honest
// devices each kept one copy, refused the other and diverged for good, a
// copied root became a new empty page everywhere, and check said all good.
// Now no device takes a second encoding: both hold the same changes, no
// page appears, check is good, and the device says a change was refused.
func TestNodeOperatorCannotMalleateChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and two devices")
	}
	nodeData := filepath.Join(t.TempDir(), "node")
	listen := loopbackListen(t)
	node := runNode(t, nodeData, listen)
	addr := nodeAddr(t, node)
	a, b := newCLI(t), newCLI(t)
	phrase := jsonOf[map[string]string](t, a.ok("init", "--name", "laptop", "--json", "--show-phrase"))["phrase"]
	if _, errOut, err := b.run(phrase+"\n", "recover", "--name", "phone"); err != nil {
		t.Fatalf("recover: %v %s", err, errOut)
	}
	a.ok("nodes", "add", addr)
	b.ok("nodes", "add", addr)
	upA := start(t, "--data", a.data, "up", "--no-lan")
	id := strings.TrimSpace(a.ok("new", "--title", "Ledger", "--text", "The first line."))
	waitFor(t, "a's page Synced", func() bool { return objectStatus(t, a, id) == "Synced" }, node, upA)
	node.stop()
	upA.stop()

	malleate(t, nodeData)

	node = runNode(t, nodeData, listen)
	nodeAddr(t, node)
	upA = start(t, "--data", a.data, "up", "--no-lan")
	upB := start(t, "--data", b.data, "up", "--no-lan")
	waitFor(t, "the page on b", showsText(b, id, "\nThe first line.\n"), node, upA, upB)
	vaultStatus := func(c *cli) statusReply {
		out, _, err := c.run("", "status", "--json")
		if err != nil {
			return statusReply{}
		}
		return jsonOf[statusReply](t, out)
	}
	// b has had what the node holds offered: it says a change was refused.
	waitFor(t, "b to refuse the node's second encodings", func() bool {
		r := vaultStatus(b)
		return r.Status == "Not syncing" || r.Status == "Synced" && len(r.Objects) > 1
	}, node, upA, upB)
	for name, c := range map[string]*cli{"a": a, "b": b} {
		if ls := jsonOf[[]map[string]any](t, c.ok("ls", "--json")); len(ls) != 1 {
			t.Errorf("%s lists %d pages (a copied root is no new page): %v", name, len(ls), ls)
		}
		if out := c.ok("check"); !strings.Contains(out, "all good") {
			t.Errorf("check on %s:\n%s", name, out)
		}
	}
	if ha, hb := a.ok("history", id), b.ok("history", id); ha != hb {
		t.Fatalf("the devices hold different histories:\n%s\n%s", ha, hb)
	}
	if r := vaultStatus(b); !strings.Contains(r.Objects[0].Reason+r.Reason, "refused") {
		t.Fatalf("b does not say a change was refused: %+v", r)
	}
	upA.stop()
	upB.stop()
	node.stop()
}
