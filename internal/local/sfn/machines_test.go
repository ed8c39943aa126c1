package sfn

import (
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

const orders = "arn:aws:states:us-east-1:000000000000:stateMachine:orders"

func TestCreateStateMachine(t *testing.T) {
	long := strings.Repeat("n", 81)
	tests := []struct {
		name     string
		in       awssfn.CreateStateMachineInput
		wantCode string
		wantMsg  string
	}{
		{
			name:     "name longer than 80",
			in:       awssfn.CreateStateMachineInput{Name: aws.String(long), Definition: aws.String(passDef), RoleArn: aws.String(testRole)},
			wantCode: "ValidationException",
			wantMsg:  "1 validation error detected: Value '" + long + "' at 'name' failed to satisfy constraint: Member must have length less than or equal to 80",
		},
		{
			name:     "name with a space",
			in:       awssfn.CreateStateMachineInput{Name: aws.String("my orders"), Definition: aws.String(passDef), RoleArn: aws.String(testRole)},
			wantCode: "InvalidName",
			wantMsg:  "Invalid Name: 'my orders'",
		},
		{
			name:     "name with a colon",
			in:       awssfn.CreateStateMachineInput{Name: aws.String("a:b"), Definition: aws.String(passDef), RoleArn: aws.String(testRole)},
			wantCode: "InvalidName",
			wantMsg:  "Invalid Name: 'a:b'",
		},
		{
			name:     "definition that is not JSON",
			in:       awssfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String("{"), RoleArn: aws.String(testRole)},
			wantCode: "InvalidDefinition",
		},
		{
			name:     "definition with a missing Next target",
			in:       awssfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String(`{"StartAt":"pass1","States":{"pass1":{"Type":"Pass","Next":"pass3"}}}`), RoleArn: aws.String(testRole)},
			wantCode: "InvalidDefinition",
		},
		{
			name:     "EXPRESS with .waitForTaskToken",
			in:       awssfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String(callbackDef), RoleArn: aws.String(testRole), Type: sfntypes.StateMachineTypeExpress},
			wantCode: "InvalidDefinition",
			wantMsg:  "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Express state machine does not support '.waitForTaskToken' service integration at /States/Wait/Resource'",
		},
		{
			name:     "EXPRESS with startExecution.sync:2 inside a Parallel branch",
			in:       awssfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String(nestedSyncDef), RoleArn: aws.String(testRole), Type: sfntypes.StateMachineTypeExpress},
			wantCode: "InvalidDefinition",
			wantMsg:  "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Express state machine does not support '.sync' service integration at /States/Both/Branches/1/States/Child/Resource'",
		},
		{
			name: "logging level without a destination",
			in: awssfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String(passDef), RoleArn: aws.String(testRole), Type: sfntypes.StateMachineTypeExpress,
				LoggingConfiguration: &sfntypes.LoggingConfiguration{Level: sfntypes.LogLevelAll}},
			wantCode: "InvalidLoggingConfiguration",
			wantMsg:  "Invalid Logging Configuration: Must specify exactly one Log Destination.",
		},
		{
			name: "two log destinations",
			in: awssfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String(passDef), RoleArn: aws.String(testRole),
				LoggingConfiguration: &sfntypes.LoggingConfiguration{Level: sfntypes.LogLevelError, Destinations: []sfntypes.LogDestination{logDestination, logDestination}}},
			wantCode: "InvalidLoggingConfiguration",
			wantMsg:  "Invalid Logging Configuration: Must specify exactly one Log Destination.",
		},
		{
			name:     "versionDescription without publish",
			in:       awssfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String(passDef), RoleArn: aws.String(testRole), VersionDescription: aws.String("v1")},
			wantCode: "ValidationException",
			wantMsg:  "Version description can only be set when publish is true",
		},
		{
			name:     "role that is not an ARN",
			in:       awssfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String(passDef), RoleArn: aws.String("sfn-role")},
			wantCode: "InvalidArn",
			wantMsg:  "Invalid Arn: 'Invalid ARN prefix: sfn-role'",
		},
		{
			name: "tag value with a comma",
			in: awssfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String(passDef), RoleArn: aws.String(testRole),
				Tags: []sfntypes.Tag{{Key: aws.String("alarms"), Value: aws.String("a,b")}}},
			wantCode: "ValidationException",
			wantMsg:  `1 validation error detected: Value 'a,b' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`,
		},
	}
	h := newHarness(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.client.CreateStateMachine(ctx(), &tt.in)
			wantAPIError(t, err, tt.wantCode, tt.wantMsg)
		})
	}
}

