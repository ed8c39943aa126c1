package cloudwatch

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

func post(t *testing.T, e *env, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

var form = map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

// awsQuery, as the AWS CLI v1 of old and older SDKs speak it: form requests, XML answers.
func TestAwsQuery(t *testing.T) {
	e := newEnv(t)
	b := base(e)
	ts := b.Add(10 * time.Second).Format(time.RFC3339)
	tests := []struct {
		name       string
		body       url.Values
		wantStatus int
		wantParts  []string
	}{
		{
			name: "put metric data",
			body: url.Values{"Action": {"PutMetricData"}, "Version": {"2010-08-01"}, "Namespace": {"App"},
				"MetricData.member.1.MetricName": {"Errors"}, "MetricData.member.1.Value": {"4"}, "MetricData.member.1.Timestamp": {ts},
				"MetricData.member.1.Dimensions.member.1.Name": {"Alias"}, "MetricData.member.1.Dimensions.member.1.Value": {"prod"}},
			wantStatus: 200, wantParts: []string{`<PutMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><ResponseMetadata><RequestId>`},
		},
		{
			name: "put metric alarm",
			body: url.Values{"Action": {"PutMetricAlarm"}, "Version": {"2010-08-01"}, "AlarmName": {"q"}, "Namespace": {"App"}, "MetricName": {"Errors"},
				"Statistic": {"Sum"}, "Period": {"60"}, "EvaluationPeriods": {"1"}, "Threshold": {"1"}, "ComparisonOperator": {"GreaterThanThreshold"},
				"Dimensions.member.1.Name": {"Alias"}, "Dimensions.member.1.Value": {"prod"}, "AlarmActions.member.1": {"arn:aws:sns:us-east-1:000000000000:ops"}},
			wantStatus: 200, wantParts: []string{"<PutMetricAlarmResponse"},
		},
		{
			name:       "describe alarms",
			body:       url.Values{"Action": {"DescribeAlarms"}, "Version": {"2010-08-01"}, "AlarmNames.member.1": {"q"}, "AlarmNames.member.2": {"nope"}},
			wantStatus: 200,
			wantParts: []string{
				"<DescribeAlarmsResult><MetricAlarms><member><AlarmName>q</AlarmName><AlarmArn>arn:aws:cloudwatch:us-east-1:000000000000:alarm:q</AlarmArn>",
				"<AlarmActions><member>arn:aws:sns:us-east-1:000000000000:ops</member></AlarmActions>",
				"<StateValue>INSUFFICIENT_DATA</StateValue>", "<Dimensions><member><Name>Alias</Name><Value>prod</Value></member></Dimensions>",
				"<Period>60</Period>", "</MetricAlarms><CompositeAlarms/></DescribeAlarmsResult>",
			},
		},
		{
			name: "get metric data",
			body: url.Values{"Action": {"GetMetricData"}, "Version": {"2010-08-01"},
				"StartTime": {b.Format(time.RFC3339)}, "EndTime": {b.Add(time.Minute).Format(time.RFC3339)},
				"MetricDataQueries.member.1.Id":                                          {"m1"},
				"MetricDataQueries.member.1.MetricStat.Metric.Namespace":                 {"App"},
				"MetricDataQueries.member.1.MetricStat.Metric.MetricName":                {"Errors"},
				"MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name":  {"Alias"},
				"MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Value": {"prod"},
				"MetricDataQueries.member.1.MetricStat.Period":                           {"60"},
				"MetricDataQueries.member.1.MetricStat.Stat":                             {"Sum"},
				"MetricDataQueries.member.2.Id":                                          {"e1"},
				"MetricDataQueries.member.2.Expression":                                  {"m1 * 2"},
			},
			wantStatus: 200,
			wantParts: []string{
				"<member><Id>m1</Id><Label>Errors</Label><Timestamps><member>" + b.Format("2006-01-02T15:04:05.000Z") + "</member></Timestamps><Values><member>4</member></Values><StatusCode>Complete</StatusCode></member>",
				"<member><Id>e1</Id><Label>e1</Label>", "<Values><member>8</member></Values>",
			},
		},
		{
			name:       "set alarm state",
			body:       url.Values{"Action": {"SetAlarmState"}, "Version": {"2010-08-01"}, "AlarmName": {"q"}, "StateValue": {"ALARM"}, "StateReason": {"by hand"}},
			wantStatus: 200, wantParts: []string{"<SetAlarmStateResponse"},
		},
		{
			name:       "error",
			body:       url.Values{"Action": {"SetAlarmState"}, "Version": {"2010-08-01"}, "AlarmName": {"q"}, "StateValue": {"BAD"}, "StateReason": {"x"}},
			wantStatus: 400,
			wantParts: []string{`<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type><Code>ValidationError</Code>` +
				`<Message>1 validation error detected: Value &#39;BAD&#39; at &#39;stateValue&#39; failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]</Message></Error><RequestId>`},
		},
		{
			name:       "missing alarm",
			body:       url.Values{"Action": {"SetAlarmState"}, "Version": {"2010-08-01"}, "AlarmName": {"nope"}, "StateValue": {"OK"}, "StateReason": {"x"}},
			wantStatus: 404, wantParts: []string{"<Error><Type>Sender</Type><Code>ResourceNotFound</Code></Error>"},
		},
		{
			name:       "delete alarms",
			body:       url.Values{"Action": {"DeleteAlarms"}, "Version": {"2010-08-01"}, "AlarmNames.member.1": {"q"}},
			wantStatus: 200, wantParts: []string{"<DeleteAlarmsResponse"},
		},
		{
			name:       "operation local mode does not serve",
			body:       url.Values{"Action": {"PutDashboard"}, "Version": {"2010-08-01"}},
			wantStatus: 400, wantParts: []string{"<Code>UnknownOperationException</Code><Message>sfn-rollout local does not support CloudWatch PutDashboard</Message>"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, e, tc.body.Encode(), form)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			var doc struct{ XMLName xml.Name }
			if err := xml.Unmarshal(body, &doc); err != nil {
				t.Fatalf("not XML: %v: %s", err, body)
			}
			for _, part := range tc.wantParts {
				if !bytes.Contains(body, []byte(part)) {
					t.Errorf("answer lacks %s:\n%s", part, body)
				}
			}
		})
	}
}

