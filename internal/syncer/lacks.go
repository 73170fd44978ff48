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
	var err error
	for lo := 0; lo < len(qs); lo += objectsPerAsk {
		hi := min(lo+objectsPerAsk, len(qs))
		if aerr := s.ask(ctx, func() {
			for i := lo; i < hi && err == nil; i++ {
				out[i].Changes, out[i].Bytes, err = s.machine.Lacks(qs[i].Object, objIDs(qs[i].Theirs), objIDs(qs[i].Mine))
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
