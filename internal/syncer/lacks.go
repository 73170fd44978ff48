package syncer

import (
	"context"
	"fmt"

	"mycel/internal/change"
	"mycel/internal/objsync"
)

// Lacks says how many changes of obj, and bytes, a peer holding theirs
// lacks (objsync.Machine.Lacks): for the status of a peer not connected,
// by the heads it last said it holds. It asks the loop goroutine.
func (s *Service) Lacks(ctx context.Context, obj change.ID, theirs []change.ID) (int, int64, error) {
	ids := make([]objsync.ID, len(theirs))
	for i, h := range theirs {
		ids[i] = h
	}
	var n int
	var b int64
	var err error
	if aerr := s.ask(ctx, func() {
		n, b, err = s.machine.Lacks(obj, ids)
		s.check(err)
	}); aerr != nil {
		return 0, 0, aerr
	}
	if err != nil {
		return 0, 0, fmt.Errorf("storage error: %w", err)
	}
	return n, b, nil
}

// objectsPerAsk bounds how many objects one ask of Objects steps the
// machine for, so that a vault's status never holds the loop long.
const objectsPerAsk = 512

// Objects is Object for many objects, with our heads of each given (read
// by the caller in one query): out[i] is what each connected peer holds of
// objs[i]. It asks the loop a batch at a time.
func (s *Service) Objects(ctx context.Context, objs []change.ID, mine [][]change.ID) ([][]objsync.PeerObject, error) {
	out := make([][]objsync.PeerObject, len(objs))
	var err error
	for lo := 0; lo < len(objs); lo += objectsPerAsk {
		hi := min(lo+objectsPerAsk, len(objs))
		if aerr := s.ask(ctx, func() {
			for i := lo; i < hi && err == nil; i++ {
				hs := make([]objsync.ID, len(mine[i]))
				for j, h := range mine[i] {
					hs[j] = h
				}
				out[i], err = s.machine.ObjectAt(objs[i], hs)
			}
			s.check(err)
		}); aerr != nil {
			return nil, aerr
		}
		if err != nil {
			return nil, fmt.Errorf("storage error: %w", err)
		}
	}
	return out, nil
}
