package syncer

import (
	"context"
	"fmt"

	"mycel/internal/change"
	"mycel/internal/objsync"
)

// Lack is what a peer lacks of an object: changes, and their bytes.
type Lack struct {
	Changes int
	Bytes   int64
}

// LackQuery asks what a peer holding Theirs lacks of Object.
type LackQuery struct {
	Object       change.ID
	Theirs, Mine []change.ID // Mine: our heads, or nil to read them
}

// Lacks says, for each query, how many changes of its object, and bytes,
// a peer holding its heads lacks (objsync.Machine.Lacks): for the status of
// peers not connected, by the heads each last said it holds. It asks the
// loop a batch at a time.
func (s *Service) Lacks(ctx context.Context, qs []LackQuery) ([]Lack, error) {
	out := make([]Lack, len(qs))
	err := s.inBatches(ctx, len(qs), func(i int) (err error) {
		out[i].Changes, out[i].Bytes, err = s.machine.Lacks(qs[i].Object, objIDs(qs[i].Theirs), objIDs(qs[i].Mine))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// objectsPerAsk bounds how many objects one ask of Objects steps the
// machine for, so that a vault's status never holds the loop long.
const objectsPerAsk = 512

// Objects is Object for many objects, with our heads of each given (read
// by the caller in one query): out[i] is what each connected peer holds of
// objs[i]. It asks the loop a batch at a time.
func (s *Service) Objects(ctx context.Context, objs []change.ID, mine [][]change.ID) ([][]objsync.PeerObject, error) {
	out := make([][]objsync.PeerObject, len(objs))
	err := s.inBatches(ctx, len(objs), func(i int) (err error) {
		out[i], err = s.machine.ObjectAt(objs[i], objIDs(mine[i]))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// inBatches runs f(i) for every i below n on the loop goroutine,
// objectsPerAsk at a time, until f fails (with a storage error).
func (s *Service) inBatches(ctx context.Context, n int, f func(i int) error) error {
	var err error
	for lo := 0; lo < n; lo += objectsPerAsk {
		hi := min(lo+objectsPerAsk, n)
		if aerr := s.ask(ctx, func() {
			for i := lo; i < hi && err == nil; i++ {
				err = f(i)
			}
			s.check(err)
		}); aerr != nil {
			return aerr
		}
		if err != nil {
			return fmt.Errorf("storage error: %w", err)
		}
	}
	return nil
}

// objIDs converts ids (nil stays nil).
func objIDs(ids []change.ID) []objsync.ID {
	if ids == nil {
		return nil
	}
	out := make([]objsync.ID, len(ids))
	for i, h := range ids {
		out[i] = h
	}
	return out
}
