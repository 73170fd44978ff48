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
