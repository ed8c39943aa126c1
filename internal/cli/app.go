package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sfn-rollout/sfn-rollout/internal/awsapi"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/awsconfig"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/cloudwatchapi"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/dynamostore"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/s3api"
	"github.com/sfn-rollout/sfn-rollout/internal/awsapi/sfnapi"
	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// globals are the flags every command takes.
type globals struct {
	endpoint, region, output       string
	bucket, table, controlFunction string
}

// LocalConfigPath is where a local endpoint says what it runs (internal/local/server).
const LocalConfigPath = "/_sfn-rollout/config"

// Resources are where the CLI finds things, once resolved.
type Resources struct {
	Endpoint        string
	Local           bool // the endpoint is sfn-rollout local
	Region          string
	Partition       string
	Account         string // "" until known
	Bucket          string
	Table           string
	ControlFunction string
	// ControllerArn is the controller state machine, known only on a local endpoint (on
	// AWS: the stack's output ControllerArn).
	ControllerArn string

	// The local endpoint's virtual clock: VirtualTime was the virtual time when the wall
	// clock read WallTime, and it runs Speed times faster.
	Speed                 float64
	VirtualTime, WallTime time.Time
}

// app is what the commands share: the flags, the output, and the AWS clients built once on
// first use (policy commands never build them).
type app struct {
	g              *globals
	stdout, stderr io.Writer
	getenv         func(string) string // os.Getenv unless a test sets it

	resolved bool
	res      Resources
	cfg      aws.Config
	identity string

	sfnClient *sfn.Client
	s3Client  *s3.Client
	cw        *cloudwatch.Client
	lam       *lambda.Client
	store     *dynamostore.Store
}

func (a *app) env(name string) string {
	if a.getenv != nil {
		return a.getenv(name)
	}
	return os.Getenv(name)
}

func (a *app) json() bool { return a.g.output == "json" }

// connect resolves the resources and the SDK configuration.
func (a *app) connect(ctx context.Context) error {
	if a.resolved {
		return nil
	}
	res := Resources{Endpoint: strings.TrimRight(firstOf(a.g.endpoint, a.env("AWS_ENDPOINT_URL")), "/")}
	var local map[string]string
	if res.Endpoint != "" {
		var err error
		if local, err = probeLocal(ctx, res.Endpoint); err != nil {
			return err
		}
		res.Local = local != nil
	}
	opts := []func(*config.LoadOptions) error{}
	if a.g.region != "" {
		opts = append(opts, config.WithRegion(a.g.region))
	}
	if a.g.endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(res.Endpoint))
	}
	if res.Local {
		// Local mode takes any credentials; static ones spare the SDK a search that may
		// end at the instance metadata service.
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := awsconfig.Load(ctx, opts...)
	if err != nil {
		return err
	}
	if res.Local {
		// The local endpoint's ARNs name its own region and account, whatever the profile says.
		cfg.Region = local["region"]
		res.Account = local["account"]
		res.Speed, _ = strconv.ParseFloat(local["speed"], 64)
		res.VirtualTime, _ = time.Parse(time.RFC3339Nano, local["virtualTime"])
		res.WallTime, _ = time.Parse(time.RFC3339Nano, local["wallTime"])
	}
	if cfg.Region == "" {
		return usagef("no AWS region: set --region or AWS_REGION")
	}
	res.Region = cfg.Region
	res.Partition = topology.Partition(cfg.Region)
	res.Bucket = firstOf(a.g.bucket, a.env(topology.EnvBucket), local["bucket"])
	res.Table = firstOf(a.g.table, a.env(topology.EnvTable), local["table"])
	res.ControllerArn = local["controllerStateMachineArn"]
	res.ControlFunction = firstOf(a.g.controlFunction, a.env(topology.EnvControlFunction), local["controlFunction"], topology.FunctionName(topology.DefaultPrefix, "control"))
	a.res, a.cfg, a.resolved = res, cfg, true
	return nil
}

