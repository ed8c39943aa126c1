package controller_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
)

// The simulation's operations. Each is one thing that happens in production; a new one is
// a row in simOps and a method.

type simOp struct {
	name   string
	weight int
	nested bool // may also run inside another operation's port call
	run    func(*sim)
	ready  func(*sim) bool // whether the operation has something to act on; nil: always
}

var simOps = []simOp{
	{"tick", 20, false, (*sim).opTick, nil},
	{"advance", 4, true, (*sim).opAdvance, func(s *sim) bool { return len(s.scheduled()) > 0 }},
	{"exec", 26, true, (*sim).opExec, func(s *sim) bool { return s.firstSteppable() != nil }},
	{"repeat", 4, true, (*sim).opRepeat, (*sim).hasRollouts},
	{"alarm", 7, true, (*sim).opAlarm, nil},
	{"blip", 3, true, (*sim).opBlip, nil},
	{"deliver", 8, true, (*sim).opDeliver, func(s *sim) bool { return len(s.pending) > 0 }},
	{"command", 10, true, (*sim).opCommand, (*sim).hasRollouts},
	{"hand", 3, true, (*sim).opHand, nil},
	{"upload", 5, true, (*sim).opUpload, func(s *sim) bool { return s.uploads < 6 }},
	{"metrics", 3, true, (*sim).opMetrics, (*sim).hasRollouts},
	{"storm", 2, true, (*sim).opStorm, nil},
	{"turns", 6, true, (*sim).opTurns, func(s *sim) bool { return s.budgeted }},
}

func (s *sim) hasRollouts() bool { return len(s.rollouts) > 0 }

// pickOp draws an operation by weight among those that have something to act on.
func (s *sim) pickOp(nested bool) simOp {
	total := 0
	var ops []simOp
	for _, op := range simOps {
		if (!nested || op.nested) && (op.ready == nil || op.ready(s)) {
			ops = append(ops, op)
			total += op.weight
		}
	}
	n := s.rng.IntN(total)
	for _, op := range ops {
		if n < op.weight {
			return op
		}
		n -= op.weight
	}
	panic("unreachable")
}

// ---------------------------------------------------------------------------------------
// ticks

// opTick lets time pass and fires every live schedule, as EventBridge Scheduler does.
func (s *sim) opTick() {
	d := []time.Duration{tickEvery, tickEvery, tickEvery, 30 * time.Second, 2 * tickEvery, 5 * tickEvery}[s.rng.IntN(6)]
	s.w.clock.Advance(d)
	s.logf("▶ tick +%s (%s)", d, s.w.clock.Now().Format("15:04:05"))
	for _, sc := range s.w.sched.due() {
		if sc.Target != controller.TargetAdvance {
			continue // a continuation fires at its own time (fireContinuations)
		}
		var tk controller.Tick
		if err := json.Unmarshal([]byte(sc.Input), &tk); err != nil {
			s.t.Fatalf("schedule %s input %q: %v", sc.Name, sc.Input, err)
		}
		if tk.Sweep != nil {
			in := *tk.Sweep
			if s.rng.IntN(10) == 0 {
				s.logf("sweep is late")
				s.later("late sweep", func() { s.sweep(in) })
				continue
			}
			s.sweep(in)
			continue
		}
		if s.rng.IntN(10) == 0 {
			s.logf("tick of %s is late", s.name(tk.RolloutID))
			s.later("late tick of "+s.name(tk.RolloutID), func() { s.advance(tk.RolloutID) })
			continue
		}
		s.advance(tk.RolloutID)
	}
	s.fireContinuations()
}

// sweep is one sweep of the running rollouts, as its schedule fires it.
func (s *sim) sweep(in controller.SweepInput) {
	res, err := s.ctl.Sweep(s.w.ctx, in)
	s.logf("sweep → %d running, %d ticked, %d alias reads %s", res.Running, res.Ticked, res.AliasReads, errText(err))
	for _, id := range s.rollouts {
		if _, failed := res.Errors[id]; !failed && err == nil || !failed && res.Running > 0 {
			if r, ok := s.record(id); ok && r.TaskToken != "" {
				s.advancedOK[id]++
			}
		}
	}
	if err != nil && s.rng.IntN(2) == 0 {
		s.later("retry of the sweep", func() { s.sweep(in) })
	}
}

