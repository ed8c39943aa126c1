package sfnapi_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/sfnapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

const (
	smArn    = "arn:aws:states:us-east-1:123456789012:stateMachine:orders"
	aliasArn = smArn + ":prod"
	v3       = smArn + ":3"
	v4       = smArn + ":4"
)

var throttled = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}

// fakeSFN records every request and answers with its Fn fields; an unset Fn answers an
// empty output.
type fakeSFN struct {
	calls []any

	DescribeStateMachineFn      func(*sfn.DescribeStateMachineInput) (*sfn.DescribeStateMachineOutput, error)
	ListTagsForResourceFn       func(*sfn.ListTagsForResourceInput) (*sfn.ListTagsForResourceOutput, error)
	ValidateFn                  func(*sfn.ValidateStateMachineDefinitionInput) (*sfn.ValidateStateMachineDefinitionOutput, error)
	UpdateStateMachineFn        func(*sfn.UpdateStateMachineInput) (*sfn.UpdateStateMachineOutput, error)
	ListStateMachineVersionsFn  func(*sfn.ListStateMachineVersionsInput) (*sfn.ListStateMachineVersionsOutput, error)
	DeleteStateMachineVersionFn func(*sfn.DeleteStateMachineVersionInput) error
	DescribeAliasFn             func(*sfn.DescribeStateMachineAliasInput) (*sfn.DescribeStateMachineAliasOutput, error)
	UpdateAliasFn               func(*sfn.UpdateStateMachineAliasInput) error
	CreateAliasFn               func(*sfn.CreateStateMachineAliasInput) (*sfn.CreateStateMachineAliasOutput, error)
	DeleteAliasFn               func(*sfn.DeleteStateMachineAliasInput) error
	ListAliasesFn               func(*sfn.ListStateMachineAliasesInput) (*sfn.ListStateMachineAliasesOutput, error)
	SendTaskSuccessFn           func(*sfn.SendTaskSuccessInput) error
	SendTaskFailureFn           func(*sfn.SendTaskFailureInput) error
}

func answer[In, Out any](f *fakeSFN, in *In, fn func(*In) (*Out, error)) (*Out, error) {
	copied := *in
	f.calls = append(f.calls, &copied)
	if fn == nil {
		return new(Out), nil
	}
	return fn(in)
}

func answerErr[In, Out any](f *fakeSFN, in *In, fn func(*In) error) (*Out, error) {
	copied := *in
	f.calls = append(f.calls, &copied)
	if fn == nil {
		return new(Out), nil
	}
	return new(Out), fn(in)
}

func (f *fakeSFN) DescribeStateMachine(_ context.Context, in *sfn.DescribeStateMachineInput, _ ...func(*sfn.Options)) (*sfn.DescribeStateMachineOutput, error) {
	return answer(f, in, f.DescribeStateMachineFn)
}

func (f *fakeSFN) ListTagsForResource(_ context.Context, in *sfn.ListTagsForResourceInput, _ ...func(*sfn.Options)) (*sfn.ListTagsForResourceOutput, error) {
	return answer(f, in, f.ListTagsForResourceFn)
}

func (f *fakeSFN) ValidateStateMachineDefinition(_ context.Context, in *sfn.ValidateStateMachineDefinitionInput, _ ...func(*sfn.Options)) (*sfn.ValidateStateMachineDefinitionOutput, error) {
	return answer(f, in, f.ValidateFn)
}

func (f *fakeSFN) UpdateStateMachine(_ context.Context, in *sfn.UpdateStateMachineInput, _ ...func(*sfn.Options)) (*sfn.UpdateStateMachineOutput, error) {
	return answer(f, in, f.UpdateStateMachineFn)
}

func (f *fakeSFN) ListStateMachineVersions(_ context.Context, in *sfn.ListStateMachineVersionsInput, _ ...func(*sfn.Options)) (*sfn.ListStateMachineVersionsOutput, error) {
	return answer(f, in, f.ListStateMachineVersionsFn)
}

func (f *fakeSFN) DeleteStateMachineVersion(_ context.Context, in *sfn.DeleteStateMachineVersionInput, _ ...func(*sfn.Options)) (*sfn.DeleteStateMachineVersionOutput, error) {
	return answerErr[sfn.DeleteStateMachineVersionInput, sfn.DeleteStateMachineVersionOutput](f, in, f.DeleteStateMachineVersionFn)
}

