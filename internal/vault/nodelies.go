package vault

import (
	"context"
	"fmt"
	"strings"

	"mycel/internal/store"
)

// A backup node caught showing less of a page than it had confirmed
// (internal/device/nodeacks.go) keeps that page Not syncing until the
// user trusts it again: after its operator fixed it, say, or knowing it
// was put back from a backup. Trusting it again clears the mark; the
// words it signed stay kept, and its next ones are judged against them
// as before (so a node that still lacks what it confirmed is caught
// again, while the devices upload it what it lacks).

// NodeLie is a page a node was caught lying about.
type NodeLie struct {
	Node   string // the node's peer id
	Object [32]byte
	Found  int64 // when it was found out (Unix ms)
}

// NodePeer is the peer id an address of a node ends with (after its
// /p2p/), or "" when it names none.
func NodePeer(addr string) string {
	if i := strings.LastIndex(addr, "/p2p/"); i >= 0 {
		return addr[i+len("/p2p/"):]
	}
	return ""
}

// NodeLies lists the pages each node was caught lying about.
func (e *Engine) NodeLies(ctx context.Context) ([]NodeLie, error) {
	var out []NodeLie
	err := e.db.View(ctx, func(tx store.Tx) error {
		lies, err := tx.NodeLies()
		for _, l := range lies {
			out = append(out, NodeLie{Node: l.Node, Object: l.Object, Found: l.Lied})
		}
		return err
	})
	return out, err
}

// TrustNodeAgain clears the marks of node (its address, with its /p2p/
// part, or its peer id; "" for every node) and says how many pages were
// marked. A running device takes it at its next poke.
func (e *Engine) TrustNodeAgain(ctx context.Context, node string) (int, error) {
	peer := node
	if p := NodePeer(node); p != "" {
		peer = p
	} else if strings.HasPrefix(node, "/") {
		return 0, fmt.Errorf("%s names no node: give its address with its /p2p/ part, as 'mycel nodes ls' shows it", node)
	}
	n := 0
	err := e.db.Update(ctx, func(tx store.Tx) error {
		n = 0
		lies, err := tx.NodeLies()
		if err != nil {
			return err
		}
		for _, l := range lies {
			if peer != "" && l.Node != peer {
				continue
			}
			l.Lied = 0
			if err := tx.PutNodeAck(l); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
