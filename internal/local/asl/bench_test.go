package asl

import (
	"context"
	"encoding/json"
	"testing"
)

// tenStates touches each kind of work a state does: payload templates, intrinsics, paths,
// choice rules, tasks with ResultSelector and Retry, a Parallel and a Map.
const tenStates = `{
  "StartAt": "Init",
  "States": {
    "Init": {"Type": "Pass", "Parameters": {"order.$": "$", "id.$": "$$.Execution.Id", "n.$": "States.ArrayLength($.items)"}, "Next": "Price"},
    "Price": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:price", "InputPath": "$.order", "ResultPath": "$.price",
      "Retry": [{"ErrorEquals": ["Transient"]}], "Next": "Check"},
    "Check": {"Type": "Choice", "Choices": [
      {"And": [{"Variable": "$.n", "NumericGreaterThan": 0}, {"Variable": "$.order.customer", "StringMatches": "cust-*"}], "Next": "Tag"}
    ], "Default": "Reject"},
    "Tag": {"Type": "Pass", "Result": {"tag": "ok"}, "ResultPath": "$.tag", "Next": "Both"},
    "Both": {"Type": "Parallel", "ResultPath": "$.both", "Next": "Items", "Branches": [
      {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "Parameters": {"h.$": "States.Hash($.order.customer, 'SHA-256')"}, "End": true}}},
      {"StartAt": "B2", "States": {"B2": {"Type": "Pass", "Parameters": {"f.$": "States.Format('{} items', $.n)"}, "End": true}}}
    ]},
    "Items": {"Type": "Map", "ItemsPath": "$.order.items", "ItemSelector": {"sku.$": "$$.Map.Item.Value.sku", "i.$": "$$.Map.Item.Index"},
      "ItemProcessor": {"StartAt": "Line", "States": {"Line": {"Type": "Pass", "End": true}}}, "ResultPath": "$.lines", "Next": "Ship"},
    "Ship": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "ship", "Payload.$": "$.lines"},
      "ResultSelector": {"count.$": "States.ArrayLength($.Payload)"}, "ResultPath": "$.shipped", "Next": "Merge"},
    "Merge": {"Type": "Pass", "Parameters": {"out.$": "States.JsonMerge($.price, $.shipped, false)"}, "ResultPath": "$.merged", "Next": "Done"},
    "Done": {"Type": "Succeed", "OutputPath": "$.merged"},
    "Reject": {"Type": "Fail", "Error": "Rejected"}
  }
}`

func BenchmarkRun10States(b *testing.B) {
	d := mustParse(b, tenStates)
	input := json.RawMessage(`{"customer":"cust-42","items":[{"sku":"a"},{"sku":"b"},{"sku":"c"}]}`)
	rt := instantRuntime{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, f := d.Run(ctx, input, testContext, rt, func(HistoryEvent) {}); f != nil {
			b.Fatal(f)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse([]byte(controllerLike)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTenStatesRuns(t *testing.T) {
	bubble(t, func(t *testing.T) {
		r := execute(t, tenStates, `{"customer":"cust-42","items":[{"sku":"a"},{"sku":"b"}]}`, newFake(nil))
		checkOutput(t, r, `{"out":{"customer":"cust-42","items":[{"sku":"a"},{"sku":"b"}],"count":2}}`)
	})
}