func (f *fakeSFN) DescribeStateMachineAlias(_ context.Context, in *sfn.DescribeStateMachineAliasInput, _ ...func(*sfn.Options)) (*sfn.DescribeStateMachineAliasOutput, error) {
	return answer(f, in, f.DescribeAliasFn)
}

func (f *fakeSFN) UpdateStateMachineAlias(_ context.Context, in *sfn.UpdateStateMachineAliasInput, _ ...func(*sfn.Options)) (*sfn.UpdateStateMachineAliasOutput, error) {
	return answerErr[sfn.UpdateStateMachineAliasInput, sfn.UpdateStateMachineAliasOutput](f, in, f.UpdateAliasFn)
}

func (f *fakeSFN) CreateStateMachineAlias(_ context.Context, in *sfn.CreateStateMachineAliasInput, _ ...func(*sfn.Options)) (*sfn.CreateStateMachineAliasOutput, error) {
	return answer(f, in, f.CreateAliasFn)
}

func (f *fakeSFN) DeleteStateMachineAlias(_ context.Context, in *sfn.DeleteStateMachineAliasInput, _ ...func(*sfn.Options)) (*sfn.DeleteStateMachineAliasOutput, error) {
	return answerErr[sfn.DeleteStateMachineAliasInput, sfn.DeleteStateMachineAliasOutput](f, in, f.DeleteAliasFn)
}

func (f *fakeSFN) ListStateMachineAliases(_ context.Context, in *sfn.ListStateMachineAliasesInput, _ ...func(*sfn.Options)) (*sfn.ListStateMachineAliasesOutput, error) {
	return answer(f, in, f.ListAliasesFn)
}

func (f *fakeSFN) SendTaskSuccess(_ context.Context, in *sfn.SendTaskSuccessInput, _ ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	return answerErr[sfn.SendTaskSuccessInput, sfn.SendTaskSuccessOutput](f, in, f.SendTaskSuccessFn)
}

func (f *fakeSFN) SendTaskFailure(_ context.Context, in *sfn.SendTaskFailureInput, _ ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	return answerErr[sfn.SendTaskFailureInput, sfn.SendTaskFailureOutput](f, in, f.SendTaskFailureFn)
}

// callsOf returns the recorded requests of one type.
func callsOf[T any](f *fakeSFN) []*T {
	var out []*T
	for _, c := range f.calls {
		if in, ok := c.(*T); ok {
			out = append(out, in)
		}
	}
	return out
}

