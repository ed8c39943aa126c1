package core

import (
	"encoding/json"
	"testing"
	"time"
)

func TestFaultLatencyJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{name: "duration string", in: `{"service":"states","operation":"*","latency":"200ms"}`, want: 200 * time.Millisecond},
		{name: "nanoseconds, as Fault marshals it", in: `{"service":"states","operation":"*","latency":1500000000}`, want: 1500 * time.Millisecond},
		{name: "absent", in: `{"service":"states","operation":"*","code":"ThrottlingException","rate":1}`},
		{name: "null", in: `{"service":"states","operation":"*","latency":null}`},
		{name: "not a duration", in: `{"latency":"soon"}`, wantErr: true},
		{name: "negative", in: `{"latency":"-1s"}`, wantErr: true},
		{name: "a fraction of a nanosecond", in: `{"latency":1.5}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Fault
			err := json.Unmarshal([]byte(tt.in), &f)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && f.Latency != tt.want {
				t.Errorf("latency %s, want %s", f.Latency, tt.want)
			}
		})
	}
}

func TestFaultRoundTrip(t *testing.T) {
	in := Fault{Service: "dynamodb", Operation: "PutItem", Code: "InternalServerError", Message: "boom", Status: 500, Rate: 0.25, Latency: 30 * time.Millisecond, Remaining: 2}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Fault
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("round trip of %s: %+v, want %+v", b, out, in)
	}
}
