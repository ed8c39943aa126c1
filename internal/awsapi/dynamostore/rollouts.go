package dynamostore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// rolloutItem is the ROLLOUT#<id> META item: the record under its JSON names, the task
// token (which the record's JSON leaves out), and the index keys. activePk/activeSk are
// written only while the rollout runs, so the active index holds running rollouts only.
func rolloutItem(r rollout.Rollout) (map[string]types.AttributeValue, error) {
	item, err := marshal(r, rolloutPrefix+r.ID, metaSK)
	if err != nil {
		return nil, err
	}
	if r.TaskToken != "" {
		item[attrTaskToken] = str(r.TaskToken)
	}
	order := sortKeyTime(r.CreatedAt) + "#" + r.ID
	item[topology.AttrHistoryPK] = str(historyPrefix + r.StateMachineArn)
	item[topology.AttrHistorySK] = str(order)
	if r.Running() {
		// In the index until settled: the sweep still looks at an ended rollout whose
		// Finalize has not run yet.
		item[topology.AttrActivePK] = str(topology.ActiveValue)
		item[topology.AttrActiveSK] = str(order)
	}
	return item, nil
}

func decodeRollout(item map[string]types.AttributeValue) (rollout.Rollout, error) {
	var r rollout.Rollout
	if err := unmarshal(item, &r); err != nil {
		return rollout.Rollout{}, err
	}
	if token, ok := item[attrTaskToken].(*types.AttributeValueMemberS); ok {
		r.TaskToken = token.Value
	}
	return r, nil
}

func decodeRollouts(items []map[string]types.AttributeValue) ([]rollout.Rollout, error) {
	out := make([]rollout.Rollout, 0, len(items))
	for _, item := range items {
		r, err := decodeRollout(item)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// CreateRollout writes a new record; ErrConflict if the id exists.
func (s *Store) CreateRollout(ctx context.Context, r rollout.Rollout) error {
	item, err := rolloutItem(r)
	if err != nil {
		return err
	}
	return s.put(ctx, "create rollout "+r.ID, item, "attribute_not_exists(#pk)",
		map[string]string{"#pk": topology.AttrPK}, nil)
}

// GetRollout reads a record; ErrNotFound if absent.
func (s *Store) GetRollout(ctx context.Context, id string) (rollout.Rollout, error) {
	item, err := s.get(ctx, "get rollout "+id, rolloutPrefix+id, metaSK)
	if err != nil {
		return rollout.Rollout{}, err
	}
	return decodeRollout(item)
}

// SaveRollout writes r with rev r.Rev+1 if the stored rev is still r.Rev, and returns what
// it wrote; ErrConflict when another writer came first (or the record is gone).
func (s *Store) SaveRollout(ctx context.Context, r rollout.Rollout) (rollout.Rollout, error) {
	next := r
	next.Rev = r.Rev + 1
	item, err := rolloutItem(next)
	if err != nil {
		return rollout.Rollout{}, err
	}
	err = s.put(ctx, fmt.Sprintf("save rollout %s rev %d", r.ID, r.Rev), item, "#rev = :expected",
		map[string]string{"#rev": attrRev},
		map[string]types.AttributeValue{":expected": num(r.Rev)})
	if err != nil {
		return rollout.Rollout{}, err
	}
	return next, nil
}

// ListActive returns every rollout that has not ended, oldest first (the sparse index).
func (s *Store) ListActive(ctx context.Context) ([]rollout.Rollout, error) {
	running, err := s.ListRunning(ctx)
	if err != nil {
		return nil, err
	}
	active := running[:0]
	for _, r := range running {
		if !r.Phase.Terminal() {
			active = append(active, r)
		}
	}
	return active, nil
}

// ListRunning returns every rollout the sweep looks at, oldest first (the sparse index):
// those that have not ended, and those that ended and are not settled yet.
func (s *Store) ListRunning(ctx context.Context) ([]rollout.Rollout, error) {
	items, err := s.query(ctx, "list running rollouts", &dynamodb.QueryInput{
		IndexName:                 aws.String(topology.ActiveIndex),
		KeyConditionExpression:    aws.String("#pk = :active"),
		ExpressionAttributeNames:  map[string]string{"#pk": topology.AttrActivePK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":active": str(topology.ActiveValue)},
	}, 0)
	if err != nil {
		return nil, err
	}
	return decodeRollouts(items)
}

// History returns a state machine's rollouts, newest first; all of them when limit ≤ 0.
func (s *Store) History(ctx context.Context, stateMachineArn string, limit int) ([]rollout.Rollout, error) {
	items, err := s.query(ctx, "rollout history of "+stateMachineArn, &dynamodb.QueryInput{
		IndexName:                 aws.String(topology.HistoryIndex),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": topology.AttrHistoryPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(historyPrefix + stateMachineArn)},
		ScanIndexForward:          aws.Bool(false),
	}, limit)
	if err != nil {
		return nil, err
	}
	return decodeRollouts(items)
}

// AppendEvent adds to the audit trail under EVENT#<seq, 12 digits>; writing the same Seq
// twice keeps one entry (the last write).
func (s *Store) AppendEvent(ctx context.Context, rolloutID string, e controller.Event) error {
	item, err := marshal(e, rolloutPrefix+rolloutID, eventSK(e.Seq))
	if err != nil {
		return err
	}
	return s.put(ctx, fmt.Sprintf("append event %d of rollout %s", e.Seq, rolloutID), item, "", nil, nil)
}

func eventSK(seq int64) string { return fmt.Sprintf("%s%012d", eventPrefix, seq) }

// ListEvents returns the audit trail in Seq order.
func (s *Store) ListEvents(ctx context.Context, rolloutID string) ([]controller.Event, error) {
	items, err := s.queryPrefix(ctx, "list events of rollout "+rolloutID, rolloutPrefix+rolloutID, eventPrefix)
	if err != nil {
		return nil, err
	}
	events := make([]controller.Event, 0, len(items))
	for _, item := range items {
		var e controller.Event
		if err := unmarshal(item, &e); err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}