func TestPublish(t *testing.T) {
	tests := []struct {
		name        string
		description string
		answer      func(*sfn.UpdateStateMachineInput) (*sfn.UpdateStateMachineOutput, error)
		wantArn     string
		wantErr     error
		wantInvalid bool
		wantDesc    *string
	}{
		{
			name:        "new version",
			description: "upload orders/prod/a.asl.json",
			answer: func(*sfn.UpdateStateMachineInput) (*sfn.UpdateStateMachineOutput, error) {
				return &sfn.UpdateStateMachineOutput{StateMachineVersionArn: aws.String(v4)}, nil
			},
			wantArn:  v4,
			wantDesc: aws.String("upload orders/prod/a.asl.json"),
		},
		{
			name:        "long description is cut to 256 characters",
			description: strings.Repeat("é", 300),
			answer: func(*sfn.UpdateStateMachineInput) (*sfn.UpdateStateMachineOutput, error) {
				return &sfn.UpdateStateMachineOutput{StateMachineVersionArn: aws.String(v4)}, nil
			},
			wantArn:  v4,
			wantDesc: aws.String(strings.Repeat("é", 256)),
		},
		{
			name: "no description",
			answer: func(*sfn.UpdateStateMachineInput) (*sfn.UpdateStateMachineOutput, error) {
				return &sfn.UpdateStateMachineOutput{StateMachineVersionArn: aws.String(v4)}, nil
			},
			wantArn: v4,
		},
		{
			name: "invalid definition",
			answer: func(*sfn.UpdateStateMachineInput) (*sfn.UpdateStateMachineOutput, error) {
				return nil, &types.InvalidDefinition{Message: aws.String("Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET'")}
			},
			wantInvalid: true,
		},
		{
			name: "state machine does not exist",
			answer: func(*sfn.UpdateStateMachineInput) (*sfn.UpdateStateMachineOutput, error) {
				return nil, &types.StateMachineDoesNotExist{Message: aws.String("gone")}
			},
			wantErr: controller.ErrNotFound,
		},
		{
			name: "throttled",
			answer: func(*sfn.UpdateStateMachineInput) (*sfn.UpdateStateMachineOutput, error) {
				return nil, throttled
			},
			wantErr: controller.ErrThrottled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSFN{UpdateStateMachineFn: tt.answer}
			arn, err := sfnapi.NewStateMachines(fake).Publish(context.Background(), smArn, `{"StartAt":"a"}`, tt.description)
			in := callsOf[sfn.UpdateStateMachineInput](fake)[0]
			if !in.Publish || aws.ToString(in.StateMachineArn) != smArn || aws.ToString(in.Definition) != `{"StartAt":"a"}` {
				t.Errorf("request %+v", in)
			}
			if !reflect.DeepEqual(in.VersionDescription, tt.wantDesc) {
				t.Errorf("versionDescription %q, want %q", aws.ToString(in.VersionDescription), aws.ToString(tt.wantDesc))
			}
			if arn != tt.wantArn {
				t.Errorf("arn %q, want %q", arn, tt.wantArn)
			}
			switch {
			case tt.wantInvalid:
				if !sfnapi.IsInvalidDefinition(err) || !errors.Is(err, controller.ErrInvalidDefinition) || errors.Is(err, controller.ErrNotFound) {
					t.Errorf("err %v, want an invalid definition", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("err %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("err %v", err)
			}
		})
	}
}

func TestValidateKeepsErrorsOnly(t *testing.T) {
	fake := &fakeSFN{ValidateFn: func(*sfn.ValidateStateMachineDefinitionInput) (*sfn.ValidateStateMachineDefinitionOutput, error) {
		return &sfn.ValidateStateMachineDefinitionOutput{
			Result: types.ValidateStateMachineDefinitionResultCodeFail,
			Diagnostics: []types.ValidateStateMachineDefinitionDiagnostic{
				{Severity: types.ValidateStateMachineDefinitionSeverityWarning, Code: aws.String("W"), Message: aws.String("warning")},
				{Severity: types.ValidateStateMachineDefinitionSeverityError, Code: aws.String("SCHEMA_VALIDATION_FAILED"), Message: aws.String("bad"), Location: aws.String("/States/a")},
			},
		}, nil
	}}
	diags, err := sfnapi.NewStateMachines(fake).Validate(context.Background(), "{}", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []controller.Diagnostic{{Severity: "ERROR", Code: "SCHEMA_VALIDATION_FAILED", Message: "bad", Location: "/States/a"}}
	if !reflect.DeepEqual(diags, want) {
		t.Errorf("diagnostics %+v, want %+v", diags, want)
	}
	in := callsOf[sfn.ValidateStateMachineDefinitionInput](fake)[0]
	if in.Type != types.StateMachineTypeStandard || in.Severity != types.ValidateStateMachineDefinitionSeverityError {
		t.Errorf("type %q severity %q", in.Type, in.Severity)
	}
	// An Express state machine's definition is validated as EXPRESS: no .sync, no callbacks.
	if _, err := sfnapi.NewStateMachines(fake).Validate(context.Background(), "{}", "EXPRESS"); err != nil {
		t.Fatal(err)
	}
	if in := callsOf[sfn.ValidateStateMachineDefinitionInput](fake)[1]; in.Type != types.StateMachineTypeExpress {
		t.Errorf("type %q, want EXPRESS", in.Type)
	}
}

func TestDescribeAndTags(t *testing.T) {
	fake := &fakeSFN{
		DescribeStateMachineFn: func(*sfn.DescribeStateMachineInput) (*sfn.DescribeStateMachineOutput, error) {
			return &sfn.DescribeStateMachineOutput{Name: aws.String("orders"), Definition: aws.String("{}"), RevisionId: aws.String("rev-1"), RoleArn: aws.String("role")}, nil
		},
		ListTagsForResourceFn: func(*sfn.ListTagsForResourceInput) (*sfn.ListTagsForResourceOutput, error) {
			return &sfn.ListTagsForResourceOutput{Tags: []types.Tag{{Key: aws.String("rollout:managed"), Value: aws.String("true")}, {Key: aws.String("rollout:alarms"), Value: aws.String("a b")}}}, nil
		},
	}
	machines := sfnapi.NewStateMachines(fake)
	sm, err := machines.Describe(context.Background(), v3)
	want := controller.StateMachine{Arn: v3, Name: "orders", Definition: "{}", RevisionID: "rev-1", RoleArn: "role"}
	if err != nil || sm != want {
		t.Errorf("Describe = %+v, %v; want %+v", sm, err, want)
	}
	tags, err := machines.Tags(context.Background(), smArn)
	if err != nil || !reflect.DeepEqual(tags, map[string]string{"rollout:managed": "true", "rollout:alarms": "a b"}) {
		t.Errorf("Tags = %v, %v", tags, err)
	}
}

func TestDescribeMissingIsNotFound(t *testing.T) {
	fake := &fakeSFN{DescribeStateMachineFn: func(*sfn.DescribeStateMachineInput) (*sfn.DescribeStateMachineOutput, error) {
		return nil, &types.StateMachineDoesNotExist{Message: aws.String("no")}
	}}
	_, err := sfnapi.NewStateMachines(fake).Describe(context.Background(), smArn)
	var sdkErr *types.StateMachineDoesNotExist
	if !errors.Is(err, controller.ErrNotFound) || !errors.As(err, &sdkErr) {
		t.Errorf("err %v, want ErrNotFound with the SDK error kept", err)
	}
}

func TestListVersionsPaginates(t *testing.T) {
	created := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	fake := &fakeSFN{ListStateMachineVersionsFn: func(in *sfn.ListStateMachineVersionsInput) (*sfn.ListStateMachineVersionsOutput, error) {
		if in.NextToken == nil {
			return &sfn.ListStateMachineVersionsOutput{
				StateMachineVersions: []types.StateMachineVersionListItem{{StateMachineVersionArn: aws.String(v4), CreationDate: aws.Time(created.Add(time.Hour))}},
				NextToken:            aws.String("page2"),
			}, nil
		}
		return &sfn.ListStateMachineVersionsOutput{
			StateMachineVersions: []types.StateMachineVersionListItem{{StateMachineVersionArn: aws.String(v3), CreationDate: aws.Time(created)}},
		}, nil
	}}
	versions, err := sfnapi.NewStateMachines(fake).ListVersions(context.Background(), smArn)
	want := []controller.Version{{Arn: v4, Created: created.Add(time.Hour)}, {Arn: v3, Created: created}}
	if err != nil || !reflect.DeepEqual(versions, want) {
		t.Errorf("ListVersions = %+v, %v; want %+v", versions, err, want)
	}
	if calls := callsOf[sfn.ListStateMachineVersionsInput](fake); len(calls) != 2 || aws.ToString(calls[1].NextToken) != "page2" {
		t.Errorf("requests %+v", calls)
	}
}

func TestDeleteVersion(t *testing.T) {
	tests := []struct {
		name    string
		answer  error
		wantErr error
	}{
		{name: "deleted", answer: nil},
		{name: "unknown version", answer: &types.ResourceNotFound{Message: aws.String("no")}},
		{name: "still referenced by an alias", answer: &types.ConflictException{Message: aws.String("Version to be deleted must not be referenced by an alias.")}, wantErr: controller.ErrConflict},
		{name: "throttled", answer: throttled, wantErr: controller.ErrThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSFN{DeleteStateMachineVersionFn: func(*sfn.DeleteStateMachineVersionInput) error { return tt.answer }}
			err := sfnapi.NewStateMachines(fake).DeleteVersion(context.Background(), v3)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestAliasUpdateSendsAbsoluteWeightsWithoutZeros(t *testing.T) {
	tests := []struct {
		name    string
		routing []rollout.Route
		want    []types.RoutingConfigurationListItem
		wantErr bool
	}{
		{
			name:    "split",
			routing: []rollout.Route{{VersionArn: v3, Weight: 80}, {VersionArn: v4, Weight: 20}},
			want:    []types.RoutingConfigurationListItem{{StateMachineVersionArn: aws.String(v3), Weight: 80}, {StateMachineVersionArn: aws.String(v4), Weight: 20}},
		},
		{
			name:    "all on stable drops the candidate",
			routing: []rollout.Route{{VersionArn: v3, Weight: 100}, {VersionArn: v4, Weight: 0}},
			want:    []types.RoutingConfigurationListItem{{StateMachineVersionArn: aws.String(v3), Weight: 100}},
		},
		{
			name:    "all on candidate drops the stable",
			routing: []rollout.Route{{VersionArn: v3, Weight: 0}, {VersionArn: v4, Weight: 100}},
			want:    []types.RoutingConfigurationListItem{{StateMachineVersionArn: aws.String(v4), Weight: 100}},
		},
		{
			name:    "nothing routed",
			routing: []rollout.Route{{VersionArn: v3, Weight: 0}},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSFN{}
			err := sfnapi.NewAliases(fake).Update(context.Background(), aliasArn, tt.routing)
			calls := callsOf[sfn.UpdateStateMachineAliasInput](fake)
			if tt.wantErr {
				if err == nil || len(calls) != 0 {
					t.Errorf("err %v after %d calls, want an error and no call", err, len(calls))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(calls[0].StateMachineAliasArn) != aliasArn || !reflect.DeepEqual(calls[0].RoutingConfiguration, tt.want) {
				t.Errorf("request %+v", calls[0])
			}
			for _, item := range calls[0].RoutingConfiguration {
				if item.Weight == 0 {
					t.Errorf("a zero-weight entry was sent: %+v", item)
				}
			}
		})
	}
}

func TestAliasErrors(t *testing.T) {
	tests := []struct {
		name    string
		answer  error
		wantErr error
	}{
		{name: "missing alias", answer: &types.ResourceNotFound{Message: aws.String("Request references a resource that does not exist.")}, wantErr: controller.ErrNotFound},
		{name: "throttled", answer: throttled, wantErr: controller.ErrThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSFN{UpdateAliasFn: func(*sfn.UpdateStateMachineAliasInput) error { return tt.answer }}
			err := sfnapi.NewAliases(fake).Update(context.Background(), aliasArn, []rollout.Route{{VersionArn: v3, Weight: 100}})
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestAliasCreate(t *testing.T) {
	routing := []rollout.Route{{VersionArn: v3, Weight: 100}, {VersionArn: v4, Weight: 0}}
	tests := []struct {
		name    string
		create  error
		wantErr error
	}{
		{name: "created, or an identical replay", create: nil},
		// Create never falls back to an update: an alias it did not create stays as it is.
		{name: "exists with another routing or description", create: &types.ConflictException{Message: aws.String("Failed to create alias because an alias with the same name and a different routing configuration already exists.")}, wantErr: controller.ErrConflict},
		{name: "throttled", create: throttled, wantErr: controller.ErrThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSFN{CreateAliasFn: func(*sfn.CreateStateMachineAliasInput) (*sfn.CreateStateMachineAliasOutput, error) {
				if tt.create != nil {
					return nil, tt.create
				}
				return &sfn.CreateStateMachineAliasOutput{StateMachineAliasArn: aws.String(aliasArn)}, nil
			}}
			arn, err := sfnapi.NewAliases(fake).Create(context.Background(), smArn, "prod", "test alias of r-1", routing)
			if n := len(callsOf[sfn.UpdateStateMachineAliasInput](fake)); n != 0 {
				t.Errorf("Create made %d alias updates", n)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || arn != aliasArn {
				t.Fatalf("Create = %q, %v", arn, err)
			}
			create := callsOf[sfn.CreateStateMachineAliasInput](fake)[0]
			if aws.ToString(create.Name) != "prod" || aws.ToString(create.Description) != "test alias of r-1" || len(create.RoutingConfiguration) != 1 {
				t.Errorf("create request %+v", create)
			}
		})
	}
}

func TestAliasListDescribesEach(t *testing.T) {
	beta := smArn + ":beta"
	gone := smArn + ":gone"
	fake := &fakeSFN{
		ListAliasesFn: func(in *sfn.ListStateMachineAliasesInput) (*sfn.ListStateMachineAliasesOutput, error) {
			if in.NextToken == nil {
				return &sfn.ListStateMachineAliasesOutput{StateMachineAliases: []types.StateMachineAliasListItem{{StateMachineAliasArn: aws.String(aliasArn)}, {StateMachineAliasArn: aws.String(gone)}}, NextToken: aws.String("p2")}, nil
			}
			return &sfn.ListStateMachineAliasesOutput{StateMachineAliases: []types.StateMachineAliasListItem{{StateMachineAliasArn: aws.String(beta)}}}, nil
		},
		DescribeAliasFn: func(in *sfn.DescribeStateMachineAliasInput) (*sfn.DescribeStateMachineAliasOutput, error) {
			arn := aws.ToString(in.StateMachineAliasArn)
			if arn == gone {
				return nil, &types.ResourceNotFound{Message: aws.String("deleted meanwhile")}
			}
			return &sfn.DescribeStateMachineAliasOutput{
				Name:                 aws.String(arn[strings.LastIndexByte(arn, ':')+1:]),
				RoutingConfiguration: []types.RoutingConfigurationListItem{{StateMachineVersionArn: aws.String(v3), Weight: 100}},
			}, nil
		},
	}
	aliases, err := sfnapi.NewAliases(fake).List(context.Background(), smArn)
	route := []rollout.Route{{VersionArn: v3, Weight: 100}}
	want := []controller.Alias{{Arn: aliasArn, Name: "prod", Routing: route}, {Arn: beta, Name: "beta", Routing: route}}
	if err != nil || !reflect.DeepEqual(aliases, want) {
		t.Errorf("List = %+v, %v; want %+v", aliases, err, want)
	}
}

func TestAliasDeleteMissingIsFine(t *testing.T) {
	fake := &fakeSFN{DeleteAliasFn: func(*sfn.DeleteStateMachineAliasInput) error {
		return &types.ResourceNotFound{Message: aws.String("no")}
	}}
	if err := sfnapi.NewAliases(fake).Delete(context.Background(), aliasArn); err != nil {
		t.Errorf("Delete = %v", err)
	}
}

func TestTaskSucceed(t *testing.T) {
	tests := []struct {
		name, output, want string
	}{
		{name: "output kept", output: `{"phase":"Succeeded"}`, want: `{"phase":"Succeeded"}`},
		{name: "empty output is an empty object", output: "", want: "{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSFN{}
			if err := sfnapi.NewTasks(fake).Succeed(context.Background(), "tok", tt.output); err != nil {
				t.Fatal(err)
			}
			in := callsOf[sfn.SendTaskSuccessInput](fake)[0]
			if aws.ToString(in.TaskToken) != "tok" || aws.ToString(in.Output) != tt.want {
				t.Errorf("request %+v", in)
			}
		})
	}
}

func TestTaskFailTruncates(t *testing.T) {
	fake := &fakeSFN{}
	name := strings.Repeat("E", 300)
	cause := strings.Repeat("ü", 40000)
	if err := sfnapi.NewTasks(fake).Fail(context.Background(), "tok", name, cause); err != nil {
		t.Fatal(err)
	}
	in := callsOf[sfn.SendTaskFailureInput](fake)[0]
	if got := utf8.RuneCountInString(aws.ToString(in.Error)); got != 256 {
		t.Errorf("error name of %d characters, want 256", got)
	}
	if got := aws.ToString(in.Cause); utf8.RuneCountInString(got) != 32768 || !utf8.ValidString(got) {
		t.Errorf("cause of %d characters (valid UTF-8: %v), want 32768", utf8.RuneCountInString(got), utf8.ValidString(got))
	}
}

func TestTaskTokenErrors(t *testing.T) {
	tests := []struct {
		name    string
		answer  error
		wantErr error
	}{
		{name: "timed out", answer: &types.TaskTimedOut{Message: aws.String("Task Timed Out")}, wantErr: controller.ErrNotFound},
		{name: "invalid token", answer: &types.InvalidToken{Message: aws.String("Invalid Token")}, wantErr: controller.ErrNotFound},
		{name: "task does not exist", answer: &types.TaskDoesNotExist{Message: aws.String("no")}, wantErr: controller.ErrNotFound},
		{name: "throttled", answer: throttled, wantErr: controller.ErrThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSFN{
				SendTaskSuccessFn: func(*sfn.SendTaskSuccessInput) error { return tt.answer },
				SendTaskFailureFn: func(*sfn.SendTaskFailureInput) error { return tt.answer },
			}
			tasks := sfnapi.NewTasks(fake)
			if err := tasks.Succeed(context.Background(), "tok", "{}"); !errors.Is(err, tt.wantErr) {
				t.Errorf("Succeed err %v, want %v", err, tt.wantErr)
			}
			if err := tasks.Fail(context.Background(), "tok", "RolledBack", "alarm"); !errors.Is(err, tt.wantErr) {
				t.Errorf("Fail err %v, want %v", err, tt.wantErr)
			}
		})
	}
}