func TestCreateStateMachineInvalidDefinitionMessage(t *testing.T) {
	h := newHarness(t)
	def := `{"StartAt":"pass1","States":{"pass1":{"Type":"Pass","Next":"pass3"}}}`
	_, err := h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String(def), RoleArn: aws.String(testRole)})
	want, bad := checkDefinition(def)
	if !bad {
		t.Fatal("the ASL package accepts a missing Next target")
	}
	wantAPIError(t, err, "InvalidDefinition", want)
	if !strings.HasPrefix(want, "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: pass3 at /States/pass1/Next") {
		t.Errorf("message %q", want)
	}
}

func TestCreateStateMachineIdempotency(t *testing.T) {
	h := newHarness(t)
	first := must[*awssfn.CreateStateMachineOutput](t)(h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{
		Name: aws.String("orders"), Definition: aws.String(passDef), RoleArn: aws.String(testRole),
	}))
	if *first.StateMachineArn != orders {
		t.Fatalf("arn %s", *first.StateMachineArn)
	}
	tests := []struct {
		name       string
		definition string
		role       string
		wantErr    bool
	}{
		{name: "same definition and role", definition: passDef, role: testRole},
		{name: "another definition", definition: passDefN(1), role: testRole, wantErr: true},
		{name: "another role", definition: passDef, role: testRole + "2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{
				Name: aws.String("orders"), Definition: aws.String(tt.definition), RoleArn: aws.String(tt.role),
			})
			if tt.wantErr {
				wantAPIError(t, err, "StateMachineAlreadyExists", "State Machine Already Exists: '"+orders+"'")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *out.StateMachineArn != orders || !out.CreationDate.Equal(*first.CreationDate) {
				t.Errorf("replay answered %s %v, want %s %v", *out.StateMachineArn, out.CreationDate, orders, first.CreationDate)
			}
		})
	}
}