// opAdvance is one more tick: a duplicate or late sweep, a concurrent one, or the tick of
// one rollout (a schedule of the first version, one per rollout).
func (s *sim) opAdvance() {
	if s.rng.IntN(2) == 0 {
		s.logf("▶ sweep")
		s.sweep(controller.SweepInput{Shards: 1})
		return
	}
	ids := s.scheduled()
	id := ids[s.rng.IntN(len(ids))]
	s.logf("▶ advance %s", s.name(id))
	s.advance(id)
}

// scheduled lists the rollouts that a tick may reach: those whose Register ran.
func (s *sim) scheduled() []string {
	var ids []string
	for _, id := range s.rollouts {
		if r, ok := s.record(id); ok && (r.TaskToken != "" && (r.Policy.Strategy != rollout.BlueGreen || r.TestAliasArn != "") || r.Phase.Terminal()) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (s *sim) advance(id string) {
	defer s.forRollout(id)()
	out, err := s.ctl.Advance(s.w.ctx, controller.Tick{RolloutID: id})
	s.logf("advance %s → %s %s", s.name(id), out.Phase, errText(err))
	if err == nil {
		s.advancedOK[id]++
	}
	if err != nil && s.rng.IntN(2) == 0 {
		s.later("retry of advance "+s.name(id), func() { s.advance(id) })
	}
}

// forRollout marks the running call as one for rollout id, until the returned func runs.
func (s *sim) forRollout(id string) func() {
	if len(s.frames) == 0 {
		return func() {}
	}
	f := &s.frames[len(s.frames)-1]
	before := f.rollout
	f.rollout = id
	return func() { s.frames[len(s.frames)-1].rollout = before }
}

// later queues a delivery for a later step: a late event or a Lambda's async retry.
func (s *sim) later(what string, run func()) {
	s.pending = append(s.pending, simDelivery{what: what, run: run})
}

func (s *sim) opDeliver() {
	if len(s.pending) == 0 {
		s.logf("▶ deliver: nothing pending")
		return
	}
	i := 0
	if s.rng.IntN(3) == 0 {
		i = s.rng.IntN(len(s.pending))
	}
	d := s.pending[i]
	s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
	s.logf("▶ deliver %s", d.what)
	d.run()
}

// ---------------------------------------------------------------------------------------
// alarms and metrics

func (s *sim) opAlarm() {
	m := s.machines[s.rng.IntN(len(s.machines))]
	name := m.alarms[s.rng.IntN(len(m.alarms))]
	to := rollout.AlarmAlarm
	if s.alarmState(name) == rollout.AlarmAlarm {
		to = rollout.AlarmOK
	}
	fate := []string{"delivered", "delivered", "delivered", "late", "twice", "lost"}[s.rng.IntN(6)]
	s.logf("▶ alarm %s → %s, event %s", name, to, fate)
	from := s.setAlarm(name, to)
	switch fate {
	case "delivered":
		s.alarmEvent(name, from, to)
	case "late":
		s.later(fmt.Sprintf("late event %s → %s", name, to), func() { s.alarmEvent(name, from, to) })
	case "twice":
		s.alarmEvent(name, from, to)
		s.later(fmt.Sprintf("duplicate event %s → %s", name, to), func() { s.alarmEvent(name, from, to) })
	}
}

// opBlip is an alarm that goes to ALARM and back to OK with its ALARM event lost (it went
// to the dead-letter queue, or the rollback function failed every retry).
func (s *sim) opBlip() {
	m := s.machines[s.rng.IntN(len(s.machines))]
	name := m.alarms[s.rng.IntN(len(m.alarms))]
	if s.alarmState(name) == rollout.AlarmAlarm {
		s.logf("▶ blip %s: already in ALARM", name)
		return
	}
	s.logf("▶ blip %s: ALARM (event lost), then OK", name)
	s.setAlarm(name, rollout.AlarmAlarm)
	s.setAlarm(name, rollout.AlarmOK)
	s.alarmEvent(name, rollout.AlarmAlarm, rollout.AlarmOK)
}

func (s *sim) alarmState(name string) rollout.AlarmState {
	s.w.alarms.mu.Lock()
	defer s.w.alarms.mu.Unlock()
	return s.w.alarms.states[name]
}

// setAlarm moves an alarm and notes, for invariant 3, which rollouts it guarded when it
// entered ALARM.
func (s *sim) setAlarm(name string, to rollout.AlarmState) rollout.AlarmState {
	from := s.alarmState(name)
	s.w.alarms.set(name, to)
	if to == rollout.AlarmAlarm && from != rollout.AlarmAlarm {
		f := simFiring{alarm: name}
		for _, id := range s.rollouts {
			r, ok := s.record(id)
			if ok && r.CandidateVersionArn != "" && !r.Phase.Terminal() && containsString(r.Policy.Alarms, name) && !containsString(r.PreexistingAlarms, name) {
				f.guarding = append(f.guarding, id)
			}
		}
		s.fired = append(s.fired, f)
	}
	return from
}

func (s *sim) alarmEvent(name string, from, to rollout.AlarmState) {
	raw, _ := json.Marshal(map[string]any{
		"version": "0", "id": fmt.Sprintf("alarm-%d", s.step), "detail-type": "CloudWatch Alarm State Change",
		"source": "aws.cloudwatch", "account": testAccount, "region": testRegion, "time": s.w.clock.Now(),
		"detail": map[string]any{"alarmName": name, "state": map[string]string{"value": string(to)}, "previousState": map[string]string{"value": string(from)}},
	})
	running := s.runningGuardedBy(name, to)
	storeFaults, commandWrites := s.storeFaults, s.commandWrites
	res, err := invoke(s.w.ctx, s.ctl.Rollback, raw)
	s.logf("rollback on %s %s → %d rollouts, %s", name, to, len(res.Rollouts), errText(err))
	if s.storeFaults == storeFaults && s.commandWrites == commandWrites && !s.calm {
		s.checkRollbackCompletes(name, running, err)
	}
	if err != nil && s.rng.IntN(3) > 0 {
		s.later(fmt.Sprintf("retry of event %s → %s", name, to), func() { s.alarmEvent(name, from, to) })
	}
}

// runningGuardedBy lists the rollouts with traffic that an ALARM of the alarm must stop.
func (s *sim) runningGuardedBy(alarm string, to rollout.AlarmState) []string {
	if to != rollout.AlarmAlarm {
		return nil
	}
	var ids []string
	for _, id := range s.rollouts {
		r, ok := s.record(id)
		if ok && !r.Phase.Terminal() && !r.TrafficStartedAt.IsZero() && r.PauseKind != rollout.PauseFailure &&
			containsString(r.Policy.Alarms, alarm) && !containsString(r.PreexistingAlarms, alarm) {
			ids = append(ids, id)
		}
	}
	return ids
}

// opStorm throttles every call of one of Step Functions' or CloudWatch's read APIs for the
// next 3 seconds, as an account busy with other rollouts (DescribeStateMachineAlias: 1 per
// second, shared) or dashboards does; a retry's backoff waits on the fake clock.
func (s *sim) opStorm() {
	op := []string{"Aliases.Describe", "Alarms.States"}[s.rng.IntN(2)]
	s.logf("▶ throttling storm: %s is throttled for 3s", op)
	s.storm[op] = s.w.clock.Now().Add(3 * time.Second)
}

// opMetrics sets the candidate's execution counts of a running rollout: healthy or failing.
func (s *sim) opMetrics() {
	r, ok := s.randomRollout(func(r rollout.Rollout) bool { return r.CandidateVersionArn != "" && !r.Phase.Terminal() })
	if !ok {
		s.logf("▶ metrics: no running rollout")
		return
	}
	started, failed := int64(20+s.rng.IntN(100)), int64(0)
	if s.rng.IntN(2) == 0 {
		failed = started / 2
	}
	s.logf("▶ metrics of %s: %d started, %d failed", rollout.VersionLabel(r.CandidateVersionArn), started, failed)
	s.w.metrics.set(r.CandidateVersionArn, started, failed)
}

// ---------------------------------------------------------------------------------------
// operators

// opCommand sends an operator's command, sometimes twice (the operator retries, or the
// Lambda's async invocation is retried).
func (s *sim) opCommand() {
	r, ok := s.randomRollout(func(r rollout.Rollout) bool { return !r.Phase.Terminal() || s.rng.IntN(4) == 0 })
	if !ok {
		s.logf("▶ command: no rollout")
		return
	}
	cmds := []rollout.Command{rollout.CommandPause, rollout.CommandResume, rollout.CommandPromote, rollout.CommandPromoteFull, rollout.CommandAbort, rollout.CommandApprove}
	s.commands++
	c := simCommand{id: fmt.Sprintf("c%d", s.commands), rollout: r.ID, cmd: cmds[s.rng.IntN(len(cmds))], actor: "alice"}
	s.logf("▶ command %s: %s %s", c.id, c.cmd, s.name(c.rollout))
	s.control(c)
	if s.rng.IntN(4) == 0 {
		s.later(fmt.Sprintf("retry of command %s (%s %s)", c.id, c.cmd, s.name(c.rollout)), func() { s.control(c) })
	}
}

type simCommand struct {
	id, rollout, actor string
	cmd                rollout.Command
}

// request is the command as the CLI sends it; every retry sends the same request.
func (c simCommand) request() controller.ControlRequest {
	return controller.ControlRequest{
		RolloutID: c.rollout, Command: c.cmd, Actor: c.actor, Reason: "command " + c.id,
		CommandID: c.id,
	}
}

func (s *sim) control(c simCommand) {
	raw, _ := json.Marshal(c.request())
	defer s.forRollout(c.rollout)()
	before, _ := s.record(c.rollout)
	s.frames[len(s.frames)-1].command = c.id
	res, err := invoke(s.w.ctx, s.ctl.Control, raw)
	s.frames[len(s.frames)-1].command = ""
	s.logf("control %s → %s %d%% %s", c.id, res.Phase, res.Weights.Candidate, errText(err))
	// An abort that succeeded, or that the controller could not apply (Internal), must
	// stick; one rejected (the rollout ended meanwhile) or failed on a fault need not.
	answered := err == nil || controller.ErrorCode(err) == "Internal" && !errors.Is(err, errCrash)
	if c.cmd == rollout.CommandAbort && !before.Phase.Terminal() && answered && s.aborted[c.rollout] == nil {
		s.aborted[c.rollout] = &simAbort{command: c.id, answer: errText(err), step: s.step}
	}
	if (controller.ErrorCode(err) == controller.ETransient || errors.Is(err, errCrash)) && s.rng.IntN(3) > 0 {
		s.later(fmt.Sprintf("retry of command %s (%s %s)", c.id, c.cmd, s.name(c.rollout)), func() { s.control(c) })
	}
}

// opHand is an operator changing the alias by hand (UpdateStateMachineAlias in the
// console): most often an emergency rollback to the stable version.
func (s *sim) opHand() {
	m := s.machines[s.rng.IntN(len(s.machines))]
	versions := s.liveVersions(m)
	cur := s.currentOf(m.alias)
	var routing []rollout.Route
	r, ok := s.record(cur)
	switch n := s.rng.IntN(10); {
	case ok && n < 5:
		routing = []rollout.Route{{VersionArn: r.StableVersionArn, Weight: 100}}
	case ok && n < 7:
		routing = []rollout.Route{{VersionArn: r.CandidateVersionArn, Weight: 100}}
	case ok && n < 8:
		w := 5 * (1 + s.rng.IntN(19))
		routing = []rollout.Route{{VersionArn: r.StableVersionArn, Weight: 100 - w}, {VersionArn: r.CandidateVersionArn, Weight: w}}
	default:
		routing = []rollout.Route{{VersionArn: versions[s.rng.IntN(len(versions))], Weight: 100}}
	}
	to := routingString(routing)
	from := s.w.sfn.routing(m.alias)
	if to == from {
		s.logf("▶ hand change of %s: already %s", s.aliasName(m.alias), to)
		return
	}
	s.logf("▶ hand change of %s by an operator: %s → %s", s.aliasName(m.alias), from, to)
	s.w.sfn.route(m.alias, routing...)
	active := ""
	if ok && !r.Phase.Terminal() {
		active = cur
	}
	s.hand[m.alias] = &simHand{routing: to, at: s.w.clock.Now(), step: s.step, active: active}
	s.handSteps[m.alias] = append(s.handSteps[m.alias], s.step)
}

func (s *sim) liveVersions(m *simMachine) []string {
	s.w.sfn.mu.Lock()
	defer s.w.sfn.mu.Unlock()
	var out []string
	for _, v := range s.w.sfn.machines[smArn(m.name)].versions {
		if !v.deleted {
			out = append(out, v.arn)
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------
// uploads and the controller state machine's executions

// opUpload uploads a new definition with a random policy (in the upload's metadata); now
// and then EventBridge delivers the upload twice.
func (s *sim) opUpload() {
	if s.uploads >= 6 {
		s.logf("▶ upload: enough uploads")
		return
	}
	s.uploads++
	m := s.machines[s.rng.IntN(len(s.machines))]
	m.defs++
	policy := s.randomPolicy(m)
	body, _ := json.Marshal(policy)
	key := m.name + "/prod/definition.asl.json"
	s.w.s3.put(testBucket, m.name+"/prod/rollout.json", string(body), nil)
	ev := s.w.upload(key, definition(fmt.Sprintf("%s v%d", m.name, m.defs)), nil)
	x := s.newExec(ev, m)
	s.logf("▶ upload %s (%s) #%d with %s", x.id, key, m.defs, body)
	if s.rng.IntN(8) == 0 {
		d := s.newExec(ev, m)
		s.logf("the upload event is delivered twice: %s too", d.name)
	}
}

// randomPolicy is a rollout.json.
func (s *sim) randomPolicy(m *simMachine) map[string]any {
	p := map[string]any{}
	minutes := func(lo, hi int) string { return fmt.Sprintf("%dm", lo+s.rng.IntN(hi-lo+1)) }
	switch s.rng.IntN(6) {
	case 0:
		p["strategy"], p["percentage"], p["interval"] = "CANARY", 5*(1+s.rng.IntN(8)), minutes(1, 4)
	case 1:
		p["strategy"], p["percentage"], p["interval"] = "LINEAR", []int{20, 25, 34, 50}[s.rng.IntN(4)], minutes(1, 3)
	case 2, 3:
		var steps []map[string]any
		w := 0
		for w < 100 {
			w = min(100, w+10*(1+s.rng.IntN(5)))
			steps = append(steps, map[string]any{"setWeight": w})
			if w == 100 {
				break
			}
			switch s.rng.IntN(4) {
			case 0:
				steps = append(steps, map[string]any{"pause": map[string]any{}}) // approval
			case 1:
				steps = append(steps, map[string]any{"analysis": map[string]any{"duration": minutes(1, 3), "maxFailureRate": 10, "minExecutions": 5}})
			default:
				steps = append(steps, map[string]any{"pause": map[string]any{"duration": minutes(1, 4)}})
			}
		}
		p["strategy"], p["steps"] = "CUSTOM", steps
	case 4:
		p["strategy"] = "BLUE_GREEN"
		if s.rng.IntN(2) == 0 {
			p["interval"] = minutes(1, 3)
		}
		if s.rng.IntN(2) == 0 {
			p["approval"] = true
		}
	case 5:
		p["strategy"] = "ALL_AT_ONCE"
	}
	if s.rng.IntN(2) == 0 {
		p["bakeTime"] = minutes(1, 5)
	}
	switch s.rng.IntN(4) {
	case 0:
	case 1:
		p["alarms"] = m.alarms[:1]
	default:
		p["alarms"] = m.alarms
	}
	if s.rng.IntN(4) == 0 {
		p["maxFailureRate"] = 20
	}
	p["onFailure"] = []string{"rollback", "rollback", "pause"}[s.rng.IntN(3)]
	p["onDrift"] = []string{"pause", "pause", "rollback"}[s.rng.IntN(3)]
	p["onBusy"] = []string{"reject", "queue", "supersede"}[s.rng.IntN(3)]
	return p
}

// simExec is one execution of the controller state machine, played step by step the way
// rollout-controller.asl.json runs it: Prepare; WaitForTurn (queued) then Prepare again;
// Progress (Register, then the wait for the task token, bounded by prepare's timeout);
// Finalize. A step that fails is retried as the state's Retry says, then caught into
// Finalize.
type simExec struct {
	name, id string
	machine  *simMachine
	state    controller.State
	stage    simStage
	attempts [3]int // failed attempts of the current step, by retrier: Transient, a crash, Throttled
	token    string
	deadline time.Time
	busy     bool         // a call of it is running (an operation nested in it may not step it)
	call     func() error // the call in flight, or the last one: a Lambda retry sends it again
	outcome  string       // how the execution ended
}

type simStage int

const (
	stagePrepare simStage = iota
	stageTurn             // Register(turn)
	stageWaitTurn
	stageRegister // Register(progress)
	stageProgress
	stageFinalize
	stageDone
)

func (st simStage) String() string {
	return [...]string{"Prepare", "WaitForTurn register", "WaitForTurn", "Progress register", "Progress", "Finalize", "done"}[st]
}

func (s *sim) newExec(ev json.RawMessage, m *simMachine) *simExec {
	s.w.execs++
	name := fmt.Sprintf("exec-%d", s.w.execs)
	x := &simExec{name: name, machine: m, state: controller.State{Event: ev, Execution: "arn:aws:states:us-east-1:000000000000:execution:sfn-rollout-controller:" + name}}
	_, obj, err := controller.DecodeObjectCreated(ev)
	if err != nil {
		s.t.Fatal(err)
	}
	x.id = controller.RolloutID(obj.Bucket.Name + "/" + obj.Object.Key + "#" + obj.Object.VersionID)
	s.nameRollout(x.id)
	s.execs = append(s.execs, x)
	return x
}

// steppable says whether the execution has a step to run now (it is not waiting for a
// token, or the wait has ended).
func (s *sim) steppable(x *simExec) bool {
	if x.busy || x.stage == stageDone {
		return false
	}
	switch x.stage {
	case stageWaitTurn, stageProgress:
		_, answered := s.w.tasks.outcome(x.token)
		return answered || !s.w.clock.Now().Before(x.deadline)
	}
	return true
}

func (s *sim) opExec() {
	var ready []*simExec
	for _, x := range s.execs {
		if s.steppable(x) {
			ready = append(ready, x)
		}
	}
	if len(ready) == 0 {
		s.logf("▶ exec: every execution waits")
		return
	}
	x := ready[s.rng.IntN(len(ready))]
	s.logf("▶ %s (%s): %s", x.name, s.name(x.id), x.stage)
	s.stepExec(x)
}

// opRepeat sends an execution's last (or running) Lambda call again, with the same input:
// the Lambda service's retry, or a duplicate invocation.
func (s *sim) opRepeat() {
	var with []*simExec
	for _, x := range s.execs {
		if x.call != nil {
			with = append(with, x)
		}
	}
	if len(with) == 0 {
		s.logf("▶ repeat: no call yet")
		return
	}
	x := with[s.rng.IntN(len(with))]
	s.logf("▶ %s (%s): its last call again", x.name, s.name(x.id))
	defer s.forRollout(x.id)()
	err := x.call()
	s.logf("repeated call of %s → %s", x.name, errText(err))
}

// stepExec runs the execution's next step.
func (s *sim) stepExec(x *simExec) {
	x.busy = true
	defer func() { x.busy = false }()
	defer s.forRollout(x.id)()
	ctx := s.w.ctx
	switch x.stage {
	case stagePrepare:
		state := x.state
		var res controller.PrepareResult
		x.call = func() error {
			var err error
			res, err = s.ctl.Prepare(ctx, state)
			return err
		}
		err := x.call()
		s.logf("prepare %s → %q %s", s.name(x.id), res.Action, errText(err))
		if s.failedStep(x, err, 6, 2) {
			return
		}
		p := res
		x.state.Prepare = &p // ResultPath $.prepare, whatever the action
		switch res.Action {
		case controller.ActionDuplicate:
			x.stage, x.outcome = stageDone, "duplicate"
		case controller.ActionQueued:
			x.stage = stageTurn
		case controller.ActionStart:
			x.stage = stageRegister
		default:
			x.state.Error = &controller.TaskError{Error: "Internal", Cause: "unknown action " + res.Action}
			x.stage = stageFinalize
		}
		x.attempts = [3]int{}

	case stageTurn, stageRegister:
		wait, next, timeout := controller.WaitTurn, stageWaitTurn, 7*24*time.Hour
		if x.stage == stageRegister {
			wait, next = controller.WaitProgress, stageProgress
			timeout = time.Duration(x.state.Prepare.TimeoutSeconds) * time.Second
		}
		s.tokens++
		token := fmt.Sprintf("token-%s-%s-%d", wait, x.name, s.tokens)
		s.w.tasks.issue(token)
		in := controller.RegisterInput{State: x.state, TaskToken: token, Wait: wait}
		in.PreTraffic = []controller.TestResult{}
		x.call = func() error { return s.ctl.Register(ctx, in) }
		err := x.call()
		s.logf("register %s %s → %s", wait, s.name(x.id), errText(err))
		if err != nil {
			s.w.tasks.expire(token)
		}
		if s.failedStep(x, err, 6, 2) {
			return
		}
		x.token, x.deadline, x.stage, x.attempts = token, s.w.clock.Now().Add(timeout), next, [3]int{}

	case stageWaitTurn, stageProgress:
		o, ok := s.w.tasks.outcome(x.token)
		switch {
		case !ok:
			s.w.tasks.expire(x.token)
			x.state.Error = &controller.TaskError{Error: "States.Timeout", Cause: "the wait timed out"}
			x.stage = stageFinalize
			s.logf("%s: the wait timed out", x.name)
		case !o.Succeeded:
			x.state.Error = &controller.TaskError{Error: o.Error, Cause: o.Cause}
			x.stage = stageFinalize
			s.logf("%s: the wait ended with %s", x.name, o.Error)
		case x.stage == stageWaitTurn:
			x.stage = stagePrepare
			s.logf("%s: its turn came", x.name)
		default:
			var out controller.Outcome
			_ = json.Unmarshal([]byte(o.Output), &out)
			x.state.Progress = &out
			x.stage = stageFinalize
			s.logf("%s: the wait ended with %s", x.name, out.Phase)
		}
		if x.stage == stageFinalize {
			s.stepExec(x) // Finalize follows at once
		}

	case stageFinalize:
		state := x.state
		x.call = func() error {
			_, err := s.ctl.Finalize(ctx, state)
			if err == nil {
				s.finalized[x.id] = true
			}
			return err
		}
		err := x.call()
		s.logf("finalize %s → %s", s.name(x.id), errText(err))
		if err == nil {
			x.stage, x.outcome = stageDone, "finalized"
			return
		}
		if !s.retried(x, err, 10, 3) {
			x.stage, x.outcome = stageDone, "ControllerError"
			s.logf("%s ends in ControllerError", x.name)
		}
	}
}

// failedStep applies a failed step's Retry and Catch: it reports whether the step failed.
func (s *sim) failedStep(x *simExec, err error, transient, crash int) bool {
	if err == nil {
		return false
	}
	if s.retried(x, err, transient, crash) {
		return true // the state machine retries the step
	}
	name := controller.ErrorCode(err)
	if errors.Is(err, errCrash) {
		name = "States.TaskFailed"
	}
	x.state.Error = &controller.TaskError{Error: name, Cause: err.Error()}
	x.stage, x.attempts = stageFinalize, [3]int{}
	s.logf("%s: %s caught into Finalize", x.name, name)
	return true
}

// retried counts a failed attempt against its retrier and says whether the state machine
// retries the step: Transient, Throttled and a crashed function are retried (each retrier
// counting its own attempts, as Step Functions does), named refusals are not. The retry's
// wait (IntervalSeconds 1, or 2 after a crash, BackoffRate 2; Throttled's at most 60 s,
// its longest, unjittered) passes on the fake clock.
func (s *sim) retried(x *simExec, err error, transient, crash int) bool {
	i, limit, interval, maxDelay := 0, transient, time.Second, time.Duration(0)
	switch {
	case errors.Is(err, errCrash):
		i, limit, interval = 1, crash, 2*time.Second
	case controller.ErrorCode(err) == "Throttled":
		i, limit, maxDelay = 2, throttledAttempts, time.Minute
	case controller.ErrorCode(err) != "Transient":
		return false
	}
	x.attempts[i]++
	if x.attempts[i] > limit {
		return false
	}
	wait := interval << min(x.attempts[i]-1, 20)
	if maxDelay > 0 {
		wait = min(wait, maxDelay)
	}
	s.w.clock.Advance(wait)
	return true
}

// throttledAttempts is the MaxAttempts of the Throttled retriers of
// rollout-controller.asl.json.
const throttledAttempts = 610000

// ---------------------------------------------------------------------------------------
// helpers

// randomRollout picks one of the rollouts whose record keep accepts.
func (s *sim) randomRollout(keep func(rollout.Rollout) bool) (rollout.Rollout, bool) {
	var rs []rollout.Rollout
	for _, id := range s.rollouts {
		if r, ok := s.record(id); ok && keep(r) {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return rollout.Rollout{}, false
	}
	return rs[s.rng.IntN(len(rs))], true
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// drain ends the seed: no more faults, every late event delivered, every execution run
// to its end (its waits time out if nothing ends them), and then the end-state invariants.
func (s *sim) drain() {
	s.calm = true
	s.storm = map[string]time.Time{}
	s.frames = []simFrame{{kind: "drain"}}
	s.logf("---- drain: no more faults; late events delivered; every execution runs to its end, then 20 ticks")
	idle, grace := 0, 0
	for ; s.failed == nil && s.step < 100000; s.step++ {
		s.fired, s.writes, s.depth = nil, nil, 0
		s.calls = map[string]uint64{}
		restore := s.use("drain")
		s.fireContinuations()
		switch {
		case len(s.pending) > 0:
			d := s.pending[0]
			s.pending = s.pending[1:]
			s.logf("▶ deliver %s", d.what)
			d.run()
		case s.firstSteppable() != nil:
			x := s.firstSteppable()
			s.logf("▶ %s (%s): %s", x.name, s.name(x.id), x.stage)
			s.stepExec(x)
			idle = 0
		case s.allDone() && grace < 20:
			// Every execution has ended: a rollout whose Finalize never completed is cleaned
			// up by its own tick a quarter of an hour later (orphaned), so let that time pass.
			grace++
			s.opTick()
		case s.allDone() && s.nextContinuation().After(s.w.clock.Now()):
			// A continuation is still to fire (its rollout ended meanwhile): let its time come.
			s.w.clock.Advance(s.nextContinuation().Sub(s.w.clock.Now()))
			s.fireContinuations()
		case s.allDone():
			restore()
			s.checkStep()
			s.checkEnd()
			return
		default:
			idle++
			if idle%5 == 0 {
				// Nothing moves (paused rollouts, a queue): let the waits' deadlines come.
				s.w.clock.Advance(s.nextDeadline().Sub(s.w.clock.Now()) + time.Second)
			}
			s.opTick()
		}
		restore()
		s.checkStep()
		if idle > 600 {
			s.violate("locksReleased", "the drain did not end: executions still waiting after %d idle ticks", idle)
		}
	}
}

func (s *sim) firstSteppable() *simExec {
	for _, x := range s.execs {
		if s.steppable(x) {
			return x
		}
	}
	return nil
}

func (s *sim) allDone() bool {
	for _, x := range s.execs {
		if x.stage != stageDone {
			return false
		}
	}
	return true
}

// nextDeadline is the end of the earliest wait, or now.
func (s *sim) nextDeadline() time.Time {
	var next time.Time
	for _, x := range s.execs {
		if (x.stage == stageWaitTurn || x.stage == stageProgress) && (next.IsZero() || x.deadline.Before(next)) {
			next = x.deadline
		}
	}
	if next.Before(s.w.clock.Now()) {
		return s.w.clock.Now()
	}
	return next
}

// currentOf is the rollout that owns an alias now: the lock holder once it has a
// candidate (and as long as it runs), else the last one that did.
func (s *sim) currentOf(alias string) string {
	if h := s.w.store.lockHolder(alias); h != "" {
		if r, ok := s.record(h); ok && r.CandidateVersionArn != "" && (!r.Phase.Terminal() || s.lastCurrent[alias] == "") {
			s.lastCurrent[alias] = h
		}
	}
	return s.lastCurrent[alias]
}
