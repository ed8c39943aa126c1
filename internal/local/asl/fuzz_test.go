package asl

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func FuzzValidate(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `[]`, `{"StartAt":`, controllerLike,
		`{"StartAt":"pass1","States":{"pass1":{"Type":"Pass","Next":"pass3"},"pass2":{"Type":"Pass","End":true}}}`,
		`{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Not":{"Variable":"$.a","StringMatches":"a*\\*"},"Next":"C"}],"Default":"C"}}}`,
		`{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.Format('{}', $.a[0])"},"End":true}}}],"End":true}}}`,
		`{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"A","States":{"A":{"Type":"Wait","TimestampPath":"$$.x","End":true}}},"End":true}}}`,
		`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Retry":[{"ErrorEquals":["States.ALL"],"BackoffRate":1e308}],"End":true}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		diags := Validate(data)
		def, err := Parse(data)
		if (err == nil) != (def != nil) {
			t.Fatalf("Parse: def %v err %v", def, err)
		}
		hasError := false
		for _, d := range diags {
			if d.Severity == SeverityError {
				hasError = true
			}
			if d.Code == "" || d.Message == "" {
				t.Fatalf("empty diagnostic %+v", d)
			}
		}
		if hasError == (err == nil) {
			t.Fatalf("Validate errors %v but Parse error %v", hasError, err)
		}
		_ = FormatInvalid(diags)
		if def == nil {
			return
		}
		// A definition that parses must run without panicking. The runtime answers at once
		// and sleeps are cut short, so that loops end by the deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		done := make(chan bool)
		go func() {
			_, _ = def.Run(ctx, json.RawMessage(`{"a":[1,{"b":"x"}],"n":1}`), testContext, instantRuntime{}, nil)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not stop when its context ended")
		}
	})
}

// instantRuntime answers every call at once; its Sleep returns at once unless ctx is done,
// but for a wait of a day or more (the execution's one-year limit), which never ends before
// ctx does: in an instant runtime no time passes, and the execution's own timer must not
// fire before its states have run.
type instantRuntime struct{}

func (instantRuntime) Now() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }
func (instantRuntime) Sleep(ctx context.Context, d time.Duration) error {
	if d >= 24*time.Hour {
		<-ctx.Done()
	}
	return ctx.Err()
}
func (instantRuntime) Rand() *rand.Rand     { return rand.New(rand.NewPCG(1, 1)) }
func (instantRuntime) NewTaskToken() string { return "token" }
func (instantRuntime) Invoke(ctx context.Context, call TaskCall) (json.RawMessage, error) {
	return call.Input, ctx.Err()
}

func FuzzIntrinsic(f *testing.F) {
	for _, seed := range []string{
		`States.Format('Hello, {}!', $.s)`,
		`States.Format('\{\} {} it\'s', $.a)`,
		`States.Array(1, 'two', $.a[0], States.ArrayLength($.arr), true, null)`,
		`States.ArrayRange(1, 9, 2)`,
		`States.ArrayPartition($.arr, 2)`,
		`States.JsonMerge($.o, $.o, false)`,
		`States.Hash($.s, 'SHA-256')`,
		`States.MathRandom(1, 100, 5)`,
		`States.StringSplit('a,b', ',')`,
		`States.UUID()`,
		`States.Base64Decode(States.Base64Encode($.s))`,
		`States.StringToJson(States.JsonToString($))`,
		`States.ArrayGetItem($['arr'], -1)`,
		`States.Format(`,
		`States.`,
	} {
		f.Add(seed)
	}
	input, _ := decodeValue([]byte(`{"s":"x","a":[1],"arr":[1,2,3],"o":{"k":1}}`))
	rnd := rand.New(rand.NewPCG(1, 1))
	f.Fuzz(func(t *testing.T, expr string) {
		call, err := parseIntrinsic(expr)
		if err != nil {
			if _, ok := err.(*intrinsicError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		env := &evalEnv{input: input, context: func() any { return map[string]any{} }, field: "x.$", rand: func(fn func(*rand.Rand)) { fn(rnd) }}
		v, fail := call.eval(env)
		if fail != nil {
			if fail.Name != ErrIntrinsicFailure && fail.Name != ErrRuntime {
				t.Fatalf("failure %v", fail)
			}
			return
		}
		_ = encode(v)
	})
}

func FuzzJSONPath(f *testing.F) {
	for _, seed := range []string{"$", "$$.Execution.Id", "$.a.b[0]", "$['a b'][*].c", "$.a[1:3]", "$..x", "$.a[?(@)]", "$.a[-1]", "$.a[?(@.b > 1 && (@.c == 'x' || @['d'][0] != null))]", "$.a[?(@.b =~ /x/)]"} {
		f.Add(seed)
	}
	root, _ := decodeValue([]byte(`{"a":{"b":[1,{"c":2}]},"a b":[{"c":1}]}`))
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePath(s)
		if err != nil {
			return
		}
		_, _ = p.get(root)
		if p.reference() && !p.context {
			_, _ = p.set(root, "v")
		}
		if !strings.HasPrefix(s, "$") {
			t.Fatalf("accepted %q", s)
		}
	})
}