func TestDescribeStateMachine(t *testing.T) {
	h := newHarness(t)
	created := must[*awssfn.CreateStateMachineOutput](t)(h.client.CreateStateMachine(ctx(), &awssfn.CreateStateMachineInput{
		Name: aws.String("orders"), Definition: aws.String(passDefN(1)), RoleArn: aws.String(testRole),
		Publish: true, VersionDescription: aws.String("first"),
	}))
	update := must[*awssfn.UpdateStateMachineOutput](t)(h.client.UpdateStateMachine(ctx(), &awssfn.UpdateStateMachineInput{
		StateMachineArn: aws.String(orders), Definition: aws.String(passDefN(2)),
	}))
	tests := []struct {
		name           string
		arn            string
		wantArn        string
		wantDefinition string
		wantRevision   string
		wantDesc       string
		wantCode       string
	}{
		{name: "plain ARN: the latest revision", arn: orders, wantArn: orders, wantDefinition: passDefN(2), wantRevision: *update.RevisionId},
		{name: "version ARN: that version", arn: orders + ":1", wantArn: orders + ":1", wantDefinition: passDefN(1), wantDesc: "first"},
		{name: "missing state machine", arn: orders + "x", wantCode: "StateMachineDoesNotExist"},
		{name: "missing version", arn: orders + ":7", wantCode: "StateMachineDoesNotExist"},
		{name: "not an ARN", arn: "orders", wantCode: "InvalidArn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := h.client.DescribeStateMachine(ctx(), &awssfn.DescribeStateMachineInput{StateMachineArn: aws.String(tt.arn)})
			if tt.wantCode != "" {
				msg := ""
				if tt.wantCode == "StateMachineDoesNotExist" {
					msg = "State Machine Does Not Exist: '" + tt.arn + "'"
				}
				wantAPIError(t, err, tt.wantCode, msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *out.StateMachineArn != tt.wantArn || *out.Definition != tt.wantDefinition || aws.ToString(out.RevisionId) != tt.wantRevision ||
				aws.ToString(out.Description) != tt.wantDesc || *out.Name != "orders" || out.Type != sfntypes.StateMachineTypeStandard ||
				out.Status != sfntypes.StateMachineStatusActive || *out.RoleArn != testRole || out.LoggingConfiguration.Level != sfntypes.LogLevelOff {
				t.Errorf("got %+v", out)
			}
		})
	}
	if created.CreationDate == nil || created.StateMachineVersionArn == nil {
		t.Errorf("create answered %+v", created)
	}
}

func TestRevisions(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", passDefN(1))
	describe := func() *awssfn.DescribeStateMachineOutput {
		return must[*awssfn.DescribeStateMachineOutput](t)(h.client.DescribeStateMachine(ctx(), &awssfn.DescribeStateMachineInput{StateMachineArn: aws.String(orders)}))
	}
	if r := describe().RevisionId; r != nil {
		t.Fatalf("a new state machine has revisionId %s", *r)
	}
	var lastRevision string
	tests := []struct {
		name         string
		in           awssfn.UpdateStateMachineInput
		wantRevision bool   // a new UUID revisionId
		wantVersion  string // the stateMachineVersionArn answered, "" for none
		wantCode     string
		wantMsg      string
	}{
		{name: "a change makes a revision", in: awssfn.UpdateStateMachineInput{Definition: aws.String(passDefN(2))}, wantRevision: true},
		{name: "no change makes none", in: awssfn.UpdateStateMachineInput{Definition: aws.String(passDefN(2))}},
		{name: "the same role is no change", in: awssfn.UpdateStateMachineInput{RoleArn: aws.String(testRole)}},
		{name: "another role is a change", in: awssfn.UpdateStateMachineInput{RoleArn: aws.String(testRole + "2")}, wantRevision: true},
		{name: "publish without change publishes the current revision", in: awssfn.UpdateStateMachineInput{Publish: true}, wantVersion: orders + ":1"},
		{name: "publish again returns the existing version", in: awssfn.UpdateStateMachineInput{Definition: aws.String(passDefN(2)), Publish: true}, wantVersion: orders + ":1"},
		{name: "publish with a change makes a new version", in: awssfn.UpdateStateMachineInput{Definition: aws.String(passDefN(3)), Publish: true, VersionDescription: aws.String("three")}, wantRevision: true, wantVersion: orders + ":2"},
		{name: "versionDescription without publish", in: awssfn.UpdateStateMachineInput{Definition: aws.String(passDefN(4)), VersionDescription: aws.String("x")}, wantCode: "ValidationException", wantMsg: "Version description can only be set when publish is true"},
		{name: "nothing to update", in: awssfn.UpdateStateMachineInput{}, wantCode: "MissingRequiredParameter"},
		{name: "invalid definition", in: awssfn.UpdateStateMachineInput{Definition: aws.String(`{"StartAt":"nope","States":{}}`)}, wantCode: "InvalidDefinition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.StateMachineArn = aws.String(orders)
			out, err := h.client.UpdateStateMachine(ctx(), &in)
			if tt.wantCode != "" {
				wantAPIError(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.UpdateDate == nil {
				t.Error("no updateDate")
			}
			switch {
			case tt.wantRevision && (out.RevisionId == nil || !uuidPattern.MatchString(*out.RevisionId) || *out.RevisionId == lastRevision):
				t.Errorf("want a new UUID revisionId, got %v", aws.ToString(out.RevisionId))
			case !tt.wantRevision && out.RevisionId != nil:
				t.Errorf("want no revisionId, got %s", *out.RevisionId)
			}
			if out.RevisionId != nil {
				lastRevision = *out.RevisionId
				if got := aws.ToString(describe().RevisionId); got != lastRevision {
					t.Errorf("describe shows revision %s, want %s", got, lastRevision)
				}
			}
			if aws.ToString(out.StateMachineVersionArn) != tt.wantVersion {
				t.Errorf("version %v, want %q", aws.ToString(out.StateMachineVersionArn), tt.wantVersion)
			}
		})
	}
	t.Run("on a version ARN", func(t *testing.T) {
		_, err := h.client.UpdateStateMachine(ctx(), &awssfn.UpdateStateMachineInput{StateMachineArn: aws.String(orders + ":1"), Definition: aws.String(passDefN(9))})
		wantAPIError(t, err, "StateMachineDoesNotExist", "State Machine Does Not Exist: '"+orders+":1'")
	})
}

func TestPublishStateMachineVersion(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", passDefN(1))
	publish := func(revision, description *string) (*awssfn.PublishStateMachineVersionOutput, error) {
		return h.client.PublishStateMachineVersion(ctx(), &awssfn.PublishStateMachineVersionInput{
			StateMachineArn: aws.String(orders), RevisionId: revision, Description: description,
		})
	}
	first, err := publish(aws.String("INITIAL"), aws.String("v1"))
	if err != nil || *first.StateMachineVersionArn != orders+":1" {
		t.Fatalf("INITIAL on a never-updated state machine: %v %v", first, err)
	}
	again, err := publish(nil, aws.String("another description"))
	if err != nil || *again.StateMachineVersionArn != orders+":1" || !again.CreationDate.Equal(*first.CreationDate) {
		t.Fatalf("publish is idempotent per revision: got %v %v", again, err)
	}
	up := must[*awssfn.UpdateStateMachineOutput](t)(h.client.UpdateStateMachine(ctx(), &awssfn.UpdateStateMachineInput{StateMachineArn: aws.String(orders), Definition: aws.String(passDefN(2))}))
	rev := *up.RevisionId
	tests := []struct {
		name     string
		revision *string
		wantArn  string
		wantCode string
		wantMsg  string
	}{
		{name: "INITIAL after an update", revision: aws.String("INITIAL"), wantCode: "ConflictException",
			wantMsg: "Failed to publish the State Machine version for revision INITIAL. The current State Machine revision is " + rev + "."},
		{name: "a revision that is not current", revision: aws.String("11111111-2222-4333-8444-555555555555"), wantCode: "ConflictException",
			wantMsg: "Failed to publish the State Machine version for revision 11111111-2222-4333-8444-555555555555. The current State Machine revision is " + rev + "."},
		{name: "the current revision", revision: aws.String(rev), wantArn: orders + ":2"},
		{name: "the current revision again", revision: aws.String(rev), wantArn: orders + ":2"},
		{name: "no revision", wantArn: orders + ":2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := publish(tt.revision, nil)
			if tt.wantCode != "" {
				wantAPIError(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			if err != nil || *out.StateMachineVersionArn != tt.wantArn {
				t.Fatalf("got %v %v, want %s", out, err, tt.wantArn)
			}
		})
	}
	t.Run("description longer than 256", func(t *testing.T) {
		h.mustUpdate(t, passDefN(3))
		_, err := publish(nil, aws.String(strings.Repeat("d", 257)))
		wantAPIError(t, err, "ValidationException", "1 validation error detected: Value '"+strings.Repeat("d", 257)+"' at 'description' failed to satisfy constraint: Member must have length less than or equal to 256")
	})
	t.Run("missing state machine", func(t *testing.T) {
		_, err := h.client.PublishStateMachineVersion(ctx(), &awssfn.PublishStateMachineVersionInput{StateMachineArn: aws.String(orders + "x")})
		wantAPIError(t, err, "StateMachineDoesNotExist", "State Machine Does Not Exist: '"+orders+"x'")
	})
}

func (h *harness) mustUpdate(t *testing.T, definition string) {
	t.Helper()
	if _, err := h.client.UpdateStateMachine(ctx(), &awssfn.UpdateStateMachineInput{StateMachineArn: aws.String(orders), Definition: aws.String(definition)}); err != nil {
		t.Fatal(err)
	}
}

func TestVersionQuota(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", passDefN(0))
	// 1000 versions in-process (the same handlers), the 1001st through the SDK.
	for i := 1; i <= maxVersionsPerMachine; i++ {
		def := passDefN(i)
		if _, e := h.svc.updateStateMachine(ctx(), &updateStateMachineInput{StateMachineArn: aws.String(orders), Definition: &def, Publish: true}); e != nil {
			t.Fatal(e)
		}
	}
	_, err := h.client.UpdateStateMachine(ctx(), &awssfn.UpdateStateMachineInput{StateMachineArn: aws.String(orders), Definition: aws.String(passDefN(5000)), Publish: true})
	wantAPIError(t, err, "ServiceQuotaExceededException", "")
	_, err = h.client.PublishStateMachineVersion(ctx(), &awssfn.PublishStateMachineVersionInput{StateMachineArn: aws.String(orders)})
	if err != nil {
		t.Errorf("publishing the revision that already has version 1000: %v", err)
	}
	// The refused update changed nothing; deleting a version makes room, and the next
	// number is 1001 (numbers are never reused).
	desc := must[*awssfn.DescribeStateMachineOutput](t)(h.client.DescribeStateMachine(ctx(), &awssfn.DescribeStateMachineInput{StateMachineArn: aws.String(orders)}))
	if *desc.Definition != passDefN(maxVersionsPerMachine) {
		t.Errorf("the refused update changed the definition to %s", *desc.Definition)
	}
	must[*awssfn.DeleteStateMachineVersionOutput](t)(h.client.DeleteStateMachineVersion(ctx(), &awssfn.DeleteStateMachineVersionInput{StateMachineVersionArn: aws.String(orders + ":5")}))
	out, err := h.client.UpdateStateMachine(ctx(), &awssfn.UpdateStateMachineInput{StateMachineArn: aws.String(orders), Definition: aws.String(passDefN(5000)), Publish: true})
	if err != nil || *out.StateMachineVersionArn != orders+":1001" {
		t.Fatalf("got %v %v", out, err)
	}
}

func TestListStateMachineVersions(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", passDefN(0))
	for i := 1; i <= 5; i++ {
		h.publish(t, orders, passDefN(i))
	}
	tests := []struct {
		name       string
		maxResults int32
		wantPages  [][]string
		wantCode   string
		wantMsg    string
	}{
		{name: "0 means 100", maxResults: 0, wantPages: [][]string{{"5", "4", "3", "2", "1"}}},
		{name: "pages of 2, newest first", maxResults: 2, wantPages: [][]string{{"5", "4"}, {"3", "2"}, {"1"}}},
		{name: "1000 is allowed", maxResults: 1000, wantPages: [][]string{{"5", "4", "3", "2", "1"}}},
		{name: "1001 is not", maxResults: 1001, wantCode: "ValidationException",
			wantMsg: "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var token *string
			var pages [][]string
			for {
				out, err := h.client.ListStateMachineVersions(ctx(), &awssfn.ListStateMachineVersionsInput{StateMachineArn: aws.String(orders), MaxResults: tt.maxResults, NextToken: token})
				if tt.wantCode != "" {
					wantAPIError(t, err, tt.wantCode, tt.wantMsg)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var page []string
				for _, v := range out.StateMachineVersions {
					page = append(page, strings.TrimPrefix(*v.StateMachineVersionArn, orders+":"))
					if v.CreationDate == nil {
						t.Error("no creationDate")
					}
				}
				pages = append(pages, page)
				if token = out.NextToken; token == nil {
					break
				}
			}
			if !equalPages(pages, tt.wantPages) {
				t.Errorf("pages %v, want %v", pages, tt.wantPages)
			}
		})
	}
	t.Run("a bad token", func(t *testing.T) {
		_, err := h.client.ListStateMachineVersions(ctx(), &awssfn.ListStateMachineVersionsInput{StateMachineArn: aws.String(orders), NextToken: aws.String("garbage")})
		wantAPIError(t, err, "InvalidToken", "Invalid Token: 'garbage'")
	})
}

func equalPages(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], ",") != strings.Join(b[i], ",") {
			return false
		}
	}
	return true
}

