package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sfn-rollout/sfn-rollout/internal/cli"
)

// Step Functions does not list Express executions: versions counts them from the
// version's AWS/States metrics, and deploy refuses what an Express state machine cannot run.
func TestExpressVersionsAndDeploy(t *testing.T) {
	smExpress := fresh("cli-express")
	e := localEnv(t)
	ctx := context.Background()
	m, err := e.CreateManagedOfType(ctx, smExpress, "prod", example(t, "orders-v1.asl.json"), sfntypes.StateMachineTypeExpress, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, input := range []string{`{"orderId":"o-1","items":[{"sku":"a","qty":1}]}`, `{"orderId":"o-2","items":[{"sku":"b","qty":2}]}`, `{"orderId":"o-3"}`} {
		out, err := e.SFN.StartSyncExecution(ctx, &sfn.StartSyncExecutionInput{StateMachineArn: aws.String(m.AliasArn), Input: aws.String(input)})
		if err != nil {
			t.Fatal(err)
		}
		want[string(out.Status)]++
	}
	if want["SUCCEEDED"] != 2 || want["FAILED"] != 1 {
		t.Fatalf("executions ended %v, want 2 SUCCEEDED and the one without items FAILED", want)
	}

	views := decode[[]cli.VersionView](t, ok(t, "versions", smExpress, "-o", "json"))
	if len(views) != 1 || views[0].Source != cli.SourceMetrics {
		t.Fatalf("versions %+v, want v1 counted from metrics", views)
	}
	for status, n := range want {
		if views[0].Executions[status] != n {
			t.Errorf("v1 %s = %d, want %d (executions %v)", status, views[0].Executions[status], n, views[0].Executions)
		}
	}

	bad := filepath.Join(t.TempDir(), "callback.asl.json")
	def := `{"StartAt":"Ask","States":{"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",` +
		`"Parameters":{"FunctionName":"approver","Payload":{"token.$":"$$.Task.Token"}},"End":true}}}`
	if err := os.WriteFile(bad, []byte(def), 0o644); err != nil {
		t.Fatal(err)
	}
	fails(t, 2, "Express state machine does not support '.waitForTaskToken' service integration", "deploy", smExpress, "--file", bad)
}
