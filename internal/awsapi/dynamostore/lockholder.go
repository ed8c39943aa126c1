package dynamostore

import (
	"context"
	"errors"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

// LockHolder returns the id of the rollout that holds the alias's lock, or "" when none
// does. finalize releases the lock last, so a rollout that has ended and no longer holds it
// has been finalized: the CLI's `deploy --wait` waits for that before it returns, so that
// the next deploy to the alias is not refused as busy.
func (s *Store) LockHolder(ctx context.Context, aliasArn string) (string, error) {
	item, err := s.get(ctx, "read lock of alias "+aliasArn, aliasPrefix+aliasArn, lockSK)
	if errors.Is(err, controller.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var holder lockItem
	if err := unmarshal(item, &holder); err != nil {
		return "", err
	}
	return holder.RolloutID, nil
}
