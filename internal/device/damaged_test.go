package device

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"mycel/internal/markdown"
	"mycel/internal/status"
	"mycel/internal/vault"
)

// An object with a damaged change is never Synced: Not syncing, saying so,
// while no peer is connected to fetch it again from; once the node is back
// the change comes back from it and the object is Synced.
func TestDamagedObjectIsNeverSynced(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(t.TempDir(), "a")
	e, _, err := vault.Init(ctx, dir, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.Create(ctx, vault.NewPage{Title: "T", Blocks: markdown.Parse("kept on the node\n")})
	if err != nil {
		t.Fatal(err)
	}
	addr := startNode(t, ctx, t.TempDir())
	if err := Register(ctx, e, addr); err != nil {
		t.Fatal(err)
	}
	d, err := Start(ctx, e, fastConfig())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "Synced", func() bool { s, _ := objectStatus(t, d); return s == status.Synced })
	d.Close()
	d.Host.Close()
	ids, _, err := e.Changes(ctx, id)
	if err != nil || len(ids) < 2 {
		t.Fatalf("changes %v %v", ids, err)
	}
	e.Close()

	// A bit flips on disk in the object's last change; opening the object
	// moves it aside.
	db, err := sql.Open("sqlite", filepath.Join(dir, vault.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	last := ids[len(ids)-1]
	var raw []byte
	if err := db.QueryRow(`SELECT raw FROM changes WHERE id = ?`, last[:]).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	if _, err := db.Exec(`UPDATE changes SET raw = ? WHERE id = ?`, raw, last[:]); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if e, err = vault.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Get(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.DamagedCount(ctx, id); n != 1 {
		t.Fatalf("damaged count %d, want 1", n)
	}
	nodes, _ := e.Nodes(ctx)
	if err := e.SetNodes(ctx, nil); err != nil { // no peer to fetch it from
		t.Fatal(err)
	}
	if d, err = Start(ctx, e, fastConfig()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if s, why := objectStatus(t, d); s != status.NotSyncing || !strings.Contains(why, "1 damaged changes") {
		t.Fatalf("damaged, no peer: %s (%s)", s, why)
	}
	if err := e.SetNodes(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	d.Poke()
	eventually(t, "the damaged change back from the node, and Synced", func() bool {
		s, why := objectStatus(t, d)
		if s == status.Synced {
			n, _ := e.DamagedCount(ctx, id)
			return n == 0
		}
		if strings.Contains(why, "damaged") && s != status.Syncing && s != status.NotSyncing {
			t.Fatalf("damaged, yet %s (%s)", s, why)
		}
		return false
	})
}