func TestDeleteStateMachineVersion(t *testing.T) {
	h := newHarness(t)
	h.machine(t, "orders", passDefN(0))
	v1 := h.publish(t, orders, passDefN(1))
	v2 := h.publish(t, orders, passDefN(2))
	v3 := h.publish(t, orders, passDefN(3))
	h.alias(t, "prod", v1, 90, v2, 10)
	h.alias(t, "beta", v2, 100)
	tests := []struct {
		name     string
		arn      string
		wantCode string
		wantMsg  string
	}{
		{name: "referenced by one alias", arn: v1, wantCode: "ConflictException",
			wantMsg: "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [prod]"},
		{name: "referenced by two aliases", arn: v2, wantCode: "ConflictException",
			wantMsg: "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [prod, beta]"},
		{name: "unreferenced", arn: v3},
		{name: "already deleted", arn: v3},
		{name: "never existed", arn: orders + ":99"},
		{name: "of a missing state machine", arn: orders + "x:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.client.DeleteStateMachineVersion(ctx(), &awssfn.DeleteStateMachineVersionInput{StateMachineVersionArn: aws.String(tt.arn)})
			if tt.wantCode != "" {
				wantAPIError(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("numbers are never reused", func(t *testing.T) {
		if v := h.publish(t, orders, passDefN(4)); v != orders+":4" {
			t.Fatalf("got %s", v)
		}
		_, err := h.client.DescribeStateMachine(ctx(), &awssfn.DescribeStateMachineInput{StateMachineArn: aws.String(v3)})
		wantAPIError(t, err, "StateMachineDoesNotExist", "State Machine Does Not Exist: '"+v3+"'")
	})
}

func TestListAndDeleteStateMachines(t *testing.T) {
	h := newHarness(t)
	for _, name := range []string{"a", "b", "c"} {
		h.machine(t, name, passDef)
	}
	out := must[*awssfn.ListStateMachinesOutput](t)(h.client.ListStateMachines(ctx(), &awssfn.ListStateMachinesInput{MaxResults: 2}))
	if len(out.StateMachines) != 2 || *out.StateMachines[0].Name != "a" || out.NextToken == nil {
		t.Fatalf("first page %+v", out)
	}
	out = must[*awssfn.ListStateMachinesOutput](t)(h.client.ListStateMachines(ctx(), &awssfn.ListStateMachinesInput{MaxResults: 2, NextToken: out.NextToken}))
	if len(out.StateMachines) != 1 || *out.StateMachines[0].Name != "c" || out.NextToken != nil {
		t.Fatalf("second page %+v", out)
	}

	// DeleteStateMachine removes versions and aliases too.
	a := machineArn("a")
	v1 := h.publish(t, a, passDefN(1))
	prod := h.alias(t, "prod", v1, 100)
	must[*awssfn.DeleteStateMachineOutput](t)(h.client.DeleteStateMachine(ctx(), &awssfn.DeleteStateMachineInput{StateMachineArn: aws.String(a)}))
	_, err := h.client.DescribeStateMachine(ctx(), &awssfn.DescribeStateMachineInput{StateMachineArn: aws.String(v1)})
	wantAPIError(t, err, "StateMachineDoesNotExist", "State Machine Does Not Exist: '"+v1+"'")
	_, err = h.client.DescribeStateMachineAlias(ctx(), &awssfn.DescribeStateMachineAliasInput{StateMachineAliasArn: aws.String(prod)})
	wantAPIError(t, err, "ResourceNotFound", "Request references a resource that does not exist.")
	// Recreated, it starts over with version 1 and no aliases.
	h.machine(t, "a", passDef)
	if v := h.publish(t, a, passDefN(7)); v != a+":1" {
		t.Errorf("recreated state machine published %s", v)
	}
	_, err = h.client.DeleteStateMachine(ctx(), &awssfn.DeleteStateMachineInput{StateMachineArn: aws.String(machineArn("missing"))})
	if err != nil {
		t.Errorf("deleting a missing state machine: %v", err)
	}
	_, err = h.client.DeleteStateMachine(ctx(), &awssfn.DeleteStateMachineInput{StateMachineArn: aws.String(v1)})
	wantAPIError(t, err, "ValidationException", "")
}

func TestUnknownOperation(t *testing.T) {
	h := newHarness(t)
	_, err := h.client.CreateActivity(ctx(), &awssfn.CreateActivityInput{Name: aws.String("a")})
	wantAPIError(t, err, "UnknownOperationException", "sfn-rollout local does not support states CreateActivity")
}
