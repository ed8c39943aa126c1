package eventbridge

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebsdk "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/sfn-rollout/sfn-rollout/internal/local/core"
)

// FuzzPattern compiles any pattern and matches it against any event: neither may panic,
// and a pattern that compiles must match deterministically.
func FuzzPattern(f *testing.F) {
	seeds := []struct{ pattern, event string }{
		{`{"source":["aws.s3"],"detail":{"object":{"key":[{"suffix":".asl.json"}]}}}`, baseEvent(`{"object":{"key":"a/b/c.asl.json"}}`)},
		{`{"detail":{"n":[{"numeric":[">",0,"<=",5]}],"s":[{"anything-but":{"prefix":"x"}}]}}`, baseEvent(`{"n":[1,"2",null],"s":[{"a":1}]}`)},
		{`{"$or":[{"a":[{"exists":false}]},{"b":[{"wildcard":"*a*b\\*"}]}]}`, `{"b":"xaab*"}`},
		{`{"detail":{"ip":[{"cidr":"10.0.0.0/8"}],"c":[{"equals-ignore-case":"X"},null,true,1e400]}}`, baseEvent(`{"ip":"10.1.2.3"}`)},
		{`{"a":{"b":{"c":[{"anything-but":[1,2]}]}}}`, `{"a":[[{"b":{"c":[3,[4]]}}]]}`},
		{`[`, `]`},
	}
	for _, s := range seeds {
		f.Add(s.pattern, s.event)
	}
	f.Fuzz(func(t *testing.T, pattern, event string) {
		p, err := CompilePattern(pattern)
		if err != nil {
			if _, ok := err.(*PatternError); !ok {
				t.Fatalf("CompilePattern error %T is not a *PatternError", err)
			}
			return
		}
		first := p.MatchesJSON([]byte(event))
		if second := p.MatchesJSON([]byte(event)); first != second {
			t.Fatalf("pattern %q on %q matched %v then %v", pattern, event, first, second)
		}
	})
}

// BenchmarkPutEvents puts one event per call, through the SDK client, to a bus holding
// 100 rules of the controller's kinds; one rule matches and delivers to a Lambda function.
func BenchmarkPutEvents(b *testing.B) {
	f := newFixture(b)
	go func() { // drain the fake's deliveries
		for range f.functions.calls {
		}
	}()
	for i := range 100 {
		var pattern string
		switch i % 4 {
		case 0:
			pattern = fmt.Sprintf(`{"source":["aws.s3"],"detail-type":["Object Created"],"detail":{"bucket":{"name":["bucket-%d"]},"object":{"key":[{"suffix":".asl.json"}]}}}`, i)
		case 1:
			pattern = fmt.Sprintf(`{"source":["aws.cloudwatch"],"detail":{"alarmName":["alarm-%d"],"state":{"value":["ALARM"]}}}`, i)
		case 2:
			pattern = fmt.Sprintf(`{"source":["app-%d"],"detail":{"n":[{"numeric":[">",%d]}]}}`, i, i)
		default:
			pattern = fmt.Sprintf(`{"source":[{"prefix":"svc-%d"}],"detail":{"s":[{"anything-but":["a","b"]}]}}`, i)
		}
		mustPutRule(b, f, fmt.Sprintf("rule-%03d", i), pattern)
		mustPutTargets(b, f, fmt.Sprintf("rule-%03d", i), types.Target{Id: aws.String("t"), Arn: aws.String(fnArn)})
	}
	in := &ebsdk.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		Source: aws.String("aws.s3"), DetailType: aws.String("Object Created"),
		Detail: aws.String(`{"bucket":{"name":"bucket-40"},"object":{"key":"orders/prod/x.asl.json","size":10}}`),
	}}}
	ctx := context.Background()
	// PutEvents refuses aws.* sources, so the S3 event goes in as the S3 service emits it.
	s3Event := core.Event{Source: "aws.s3", DetailType: "Object Created", Detail: json.RawMessage(*in.Entries[0].Detail)}
	b.Run("Emit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := f.svc.Emit(ctx, s3Event); err != nil {
				b.Fatal(err)
			}
		}
	})
	in.Entries[0].Source = aws.String("app-2")
	in.Entries[0].Detail = aws.String(`{"n":10}`)
	b.Run("PutEvents", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := f.client.PutEvents(ctx, in)
			if err != nil || out.FailedEntryCount != 0 {
				b.Fatal(out, err)
			}
		}
	})
}
