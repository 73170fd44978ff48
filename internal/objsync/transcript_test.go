package objsync

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"mycel/internal/reconcile"
)

// StatusOf computes an object's status label and reason from what the
// machine knows (set by status_hook_test.go, in the external test
// package, since package status imports this one).
var StatusOf func(peers []PeerObject, isNode func(PeerID) bool, parked int) (string, string)

// TestTranscripts runs the scenarios in testdata/*.txt (etcd-raft style;
// go test -rewrite refreshes the expected output). Commands:
//
//	devices a b…, nodes n…       make peers (a node's name is listed by nodes)
//	connect a b, disconnect a b  open or close a connection (both sides)
//	edit a x [n=K] [size=B]      K new changes of object x on a (x is made
//	                             if a lacks it), of about B bytes each
//	tick a… [n=K]                K ticks on each named peer (all: every peer)
//	deliver [from=a] [to=b] [n=K] deliver the first K pending messages that
//	                             match (default: all pending now), printing them
//	drop [from=a] [to=b]         lose the pending messages that match
//	stabilize                    deliver until nothing is pending
//	pending                      print the pending messages
//	status a x                   a's status of x, and what it knows of each peer
//	refuse a x3, accept a x3     a refuses change x3 when it arrives, or no more
//	fail a, heal a               a's store fails every read, or works again
//	restart a                    a loses its sync state (its store, and what
//	                             peers said they hold, are kept)
func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		if !strings.HasSuffix(path, ".txt") {
			t.Skip("not a transcript") // rapid keeps failing cases in testdata/rapid
		}
		// Many runs, each from scratch: map order changes from run to
		// run, so output that depended on it would not match every time.
		for range 20 {
			n := newNet()
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				return n.run(t, d)
			})
		}
	})
}

// tnet is the network a transcript drives.
type tnet struct {
	stores   map[PeerID]*memStore
	machines map[PeerID]*Machine
	node     map[PeerID]bool
	links    map[[2]PeerID]bool
	pending  []flight
	objs     map[ID]string // object labels
	changes  map[ID]string // change labels
	byName   map[string]ID // objects and changes by label
	count    map[string]int
	nonce    uint64
	salts    byte
	out      *strings.Builder
}

func newNet() *tnet {
	return &tnet{stores: map[PeerID]*memStore{}, machines: map[PeerID]*Machine{}, node: map[PeerID]bool{},
		links: map[[2]PeerID]bool{}, objs: map[ID]string{}, changes: map[ID]string{}, byName: map[string]ID{}, count: map[string]int{}}
}

// transcriptConfig: small batches and window, so that a few changes of a
// hundred bytes show both.
var transcriptConfig = Config{ReconcileEvery: 10, BatchBytes: 400, Window: 800}

func (n *tnet) salt() (s [reconcile.SaltSize]byte) {
	n.salts++
	s[0] = n.salts
	return s
}

func (n *tnet) newMachine(p PeerID) {
	n.machines[p] = New(p, n.stores[p], transcriptConfig, n.salt)
}

