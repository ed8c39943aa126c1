package e2e_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sfn-rollout/sfn-rollout/internal/budget"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// The controller's Step Functions calls draw from the write budget kept in the rollout
// table: after a rollout, the alias updates' and the publish's buckets are there, and hold
// less than full at the virtual time of the last take.
func TestRolloutDrawsFromTheSharedBudget(t *testing.T) {
	env, log := shared(t)
	start := env.Stack.Clock.Now()
	m := newMachine(t, env, log, "budget")
	id := m.upload("v2", release(t, "budget"), map[string]string{"strategy": "LINEAR", "percentage": "50", "interval": "1m"})
	if r := m.finalized(id); r.Phase != rollout.Succeeded {
		t.Fatalf("rollout ended %s: %s", r.Phase, r.Reason)
	}
	ddb := dynamodb.NewFromConfig(env.Deployment.AWS)
	for _, api := range []budget.API{budget.UpdateStateMachineAlias, budget.UpdateStateMachine, budget.ListTagsForResource} {
		out, err := ddb.GetItem(context.Background(), &dynamodb.GetItemInput{
			TableName: aws.String(env.Deployment.Table),
			Key: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "BUDGET#" + string(api)},
				"sk": &types.AttributeValueMemberS{Value: "STATE"},
			},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		n, ok := out.Item["emptyAt"].(*types.AttributeValueMemberN)
		if !ok {
			t.Errorf("%s: no budget item after a rollout: %v", api, out.Item)
			continue
		}
		ns, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		// A take during the rollout left the bucket one token below full or lower, and no
		// rollback drove it into debt.
		bucket := budget.Quotas[api]
		full := start.Add(-time.Duration(float64(bucket.Burst) / bucket.Refill * float64(time.Second)))
		if emptyAt, now := time.Unix(0, ns), env.Stack.Clock.Now(); !emptyAt.After(full) || emptyAt.After(now) {
			t.Errorf("%s: emptyAt %s, want after %s (full when the test began) and before the virtual now %s", api, emptyAt, full, now)
		}
	}
}