// probeLocal asks the endpoint for its local configuration: nil when it answers but is not
// sfn-rollout local (LocalStack, say), an error when it does not answer at all.
func probeLocal(ctx context.Context, endpoint string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+LocalConfigPath, nil)
	if err != nil {
		return nil, usagef("endpoint %q: %v", endpoint, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s does not answer: %w", endpoint, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil
	}
	var cfg map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil || cfg["region"] == "" {
		return nil, nil
	}
	return cfg, nil
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// now is the time the records are written in: local mode's virtual clock, else the wall clock.
func (a *app) now() time.Time {
	wall := time.Now()
	if a.res.Local && a.res.Speed > 0 && !a.res.WallTime.IsZero() {
		return a.res.VirtualTime.Add(time.Duration(float64(wall.Sub(a.res.WallTime)) * a.res.Speed)).UTC()
	}
	return wall.UTC()
}

// pollEvery is how often status --watch redraws: local mode's clock may run hundreds of
// times faster than the wall clock.
func (a *app) pollEvery() time.Duration {
	if a.res.Local {
		return 100 * time.Millisecond
	}
	return 2 * time.Second
}

// followEvery is how often deploy --wait reads the record (one GetItem): often enough to
// see each step, which local mode's fast clock may take less than a tenth of a second over.
func (a *app) followEvery() time.Duration {
	if a.res.Local && a.res.Speed > 0 {
		return max(20*time.Millisecond, min(time.Second, time.Duration(float64(5*time.Second)/a.res.Speed)))
	}
	return time.Second
}

func (a *app) sfn() *sfn.Client {
	if a.sfnClient == nil {
		a.sfnClient = sfn.NewFromConfig(a.cfg, sfnapi.ClientOptions)
	}
	return a.sfnClient
}

func (a *app) s3() (*s3.Client, error) {
	if a.res.Bucket == "" {
		return nil, a.missing("artifacts bucket", "--bucket", topology.EnvBucket, "ArtifactsBucketName")
	}
	if a.s3Client == nil {
		a.s3Client = s3.NewFromConfig(a.cfg, s3api.ClientOptions)
	}
	return a.s3Client, nil
}

func (a *app) cloudwatch() *cloudwatch.Client {
	if a.cw == nil {
		a.cw = cloudwatch.NewFromConfig(a.cfg)
	}
	return a.cw
}

func (a *app) lambda() *lambda.Client {
	if a.lam == nil {
		a.lam = lambda.NewFromConfig(a.cfg)
	}
	return a.lam
}

// rollouts is the rollout table.
func (a *app) rollouts() (*dynamostore.Store, error) {
	if a.res.Table == "" {
		return nil, a.missing("rollout table", "--table", topology.EnvTable, "RolloutTableName")
	}
	if a.store == nil {
		a.store = dynamostore.New(dynamodb.NewFromConfig(a.cfg), a.res.Table)
	}
	return a.store, nil
}

func (a *app) alarms() *cloudwatchapi.Alarms { return cloudwatchapi.NewAlarms(a.cloudwatch()) }
func (a *app) metrics() *cloudwatchapi.Metrics {
	return cloudwatchapi.NewMetrics(a.cloudwatch()).WithExecutions(a.sfn())
}
func (a *app) aliases() *sfnapi.Aliases        { return sfnapi.NewAliases(a.sfn()) }
func (a *app) machines() *sfnapi.StateMachines { return sfnapi.NewStateMachines(a.sfn()) }

func (a *app) missing(what, flag, env, output string) error {
	if a.res.Local {
		return usagef("the local endpoint %s has no controller deployed (it was started with --no-controller): it has no %s", a.res.Endpoint, what)
	}
	return usagef("no %s: set %s or %s (the stack's output %s)", what, flag, env, output)
}

// caller is who runs the command, for the audit trail: the STS caller identity's ARN when
// STS answers (local mode serves no STS), else $USER.
func (a *app) caller(ctx context.Context) string {
	if a.identity != "" {
		return a.identity
	}
	a.identity = a.stsIdentity(ctx)
	if a.identity == "" {
		a.identity = firstOf(a.env("USER"), a.env("USERNAME"))
	}
	if a.identity == "" {
		if u, err := user.Current(); err == nil {
			a.identity = u.Username
		}
	}
	if a.identity == "" {
		a.identity = "unknown"
	}
	return a.identity
}

func (a *app) stsIdentity(ctx context.Context) string {
	if a.res.Local {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := sts.NewFromConfig(a.cfg, func(o *sts.Options) { o.RetryMaxAttempts = 1 }).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return ""
	}
	if a.res.Account == "" {
		a.res.Account = aws.ToString(out.Account)
	}
	return aws.ToString(out.Arn)
}

// stateMachine resolves a state machine's name (or ARN) to its ARN, and refuses one that
// does not exist.
func (a *app) stateMachine(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", usagef("no state machine given")
	}
	arn := name
	if !strings.HasPrefix(name, "arn:") {
		if a.res.Account == "" {
			a.stsIdentity(ctx)
		}
		if a.res.Account == "" {
			return a.findStateMachine(ctx, name)
		}
		arn = topology.StateMachineArn(a.res.Partition, a.res.Region, a.res.Account, name)
	}
	_, err := a.sfn().DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(arn)})
	if err != nil {
		if errors.Is(awsapi.Classify("", err), controller.ErrNotFound) || awsapi.IsCode(err, "InvalidArn") {
			return "", usagef("state machine %q does not exist in %s", name, a.res.Region)
		}
		return "", fmt.Errorf("describe state machine %s: %w", name, err)
	}
	return arn, nil
}

// findStateMachine finds a state machine by name when the account is unknown.
func (a *app) findStateMachine(ctx context.Context, name string) (string, error) {
	p := sfn.NewListStateMachinesPaginator(a.sfn(), &sfn.ListStateMachinesInput{MaxResults: 1000})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list state machines: %w", err)
		}
		for _, sm := range out.StateMachines {
			if aws.ToString(sm.Name) == name {
				return aws.ToString(sm.StateMachineArn), nil
			}
		}
	}
	return "", usagef("state machine %q does not exist in %s", name, a.res.Region)
}

// stateMachines lists every state machine's ARN.
func (a *app) stateMachines(ctx context.Context) ([]string, error) {
	var arns []string
	p := sfn.NewListStateMachinesPaginator(a.sfn(), &sfn.ListStateMachinesInput{MaxResults: 1000})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list state machines: %w", err)
		}
		for _, sm := range out.StateMachines {
			arns = append(arns, aws.ToString(sm.StateMachineArn))
		}
	}
	return arns, nil
}