func (n *tnet) run(t *testing.T, d *datadriven.TestData) string {
	n.out = &strings.Builder{}
	args := map[string]string{}
	var names []string
	for _, a := range d.CmdArgs {
		if len(a.Vals) > 0 {
			args[a.Key] = a.Vals[0]
		} else {
			names = append(names, a.Key)
		}
	}
	num := func(key string, def int) int {
		if v, ok := args[key]; ok {
			k, err := strconv.Atoi(v)
			if err != nil {
				d.Fatalf(t, "%s=%s: %v", key, v, err)
			}
			return k
		}
		return def
	}
	peer := func(i int) PeerID {
		if i >= len(names) {
			d.Fatalf(t, "%s: too few arguments", d.Cmd)
		}
		p := PeerID(names[i])
		if n.machines[p] == nil {
			d.Fatalf(t, "no peer %s", p)
		}
		return p
	}
	switch d.Cmd {
	case "devices", "nodes":
		for _, name := range names {
			p := PeerID(name)
			n.stores[p] = newMem()
			n.node[p] = d.Cmd == "nodes"
			n.newMachine(p)
		}
	case "connect":
		a, b := peer(0), peer(1)
		n.links[pair(a, b)] = true
		n.call(a, n.machines[a].Connected(b))
		n.call(b, n.machines[b].Connected(a))
	case "disconnect":
		a, b := peer(0), peer(1)
		n.cut(a, b)
	case "edit":
		a := peer(0)
		if len(names) < 2 {
			d.Fatalf(t, "edit PEER OBJECT")
		}
		n.edit(a, names[1], num("n", 1), num("size", 0))
	case "tick":
		var ps []PeerID
		if len(names) == 1 && names[0] == "all" {
			ps = slices.Sorted(maps.Keys(n.machines))
		} else {
			for i := range names {
				ps = append(ps, peer(i))
			}
		}
		for range num("n", 1) {
			for _, p := range ps {
				n.call(p, n.machines[p].Tick())
			}
		}
	case "deliver":
		n.deliver(args["from"], args["to"], num("n", -1))
	case "drop":
		kept := n.pending[:0]
		for _, f := range n.pending {
			if n.matches(f, args["from"], args["to"]) {
				fmt.Fprintf(n.out, "dropped %s\n", n.show(f))
			} else {
				kept = append(kept, f)
			}
		}
		n.pending = kept
	case "stabilize":
		for round := 0; len(n.pending) > 0; round++ {
			if round == 1000 {
				d.Fatalf(t, "messages never stop")
			}
			n.deliver("", "", -1)
		}
	case "pending":
		for _, f := range n.pending {
			fmt.Fprintln(n.out, n.show(f))
		}
	case "status":
		n.status(peer(0), n.object(t, d, names))
	case "refuse":
		a := peer(0)
		id, ok := n.byName[names[1]]
		if !ok {
			d.Fatalf(t, "no change %s", names[1])
		}
		n.stores[a].refuse[id] = true
	case "accept":
		delete(n.stores[peer(0)].refuse, n.byName[names[1]])
	case "fail":
		n.stores[peer(0)].fail = errDisk
	case "heal":
		n.stores[peer(0)].fail = nil
	case "restart":
		a := peer(0)
		for _, b := range slices.Sorted(maps.Keys(n.machines)) {
			if n.links[pair(a, b)] {
				n.cut(a, b)
			}
		}
		n.newMachine(a)
	default:
		d.Fatalf(t, "unknown command %s", d.Cmd)
	}
	return n.out.String()
}

func (n *tnet) object(t *testing.T, d *datadriven.TestData, names []string) ID {
	if len(names) < 2 {
		d.Fatalf(t, "%s PEER OBJECT", d.Cmd)
	}
	id, ok := n.byName[names[1]]
	if !ok {
		d.Fatalf(t, "no object %s", names[1])
	}
	return id
}

// cut closes a connection: what was in flight on it is lost.
func (n *tnet) cut(a, b PeerID) {
	delete(n.links, pair(a, b))
	n.machines[a].Disconnected(b)
	n.machines[b].Disconnected(a)
	kept := n.pending[:0]
	for _, f := range n.pending {
		if pair(f.from, f.to) != pair(a, b) {
			kept = append(kept, f)
		}
	}
	n.pending = kept
}

// call reports a machine's error, then runs its Ready loop.
func (n *tnet) call(p PeerID, err error) {
	if err != nil {
		fmt.Fprintf(n.out, "%s: error: %v\n", p, err)
	}
	n.flush(p)
}

// flush runs a machine's Ready loop as a driver does: persist what peers
// said they hold, store what came (reporting each message's outcomes),
// then queue the messages.
func (n *tnet) flush(p PeerID) {
	m, st := n.machines[p], n.stores[p]
	for m.HasReady() {
		rd := m.Ready()
		m.Advance()
		st.persist(rd.Held)
		for lo := 0; lo < len(rd.Received); {
			in := rd.Received[lo]
			hi := lo
			var outs []Outcome
			for ; hi < len(rd.Received) && rd.Received[hi].From == in.From && rd.Received[hi].Object == in.Object; hi++ {
				c := rd.Received[hi].Change
				o := st.receive(c.ID, c.Raw)
				if o == Rejected {
					fmt.Fprintf(n.out, "%s: refused %s\n", p, n.changes[c.ID])
				}
				outs = append(outs, o)
			}
			if err := m.Applied(in.From, in.Object, outs); err != nil {
				fmt.Fprintf(n.out, "%s: error: %v\n", p, err)
			}
			lo = hi
		}
		for _, e := range rd.Messages {
			if n.links[pair(p, e.To)] {
				n.pending = append(n.pending, flight{p, e.To, e.Msg})
			}
		}
	}
}

