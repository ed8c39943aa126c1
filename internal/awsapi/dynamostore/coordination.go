package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// A conditional write that loses to a record which is gone by the time it is read (a lock
// released, a claim expired) is tried again, a few times.
const raceAttempts = 3

// claimItem is the UPLOAD#<uploadId> DEDUPE item. expiresAt (epoch seconds) is the table's
// TTL attribute; a claim without one never expires.
type claimItem struct {
	UploadID  string `dynamodbav:"uploadId"`
	RolloutID string `dynamodbav:"rolloutId"`
	Execution string `dynamodbav:"execution"`
	ExpiresAt int64  `dynamodbav:"expiresAt,omitempty"`
}

// ClaimUpload records an upload. If it was seen before, it returns the existing claim and
// ErrConflict. A claim past its expiresAt counts as absent: DynamoDB's TTL deletes items
// up to days late.
func (s *Store) ClaimUpload(ctx context.Context, c controller.UploadClaim) (controller.UploadClaim, error) {
	op := "claim upload " + c.UploadID
	ci := claimItem{UploadID: c.UploadID, RolloutID: c.RolloutID, Execution: c.Execution}
	if !c.ExpiresAt.IsZero() {
		ci.ExpiresAt = c.ExpiresAt.Unix()
	}
	item, err := marshal(ci, uploadPrefix+c.UploadID, dedupeSK)
	if err != nil {
		return controller.UploadClaim{}, err
	}
	for range raceAttempts {
		err := s.put(ctx, op, item, "attribute_not_exists(#pk) OR #exp < :now",
			map[string]string{"#pk": topology.AttrPK, "#exp": topology.AttrTTL},
			map[string]types.AttributeValue{":now": num(s.now().Unix())})
		if !isConflict(err) {
			if err != nil {
				return controller.UploadClaim{}, err
			}
			return c, nil
		}
		existing, err := s.claim(ctx, op, c.UploadID)
		if errors.Is(err, controller.ErrNotFound) {
			continue
		}
		if err != nil {
			return controller.UploadClaim{}, err
		}
		return existing, fmt.Errorf("%s: claimed by rollout %s: %w", op, existing.RolloutID, controller.ErrConflict)
	}
	return controller.UploadClaim{}, fmt.Errorf("%s: the claim kept changing: %w", op, controller.ErrConflict)
}

func (s *Store) claim(ctx context.Context, op, uploadID string) (controller.UploadClaim, error) {
	item, err := s.get(ctx, op, uploadPrefix+uploadID, dedupeSK)
	if err != nil {
		return controller.UploadClaim{}, err
	}
	var ci claimItem
	if err := unmarshal(item, &ci); err != nil {
		return controller.UploadClaim{}, err
	}
	c := controller.UploadClaim{UploadID: ci.UploadID, RolloutID: ci.RolloutID, Execution: ci.Execution}
	if ci.ExpiresAt != 0 {
		c.ExpiresAt = time.Unix(ci.ExpiresAt, 0).UTC()
	}
	return c, nil
}

// lockItem is the ALIAS#<aliasArn> LOCK item.
type lockItem struct {
	AliasArn   string    `dynamodbav:"aliasArn"`
	RolloutID  string    `dynamodbav:"rolloutId"`
	AcquiredAt time.Time `dynamodbav:"acquiredAt"`
}

// AcquireLock makes rolloutID the alias's one active rollout and returns it. When another
// rollout holds the lock it returns that holder and ErrConflict; acquiring a lock one
// already holds is fine, and answers acquired=false: the put is conditional on no lock
// at all, so that the caller can tell a lock it took from one it found (see
// controller.Locks). The lock item is never rewritten by its holder.
func (s *Store) AcquireLock(ctx context.Context, aliasArn, rolloutID string) (string, bool, error) {
	op := fmt.Sprintf("lock alias %s for rollout %s", aliasArn, rolloutID)
	item, err := marshal(lockItem{AliasArn: aliasArn, RolloutID: rolloutID, AcquiredAt: s.now().UTC()}, aliasPrefix+aliasArn, lockSK)
	if err != nil {
		return "", false, err
	}
	for range raceAttempts {
		err := s.put(ctx, op, item, "attribute_not_exists(#pk)", map[string]string{"#pk": topology.AttrPK}, nil)
		if !isConflict(err) {
			if err != nil {
				return "", false, err
			}
			return rolloutID, true, nil
		}
		held, err := s.get(ctx, op, aliasPrefix+aliasArn, lockSK)
		if errors.Is(err, controller.ErrNotFound) {
			continue // released in between
		}
		if err != nil {
			return "", false, err
		}
		var holder lockItem
		if err := unmarshal(held, &holder); err != nil {
			return "", false, err
		}
		if holder.RolloutID == rolloutID {
			return rolloutID, false, nil
		}
		return holder.RolloutID, false, fmt.Errorf("%s: held by rollout %s: %w", op, holder.RolloutID, controller.ErrConflict)
	}
	return "", false, fmt.Errorf("%s: the lock kept changing: %w", op, controller.ErrConflict)
}

