package syncer_test

import (
	"context"
	"sync"
	"testing"

	"mycel/internal/admit"
	"mycel/internal/objsync"
	"mycel/internal/syncer"
)

// bothModes runs a test with the loop storing received changes itself
// and with its stores pipelined (Config.Pipeline, a node's).
func bothModes(t *testing.T, test func(*testing.T, func(syncer.Clock) syncer.Config)) {
	for _, pipeline := range []bool{false, true} {
		name := "loop"
		if pipeline {
			name = "pipeline"
		}
		t.Run(name, func(t *testing.T) {
			test(t, func(c syncer.Clock) syncer.Config {
				cfg := config(c)
				cfg.Pipeline = pipeline
				return cfg
			})
		})
	}
}

// With pipelined stores, the loop goes on while a commit is under way:
// it answers, takes in what arrives (here from a second device), and
// stores all of that in the next commit, in one Receiver call, once the
// first returns; neither device's changes are acknowledged before the
// commit that stored them returned.
func TestPipelineGroupsWhileCommitting(t *testing.T) {
	f := newFixture(t)
	a, b := f.object(3), f.object(4)
	v := f.vault()
	log := &eventLog{}
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var calls [][]admit.Incoming
	receive := func(ctx context.Context, in []admit.Incoming) ([]admit.Outcome, []error, error) {
		mu.Lock()
		calls = append(calls, in)
		first := len(calls) == 1
		mu.Unlock()
		if first {
			close(entered)
			<-release
		}
		outs, errs, err := v.ReceiveBatch(ctx, in)
		log.add("receiver returned", nil)
		return outs, errs, err
	}
	cfg := config(syncer.NewFakeClock())
	cfg.Pipeline = true
	svc := start(t, "node", v, receive, cfg)
	connect := func(name string) *rawPeer {
		mine, theirs := pipe()
		p := newRawPeer(mine, log, name, true)
		svc.Attach(objsync.PeerID(name), theirs)
		return p
	}
	pa, pb := connect("a"), connect("b")
	pa.send(changesMsg(a[0].ID, a, len(a)))
	<-entered
	pb.send(changesMsg(b[0].ID, b, len(b)))
	// The loop answers while the commit waits: a stepped message is in
	// its view (b's count), which a blocked loop could not tell.
	eventually(t, "b's message taken in during the commit", func() bool {
		pos, err := svc.Object(context.Background(), b[0].ID)
		return err == nil && len(pos) == 2 && (pos[0].Total == len(b) || pos[1].Total == len(b))
	})
	acked := func(who string, obj []admit.Incoming) func(event) bool {
		return func(e event) bool {
			m, ok := syncMsg(e.frame)
			return e.what == who+" got" && ok && names(m, obj[0].ID, obj[len(obj)-1].ID)
		}
	}
	if log.index(acked("a", a)) >= 0 || log.index(acked("b", b)) >= 0 {
		t.Fatal("acknowledged before the commit returned")
	}
	close(release)
	eventually(t, "both acknowledged", func() bool { return log.index(acked("a", a)) >= 0 && log.index(acked("b", b)) >= 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || len(calls[0]) != len(a) || len(calls[1]) != len(b) {
		t.Fatalf("Receiver calls of %d changes; want %d, then the %d that came during it", lens(calls), len(a), len(b))
	}
	returned := 0
	for i, e := range log.all() {
		if e.what == "receiver returned" {
			returned++
		}
		if (acked("b", b)(e) && returned < 2) || (acked("a", a)(e) && returned < 1) {
			t.Fatalf("event %d acknowledges before the commit storing it returned", i)
		}
	}
}

func lens(calls [][]admit.Incoming) []int {
	var out []int
	for _, c := range calls {
		out = append(out, len(c))
	}
	return out
}
