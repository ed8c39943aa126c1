// The compiled form of a definition, which the checker (validate.go) builds and Run
// (run.go) executes.

package asl

import "time"

// Definition is a parsed state machine, ready to run any number of times concurrently.
type Definition struct {
	root      *machine
	timeout   int64 // TimeoutSeconds of the whole execution; 0: none
	variables bool  // some state assigns variables: executions keep a scope of them
}

// machine is a list of states with a start: the definition, a Parallel branch, a Map's
// item processor.
type machine struct {
	startAt string
	states  map[string]*state
	order   []string
}

// State types.
const (
	typePass     = "Pass"
	typeTask     = "Task"
	typeChoice   = "Choice"
	typeWait     = "Wait"
	typeSucceed  = "Succeed"
	typeFail     = "Fail"
	typeParallel = "Parallel"
	typeMap      = "Map"
)

// optPath is InputPath, OutputPath or ResultPath: absent is "$", null has its own meaning.
type optPath struct {
	null bool
	path *jsonPath // nil: "$"
}

// valueExpr is a Fail state's ErrorPath/CausePath: a path or an intrinsic call.
type valueExpr struct {
	raw  string
	path *jsonPath
	call *iexpr
}

type resourceKind uint8

const (
	resLambdaFunction resourceKind = iota // arn:aws:lambda:...:function:name
	resIntegration                        // arn:aws:states:::service:action[.sync|.sync:2]
	resWaitForToken                       // ...waitForTaskToken
)

type state struct {
	name string
	typ  string
	next string
	end  bool

	inputPath, outputPath, resultPath optPath
	parameters, resultSelector        *tnode
	assign                            *tnode        // variables.go
	jx                                *jsonataState // set for a JSONata state (jsonata.go)
	result                            any
	hasResult                         bool

	// Task
	resource         string
	resourceKind     resourceKind
	timeoutSeconds   int64
	timeoutPath      *jsonPath
	heartbeatSeconds int64
	heartbeatPath    *jsonPath
	retry            []*retrier
	catch            []*catcher

	// Choice
	choices     []*rule
	defaultNext string

	// Wait
	seconds                    int64
	hasSeconds                 bool
	timestamp                  time.Time
	hasTimestamp               bool
	secondsPath, timestampPath *jsonPath

	// Fail
	failError, failCause string
	errorPath, causePath *valueExpr

	// Parallel
	branches []*machine

	// Map
	itemsPath          *jsonPath
	itemSelector       *tnode
	processor          *machine
	maxConcurrency     int64
	maxConcurrencyPath *jsonPath
	dist               *distributed // set for Mode DISTRIBUTED (distributed.go)

	// transitions to check once all states of the machine are known
	targets []target
}

type target struct {
	name, field, loc string
}

type retrier struct {
	errorEquals     []string
	intervalSeconds float64
	maxAttempts     int64
	backoffRate     float64
	maxDelaySeconds float64 // 0: no cap
	jitterFull      bool
}

type catcher struct {
	errorEquals []string
	next        string
	resultPath  optPath
	assign      *tnode
	jx          *jsonataCatcher // in a JSONata state
}
