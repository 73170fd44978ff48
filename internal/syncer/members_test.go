package syncer_test

import (
	"context"
	"testing"

	"mycel/internal/syncer"
)

// A membership record written while the service runs (a rename by the
// CLI, which then pokes the running device) reaches the connected peers
// at the poke, not at the next periodic exchange: the fake clock never
// ticks here.
func TestPokeSendsNewMemberRecords(t *testing.T) {
	f := newFixture(t)
	v := f.vault()
	ctx := context.Background()
	members := syncer.Members{Get: f.e.MemberRecords, Add: f.e.AddMemberRecords}
	svc := syncer.Start(ctx, "device", v.Store(), v.ReceiveBatch, members, config(syncer.NewFakeClock()))
	t.Cleanup(svc.Close)
	mine, theirs := pipe()
	log := &eventLog{}
	newRawPeer(mine, log, "peer", true)
	svc.Attach("peer", theirs)
	membersOf := func(e event) int {
		if m := e.frame.GetMembers(); m != nil {
			return len(m.Records)
		}
		return -1
	}
	eventually(t, "the log sent on connect", func() bool { return log.index(func(e event) bool { return membersOf(e) == 1 }) >= 0 })
	svc.Poke() // the log has not grown since the connection: nothing new to send
	if _, err := f.e.RenameDevice(ctx, "laptop", "desk"); err != nil {
		t.Fatal(err)
	}
	svc.Poke()
	eventually(t, "the grown log sent at the poke", func() bool { return log.index(func(e event) bool { return membersOf(e) == 2 }) >= 0 })
}
