package syncer

import (
	"mycel/internal/objsync"
	"mycel/internal/pb"
)

// ToWire lets tests that play a peer by hand build its frames.
func ToWire(m objsync.Message) *pb.Frame { return toWire(m) }

// FromWire lets them read the frames a service sends.
func FromWire(s *pb.SyncMessage) (objsync.Message, error) { return fromWire(s) }

// SignedFrame is what a node's writer makes of a message: its frame,
// signed when the service has an AckSigner (the cost on the ack path).
func SignedFrame(cfg Config, m objsync.Message) *pb.Frame {
	s := &Service{signer: cfg.AckSigner, clock: RealClock{}}
	f := toWire(m)
	s.signAck(f.GetSync(), m, s.removalGen(m))
	return f
}

// QueuedFrame is SignedFrame for a message queued when queuedGen removal
// requests had been carried out for its object.
func QueuedFrame(cfg Config, m objsync.Message, queuedGen uint64) *pb.Frame {
	s := &Service{signer: cfg.AckSigner, clock: RealClock{}}
	f := toWire(m)
	s.signAck(f.GetSync(), m, queuedGen)
	return f
}