func (n *tnet) edit(p PeerID, obj string, k, size int) {
	st := n.stores[p]
	for range k {
		n.nonce++
		oid, known := n.byName[obj]
		var id ID
		var raw []byte
		if !known || len(st.heads[oid]) == 0 {
			if known {
				// Another peer made it: a peer only edits what it holds.
				fmt.Fprintf(n.out, "%s does not hold %s\n", p, obj)
				return
			}
			id, raw = encodePad(ID{}, nil, n.nonce, size)
			oid = id
			n.objs[oid], n.byName[obj] = obj, oid
		} else {
			id, raw = encodePad(oid, st.heads[oid], n.nonce, size)
		}
		n.count[obj]++
		label := fmt.Sprintf("%s%d", obj, n.count[obj])
		n.changes[id], n.byName[label] = label, id
		st.receive(id, raw)
		n.call(p, n.machines[p].Changed(oid))
	}
}

func (n *tnet) matches(f flight, from, to string) bool {
	return (from == "" || string(f.from) == from) && (to == "" || string(f.to) == to)
}

// deliver delivers up to k (-1: all) of the messages pending now that
// match; those they cause wait for the next deliver.
func (n *tnet) deliver(from, to string, k int) {
	var now, later []flight
	for _, f := range n.pending {
		if n.matches(f, from, to) && (k < 0 || len(now) < k) {
			now = append(now, f)
		} else {
			later = append(later, f)
		}
	}
	n.pending = later
	for _, f := range now {
		if !n.links[pair(f.from, f.to)] {
			continue
		}
		fmt.Fprintln(n.out, n.show(f))
		n.call(f.to, n.machines[f.to].Step(f.from, f.msg))
	}
}

func (n *tnet) labels(ids []ID) string {
	ls := make([]string, len(ids))
	for i, id := range ids {
		ls[i] = n.changes[id]
	}
	slices.Sort(ls)
	return "[" + strings.Join(ls, " ") + "]"
}

func (n *tnet) show(f flight) string {
	m := f.msg
	head := fmt.Sprintf("%s→%s ", f.from, f.to)
	switch m.Kind {
	case Recon:
		end := ""
		if m.Recon == nil {
			end = " end"
		}
		return fmt.Sprintf("%sRecon s%d.%d%s", head, m.Session, m.Seq, end)
	case Heads:
		return fmt.Sprintf("%sHeads %s %s", head, n.objs[m.Object], n.labels(m.Heads))
	default:
		ids := make([]ID, len(m.Changes))
		for i, c := range m.Changes {
			ids[i] = c.ID
		}
		ls := make([]string, len(ids))
		for i, id := range ids {
			ls[i] = n.changes[id]
		}
		return fmt.Sprintf("%sChanges %s [%s] heads=%s held=%d", head, n.objs[m.Object], strings.Join(ls, " "), n.labels(m.Heads), m.Held)
	}
}

func (n *tnet) status(p PeerID, obj ID) {
	peers, err := n.machines[p].Object(obj)
	if err != nil {
		fmt.Fprintf(n.out, "%s: error: %v\n", p, err)
		return
	}
	label, why := StatusOf(peers, func(q PeerID) bool { return n.node[q] }, n.stores[p].parkedOf(obj))
	if why != "" {
		label += " (" + why + ")"
	}
	fmt.Fprintf(n.out, "%s on %s: %s; heads %s\n", n.objs[obj], p, label, n.labels(n.stores[p].heads[obj]))
	for _, po := range peers {
		var facts []string
		add := func(ok bool, s string) {
			if ok {
				facts = append(facts, s)
			}
		}
		add(po.Reconciled, "reconciled")
		add(po.Known, "known")
		add(po.HasMine, "holds ours")
		add(po.Outgoing > 0, fmt.Sprintf("%d to send", po.Outgoing))
		add(po.Incoming, "has more")
		add(po.Failed, "failed")
		if len(facts) == 0 {
			facts = append(facts, "nothing known yet")
		}
		fmt.Fprintf(n.out, "  %s: %s\n", po.Peer, strings.Join(facts, ", "))
	}
}
