package objsync_test

import (
	"mycel/internal/objsync"
	"mycel/internal/status"
)

// The transcripts print status labels as people see them; package status
// imports objsync, so it is reached from this external test package.
func init() {
	objsync.StatusOf = func(peers []objsync.PeerObject, isNode func(objsync.PeerID) bool, parked int) (string, string) {
		return status.Object(status.Facts{Peers: peers, IsNode: isNode, Parked: parked})
	}
}