// ReleaseLock deletes the lock if rolloutID holds it; otherwise it does nothing.
func (s *Store) ReleaseLock(ctx context.Context, aliasArn, rolloutID string) error {
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(aliasPrefix+aliasArn, lockSK),
		ConditionExpression:       aws.String("#rollout = :id"),
		ExpressionAttributeNames:  map[string]string{"#rollout": attrRolloutID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": str(rolloutID)},
	})
	err = s.classify(fmt.Sprintf("unlock alias %s for rollout %s", aliasArn, rolloutID), err)
	if isConflict(err) {
		return nil // held by another rollout, or by none
	}
	return err
}

// queueItem is an ALIAS#<aliasArn> QUEUE#<queuedAt>#<rolloutId> item.
type queueItem struct {
	AliasArn  string    `dynamodbav:"aliasArn"`
	RolloutID string    `dynamodbav:"rolloutId"`
	TaskToken string    `dynamodbav:"taskToken"`
	QueuedAt  time.Time `dynamodbav:"queuedAt"`
}

func queueSK(q controller.Queued) string {
	return queuePrefix + sortKeyTime(q.QueuedAt) + "#" + q.RolloutID
}

// Enqueue puts a rollout in the alias's queue; enqueuing the same entry twice keeps one.
func (s *Store) Enqueue(ctx context.Context, q controller.Queued) error {
	item, err := marshal(queueItem(q), aliasPrefix+q.AliasArn, queueSK(q))
	if err != nil {
		return err
	}
	return s.put(ctx, fmt.Sprintf("enqueue rollout %s on alias %s", q.RolloutID, q.AliasArn), item, "", nil, nil)
}

// Queue returns the rollouts waiting for the alias, oldest first, each once.
func (s *Store) Queue(ctx context.Context, aliasArn string) ([]controller.Queued, error) {
	items, err := s.queryPrefix(ctx, "read queue of alias "+aliasArn, aliasPrefix+aliasArn, queuePrefix)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var queue []controller.Queued
	for _, item := range items {
		var qi queueItem
		if err := unmarshal(item, &qi); err != nil {
			return nil, err
		}
		if seen[qi.RolloutID] {
			continue // enqueued again by a retry with another time
		}
		seen[qi.RolloutID] = true
		queue = append(queue, controller.Queued(qi))
	}
	return queue, nil
}

// Dequeue removes every queue entry of rolloutID from the alias's queue.
func (s *Store) Dequeue(ctx context.Context, aliasArn, rolloutID string) error {
	op := fmt.Sprintf("dequeue rollout %s from alias %s", rolloutID, aliasArn)
	items, err := s.queryPrefix(ctx, op, aliasPrefix+aliasArn, queuePrefix)
	if err != nil {
		return err
	}
	for _, item := range items {
		var qi queueItem
		if err := unmarshal(item, &qi); err != nil {
			return err
		}
		if qi.RolloutID != rolloutID {
			continue
		}
		sk, _ := item[topology.AttrSK].(*types.AttributeValueMemberS)
		if sk == nil {
			return fmt.Errorf("%s: queue item without a sort key", op)
		}
		if err := s.delete(ctx, op, aliasPrefix+aliasArn, sk.Value); err != nil {
			return err
		}
	}
	return nil
}

// guardItem is the ALARM#<name> ROLLOUT#<id> item: the alarm guards the rollout.
type guardItem struct {
	Alarm     string `dynamodbav:"alarm"`
	RolloutID string `dynamodbav:"rolloutId"`
}

// GuardAlarms records that each alarm guards the rollout.
func (s *Store) GuardAlarms(ctx context.Context, rolloutID string, alarms []string) error {
	for _, alarm := range alarms {
		item, err := marshal(guardItem{Alarm: alarm, RolloutID: rolloutID}, alarmPrefix+alarm, rolloutPrefix+rolloutID)
		if err != nil {
			return err
		}
		if err := s.put(ctx, fmt.Sprintf("guard rollout %s by alarm %s", rolloutID, alarm), item, "", nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// UnguardAlarms removes those records; absent ones are not an error.
func (s *Store) UnguardAlarms(ctx context.Context, rolloutID string, alarms []string) error {
	for _, alarm := range alarms {
		if err := s.delete(ctx, fmt.Sprintf("unguard rollout %s by alarm %s", rolloutID, alarm), alarmPrefix+alarm, rolloutPrefix+rolloutID); err != nil {
			return err
		}
	}
	return nil
}

// GuardedBy returns the ids of the rollouts the alarm guards.
func (s *Store) GuardedBy(ctx context.Context, alarm string) ([]string, error) {
	items, err := s.queryPrefix(ctx, "rollouts guarded by alarm "+alarm, alarmPrefix+alarm, rolloutPrefix)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(items))
	for _, item := range items {
		var g guardItem
		if err := unmarshal(item, &g); err != nil {
			return nil, err
		}
		ids = append(ids, g.RolloutID)
	}
	return ids, nil
}
