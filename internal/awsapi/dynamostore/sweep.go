package dynamostore

import (
	"context"
	"errors"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
)

// The SWEEP/WANTED item: when a rollout last asked for the sweep's schedule.
const (
	sweepPK  = "SWEEP"
	wantedSK = "WANTED"
)

type wantedItem struct {
	At time.Time `json:"at"`
}

// WantSweep records that a rollout needs the sweep's schedule, at at. The write is
// unconditional: the newest Register wins, and any Register newer than an idle sweep's
// first read of the mark is what that sweep must see.
func (s *Store) WantSweep(ctx context.Context, at time.Time) error {
	item, err := marshal(wantedItem{At: at.UTC()}, sweepPK, wantedSK)
	if err != nil {
		return err
	}
	return s.put(ctx, "mark the sweep wanted", item, "", nil, nil)
}

// SweepWanted reads the mark WantSweep wrote, strongly consistent; zero when none.
func (s *Store) SweepWanted(ctx context.Context) (time.Time, error) {
	item, err := s.get(ctx, "read the sweep mark", sweepPK, wantedSK)
	if errors.Is(err, controller.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	var w wantedItem
	if err := unmarshal(item, &w); err != nil {
		return time.Time{}, err
	}
	return w.At, nil
}