// awsJson1_0, as the AWS CLI v1 1.45 speaks it (X-Amz-Target GraniteServiceVersion20100801.*).
func TestAwsJSON(t *testing.T) {
	e := newEnv(t)
	json10 := func(op string) map[string]string {
		return map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "GraniteServiceVersion20100801." + op, "X-Amzn-Query-Mode": "true"}
	}
	resp, body := post(t, e, `{"AlarmName":"j","Namespace":"App","MetricName":"Errors","Statistic":"Sum","Period":60,"EvaluationPeriods":1,"Threshold":1.5,"ComparisonOperator":"GreaterThanThreshold"}`, json10("PutMetricAlarm"))
	if resp.StatusCode != 200 {
		t.Fatalf("PutMetricAlarm: %d %s", resp.StatusCode, body)
	}
	resp, body = post(t, e, `{"AlarmNames":["j"]}`, json10("DescribeAlarms"))
	var out struct {
		MetricAlarms []struct {
			AlarmName             string
			Threshold             float64
			StateUpdatedTimestamp float64
		}
		CompositeAlarms []any
	}
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("DescribeAlarms: %d %v %s", resp.StatusCode, err, body)
	}
	if len(out.MetricAlarms) != 1 || out.MetricAlarms[0].Threshold != 1.5 || out.MetricAlarms[0].StateUpdatedTimestamp < 1e9 || out.CompositeAlarms == nil {
		t.Errorf("DescribeAlarms answer %s", body)
	}
	resp, body = post(t, e, `{"AlarmName":"j","Namespace":"App","MetricName":"Errors","Statistic":"Sum","Period":45,"EvaluationPeriods":1,"Threshold":1,"ComparisonOperator":"GreaterThanThreshold"}`, json10("PutMetricAlarm"))
	var e1 map[string]string
	_ = json.Unmarshal(body, &e1)
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-Query-Error") != "ValidationError;Sender" ||
		e1["__type"] != "com.amazonaws.cloudwatch#ValidationException" || e1["message"] != "Period must be 10, 30 or a multiple of 60" {
		t.Errorf("error %d %q %s", resp.StatusCode, resp.Header.Get("X-Amzn-Query-Error"), body)
	}
}

// The RPC v2 CBOR error carries what the Smithy deserializer reads: __type and message in
// a CBOR map, the smithy-protocol header, and (CloudWatch being awsQueryCompatible) the
// awsQuery code in X-Amzn-Query-Error.
func TestCBORError(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, e.url+cborPrefix+"SetAlarmState", bytes.NewReader(mustCBOR(t, map[string]string{"AlarmName": "nope", "StateValue": "OK", "StateReason": "x"})))
	req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
	req.Header.Set("Content-Type", "application/cbor")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	raw, _ := io.ReadAll(resp.Body)
	if err := cbor.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 404 || resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || resp.Header.Get("X-Amzn-Query-Error") != "ResourceNotFound;Sender" ||
		body["__type"] != "com.amazonaws.cloudwatch#ResourceNotFound" || resp.Header.Get("Content-Type") != "application/cbor" {
		t.Errorf("status %d headers %v body %v", resp.StatusCode, resp.Header, body)
	}
}

func mustCBOR(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
