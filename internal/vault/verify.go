package vault

import (
	"context"
	"fmt"
)

// Verify checks the whole store (see Check) and fails on the first problem
// it names. It returns the number of changes checked.
func (e *Engine) Verify(ctx context.Context) (int, error) {
	r, err := e.Check(ctx, false)
	if err != nil {
		return 0, err
	}
	if len(r.Problems) > 0 {
		return r.Changes, fmt.Errorf("%d problems, the first: %s", len(r.Problems), r.Problems[0])
	}
	return r.Changes, nil
}
