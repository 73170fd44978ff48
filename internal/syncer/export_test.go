package syncer

import (
	"mycel/internal/objsync"
	"mycel/internal/pb"
)

// ToWire lets tests that play a peer by hand build its frames.
func ToWire(m objsync.Message) *pb.Frame { return toWire(m) }

// FromWire lets them read the frames a service sends.
func FromWire(s *pb.SyncMessage) (objsync.Message, error) { return fromWire(s) }
