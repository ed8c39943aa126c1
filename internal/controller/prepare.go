package controller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// staleLock is how long a lock may outlive its rollout's end before a new upload takes it:
// finalize releases it within seconds, so an older one means finalize never ran.
const staleLock = 15 * time.Minute

// Uploads remember the uploads Prepare has seen, so that a redelivered event starts no
// second rollout.
type Uploads interface {
	// ClaimUpload records an upload; if it was seen before it returns the existing claim
	// and ErrConflict.
	ClaimUpload(ctx context.Context, c UploadClaim) (UploadClaim, error)
}

// upload is the parsed Object Created event.
type upload struct {
	env    Envelope
	obj    ObjectCreated
	key    topology.ArtifactKey
	id     string // bucket/key#version
	smArn  string
	alias  string
	rollID string
}

func parseUpload(raw json.RawMessage) (upload, error) {
	env, obj, err := DecodeObjectCreated(raw)
	if err != nil {
		return upload{}, err
	}
	key, err := topology.ParseArtifactKey(obj.Object.Key)
	if err != nil {
		return upload{}, wrapf(EInvalidEvent, err, "upload is not a definition")
	}
	if env.Region == "" || env.AccountID == "" {
		return upload{}, Errorf(EInvalidEvent, "event %s has no region or account", env.ID)
	}
	version := obj.Object.VersionID
	if version == "" {
		version = obj.Object.Sequencer
	}
	if version == "" {
		version = obj.Object.ETag
	}
	u := upload{env: env, obj: obj, key: key}
	u.id = obj.Bucket.Name + "/" + key.Key() + "#" + version
	u.smArn = topology.StateMachineArn(topology.Partition(env.Region), env.Region, env.AccountID, key.StateMachine)
	u.alias = topology.AliasArn(u.smArn, key.Alias)
	u.rollID = RolloutID(u.id)
	return u, nil
}

// RolloutID is derived from the upload, so that every delivery of one upload and every
// retry of one step names the same rollout.
func RolloutID(uploadID string) string {
	sum := sha256.Sum256([]byte(uploadID))
	return "r-" + hex.EncodeToString(sum[:6])
}

// Prepare turns an upload into a rollout ready for traffic: it drops duplicate deliveries,
// refuses bad input with a named error recorded on the rollout (the alias untouched),
// takes the alias's lock (or queues, or supersedes, as the policy says) and publishes the
// candidate version. It is safe to run again for the same execution.
//
// A throttled call is retried within the invocation (whileThrottled), then answered
// Throttled: it delays the upload and never refuses it.
func (c *Controller) Prepare(ctx context.Context, s State) (PrepareResult, error) {
	u, err := parseUpload(s.Event)
	if err != nil {
		return PrepareResult{}, err
	}
	return whileThrottled(ctx, c, func() string { return u.rollID }, func(ctx context.Context) (PrepareResult, error) {
		return c.prepareOnce(ctx, s, u)
	})
}

// prepareOnce is one attempt of Prepare.
func (c *Controller) prepareOnce(ctx context.Context, s State, u upload) (PrepareResult, error) {
	now := c.now()
	claim, err := c.Uploads.ClaimUpload(ctx, UploadClaim{UploadID: u.id, RolloutID: u.rollID, Execution: s.Execution, ExpiresAt: now.Add(c.cfg.DedupeTTL)})
	fresh := err == nil
	switch {
	case errors.Is(err, ErrConflict) && claim.Execution != s.Execution:
		c.Log.InfoContext(ctx, "duplicate upload", "rollout_id", u.rollID, "upload", u.id, "first_execution", claim.Execution)
		return PrepareResult{RolloutID: u.rollID, Action: ActionDuplicate}, nil
	case err != nil && !errors.Is(err, ErrConflict):
		return PrepareResult{}, transient(fmt.Errorf("claim upload %s: %w", u.id, err))
	}

	r, err := c.Rollouts.GetRollout(ctx, u.rollID)
	switch {
	case errors.Is(err, ErrNotFound):
		r = c.newRecord(u, now)
		if err := c.Rollouts.CreateRollout(ctx, r); err != nil && !errors.Is(err, ErrConflict) {
			return PrepareResult{}, transient(fmt.Errorf("create rollout %s: %w", r.ID, err))
		}
		if r, err = c.Rollouts.GetRollout(ctx, u.rollID); err != nil {
			return PrepareResult{}, transient(fmt.Errorf("read rollout %s: %w", u.rollID, err))
		}
	case err != nil:
		return PrepareResult{}, transient(fmt.Errorf("read rollout %s: %w", u.rollID, err))
	}
	if r.Phase.Terminal() && fresh && r.CreatedAt.Before(now) {
		// A claim of our own on an upload whose rollout has ended: the claim had expired and
		// EventBridge delivered the upload again. Finalizing it a second time would announce
		// its outcome again. A record made since this call claimed the upload is this
		// execution's own (a concurrent retry of this Prepare): it goes on to Finalize.
		c.Log.InfoContext(ctx, "late duplicate upload", "rollout_id", u.rollID, "upload", u.id, "phase", r.Phase)
		return PrepareResult{RolloutID: u.rollID, Action: ActionDuplicate}, nil
	}
	if r.Phase.Terminal() {
		// A retry after the rollout was refused, or a rollout that ended before its Prepare
		// did (superseded): answer as the first time.
		return PrepareResult{RolloutID: r.ID}, FromCode(outcomeErrorName(r), r.Reason)
	}
	if r.Phase != rollout.Pending || r.CandidateVersionArn != "" {
		// A retry after Prepare saved the candidate (its answer was lost, or it died before
		// guarding the alarms): finish what follows the save, and answer as the first time.
		// Checking, locking and publishing again would read the alias that this rollout may
		// already be moving (an operator's promote-full of a Pending rollout) as another's.
		return c.preparedAgain(ctx, r, u)
	}

	var in checked
	if r.PolicyHash != "" {
		// An earlier attempt checked the upload and recorded what it found, then was
		// throttled further on: its quota-bound reads (tags, validation) are not made again.
		in, err = c.checkedBefore(ctx, u, r)
	} else {
		in, err = c.check(ctx, u)
	}
	if err != nil {
		return PrepareResult{RolloutID: r.ID}, c.refuse(ctx, r, err)
	}
	r.Policy, r.PolicyHash, r.Steps, r.Layers = in.policy, in.policy.Hash(), in.policy.Expand(), in.layers
	r.TestAlias = in.testAlias
	r.StateMachineType = in.stateMachineType
	r.Actor = in.actor
	r.PreexistingAlarms = in.firing
	r.AlarmsCheckedAt = in.alarmsReadAt
	if saved, err := c.Rollouts.SaveRollout(ctx, r); err == nil {
		// What the check found, so that a retry after throttling further on starts from
		// here. A save that fails only costs that retry the check again.
		r = saved
	}

	queued, err := c.lock(ctx, &r, in.policy.OnBusy)
	if err != nil {
		if ErrorCode(err) == ETransient {
			// The lock may have been taken all the same (a write that timed out after it
			// landed) for a rollout that ended meanwhile: give it back now.
			if ended := c.endedMeanwhile(ctx, r.ID); ended != nil && ErrorCode(ended) != ETransient {
				return PrepareResult{RolloutID: r.ID}, ended
			}
		}
		return PrepareResult{RolloutID: r.ID}, err
	}
	if queued {
		return PrepareResult{RolloutID: r.ID, Action: ActionQueued, Tests: []TestCase{}}, nil
	}
	if err := c.endedMeanwhile(ctx, r.ID); err != nil {
		return PrepareResult{RolloutID: r.ID}, err
	}
	if err := c.publish(ctx, &r, u, in); err != nil {
		return PrepareResult{RolloutID: r.ID}, err
	}
	// Guarded before the record is saved: once the record has its candidate, an alarm's
	// event must find it (a save that answers an error may have landed).
	if err := c.AlarmGuards.GuardAlarms(ctx, r.ID, r.Policy.Alarms); err != nil {
		return PrepareResult{RolloutID: r.ID}, transient(fmt.Errorf("guard alarms of %s: %w", r.ID, err))
	}
	note(&r, now, actorOr(r.Actor), "Prepared", fmt.Sprintf("candidate %s over stable %s; %s", r.CandidateVersionArn, r.StableVersionArn, describeSteps(r.Steps)))
	saved, err := c.Rollouts.SaveRollout(ctx, r)
	if errors.Is(err, ErrConflict) {
		if err := c.endedMeanwhile(ctx, r.ID); err != nil {
			return PrepareResult{RolloutID: r.ID}, err
		}
	}
	if err != nil {
		return PrepareResult{RolloutID: r.ID}, transient(fmt.Errorf("save rollout %s: %w", r.ID, err))
	}
	if err := c.writeNoted(ctx, saved); err != nil {
		// The retry finds the candidate saved, and writes the line (preparedAgain).
		return PrepareResult{RolloutID: r.ID}, err
	}
	c.logFor(saved).InfoContext(ctx, "prepared", "stable", saved.StableVersionArn, "candidate", saved.CandidateVersionArn, "tests", len(in.tests))
	res := c.prepared(saved)
	res.Tests = in.tests
	return res, nil
}

// endedMeanwhile checks, once this Prepare holds the alias's lock, that its rollout has not
// ended meanwhile: without a candidate (an abort, or its execution's Finalize after this
// Prepare's earlier attempt failed for good), it never touched the alias; with one, its
// Finalize already gave the alias up (fenceClosedAt) before this stale attempt took the lock
// again. Either way no write of it can come, and the lock is given back at once, so that the
// alias is not held by an ended rollout until its lock goes stale.
func (c *Controller) endedMeanwhile(ctx context.Context, id string) error {
	r, err := c.Rollouts.GetRollout(ctx, id)
	if err != nil {
		return c.notFound(id, err)
	}
	if !r.Phase.Terminal() || (r.CandidateVersionArn != "" && r.FenceClosedAt.IsZero()) {
		// Not ended; or ended with a candidate whose Finalize has not begun to give the
		// alias up, which it does itself.
		return nil
	}
	wasSettled := r.Settled
	if wasSettled {
		// Its Finalize is over, and nobody may retry this stale attempt: back into the
		// sweep's index first, so that should the release below fail, the sweep's tick of
		// an ended rollout gives the lock back (Advance, orphaned) instead of the next
		// upload finding it stale.
		r.Settled = false
		if _, err := c.Rollouts.SaveRollout(ctx, r); err != nil {
			c.logFor(r).WarnContext(ctx, "unsettle a rollout whose stale Prepare took its lock again", "err", err)
		}
	}
	if r.CandidateVersionArn != "" {
		// Given up once already: give it up again the same way (fence, wait, check), which
		// is safe beside a Finalize still doing so.
		if err := c.releaseAlias(ctx, id, r.AliasArn); err != nil {
			return err
		}
	} else if err := c.Locks.ReleaseLock(ctx, r.AliasArn, id); err != nil {
		return transient(fmt.Errorf("release lock of %s: %w", id, err))
	}
	if wasSettled {
		if err := c.markSettled(ctx, id); err != nil {
			c.Log.WarnContext(ctx, "settle again", "rollout_id", id, "err", err)
		}
	}
	return FromCode(outcomeErrorName(r), r.Reason)
}

// preparedAgain answers a retried Prepare whose record has its candidate.
func (c *Controller) preparedAgain(ctx context.Context, r rollout.Rollout, u upload) (PrepareResult, error) {
	if r.Noted != nil && r.Noted.Action == "Prepared" {
		if err := c.writeNoted(ctx, r); err != nil {
			return PrepareResult{RolloutID: r.ID}, err
		}
	}
	if err := c.AlarmGuards.GuardAlarms(ctx, r.ID, r.Policy.Alarms); err != nil {
		return PrepareResult{RolloutID: r.ID}, transient(fmt.Errorf("guard alarms of %s: %w", r.ID, err))
	}
	tests, err := c.loadTests(ctx, u)
	if err != nil {
		return PrepareResult{RolloutID: r.ID}, err
	}
	res := c.prepared(r)
	res.Tests = tests
	return res, nil
}

func (c *Controller) newRecord(u upload, now time.Time) rollout.Rollout {
	return rollout.Rollout{
		ID: u.rollID, StateMachineArn: u.smArn, StateMachineName: u.key.StateMachine,
		AliasName: u.key.Alias, AliasArn: u.alias, Phase: rollout.Pending,
		CreatedAt: now, UpdatedAt: now,
		Upload: rollout.Upload{Bucket: u.obj.Bucket.Name, Key: u.key.Key(), VersionID: u.obj.Object.VersionID, ETag: u.obj.Object.ETag, Sequencer: u.obj.Object.Sequencer},
		Reason: "received " + u.key.Key(),
	}
}

// prepared is Prepare's answer for a record that has its candidate.
func (c *Controller) prepared(r rollout.Rollout) PrepareResult {
	return PrepareResult{RolloutID: r.ID, Action: ActionStart, CandidateVersionArn: r.CandidateVersionArn, Tests: []TestCase{}, TimeoutSeconds: timeoutSeconds(r.Policy)}
}

// MaxRolloutTimeout is the longest a rollout may take from its candidate to its end: Step
// Functions' longest execution, a year. It is also the deadline of the longest policies:
// CUSTOM pauses have no upper bound of their own.
const MaxRolloutTimeout = 365 * 24 * time.Hour

// timeoutSeconds bounds the progress wait: twice the planned duration plus an hour, and a
// week more when a step waits for approval; never more than MaxRolloutTimeout.
func timeoutSeconds(p rollout.Policy) int {
	planned, approval := p.PlannedDuration()
	d := 2*planned + time.Hour
	if approval {
		d += 7 * 24 * time.Hour
	}
	d = min(d, MaxRolloutTimeout)
	return int(d / time.Second)
}

// checked is what Prepare learnt from the upload before touching anything.
type checked struct {
	definition string
	policy     rollout.Policy
	layers     []rollout.Layer
	tests      []TestCase
	actor      string
	firing     []string // alarms in ALARM now, ignored until they leave it (preexistingAlarms=ignore)
	// alarmsReadAt is taken just before the alarms were read: any later change of their
	// state is found in their history (see Rollout.AlarmsCheckedAt).
	alarmsReadAt time.Time
	testAlias    string // BLUE_GREEN: the test alias Register creates
	// stateMachineType is the target's type (rollout.TypeStandard or TypeExpress).
	stateMachineType string
}

// check validates the upload without side effects: the state machine exists and is
// managed, the ASL is valid, the policy resolves, its alarms exist (and, with
// preexistingAlarms=block, none fires), BLUE_GREEN's test alias can be a new one, and the
// pre-traffic tests parse.
func (c *Controller) check(ctx context.Context, u upload) (checked, error) {
	var in checked
	sm, err := retryCall(ctx, c, func() (StateMachine, error) { return c.StateMachines.Describe(ctx, u.smArn) })
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return in, Errorf(EStateMachineNotFound, "state machine %s does not exist", u.smArn)
		}
		return in, transient(fmt.Errorf("describe %s: %w", u.smArn, err))
	}
	in.stateMachineType = sm.Type
	if in.stateMachineType == "" {
		in.stateMachineType = rollout.TypeStandard
	}
	tags, err := retryCall(ctx, c, func() (map[string]string, error) { return c.StateMachines.Tags(ctx, u.smArn) })
	if err != nil {
		return in, transient(fmt.Errorf("tags of %s: %w", u.smArn, err))
	}
	if !rollout.IsManaged(tags) {
		return in, Errorf(ENotManaged, "state machine %s lacks the tag %s=true, so the controller may not touch it", u.key.StateMachine, topology.ManagedTag)
	}

	obj, err := c.Artifacts.Get(ctx, u.obj.Bucket.Name, u.key.Key(), u.obj.Object.VersionID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return in, Errorf(EInvalidEvent, "s3://%s/%s is gone", u.obj.Bucket.Name, u.key.Key())
		}
		return in, transient(fmt.Errorf("read s3://%s/%s: %w", u.obj.Bucket.Name, u.key.Key(), err))
	}
	if !json.Valid(obj.Body) {
		var v any
		err := json.Unmarshal(obj.Body, &v)
		return in, wrapf(EInvalidDefinition, err, "%s is not JSON", u.key.Key())
	}
	in.definition = string(obj.Body)
	diags, err := retryCall(ctx, c, func() ([]Diagnostic, error) { return c.StateMachines.Validate(ctx, in.definition, in.stateMachineType) })
	if err != nil {
		return in, transient(fmt.Errorf("validate %s: %w", u.key.Key(), err))
	}
	if len(diags) > 0 {
		msgs := make([]string, len(diags))
		for i, d := range diags {
			msgs[i] = fmt.Sprintf("%s: %s at %s", d.Code, d.Message, d.Location)
		}
		return in, Errorf(EInvalidDefinition, "%s: %s", u.key.Key(), strings.Join(msgs, "; "))
	}

	in.policy, in.layers, err = ResolvePolicy(ctx, c.Artifacts, u.obj.Bucket.Name, u.key, tags, obj.Metadata, c.cfg.MinInterval)
	if err != nil {
		return in, err
	}
	in.actor = obj.Metadata[rollout.MetadataPrefix+"actor"]
	if in.actor == "" {
		in.actor = u.obj.Requester
	}

	if len(in.policy.Alarms) > 0 {
		in.alarmsReadAt = c.now().Truncate(time.Millisecond)
		states, err := retryCall(ctx, c, func() (map[string]rollout.AlarmState, error) { return c.Alarms.States(ctx, in.policy.Alarms) })
		if err != nil {
			return in, transient(fmt.Errorf("describe alarms: %w", err))
		}
		var missing, firing []string
		for _, name := range in.policy.Alarms {
			switch s, ok := states[name]; {
			case !ok || s == rollout.AlarmMissing:
				missing = append(missing, name)
			case s == rollout.AlarmAlarm:
				firing = append(firing, name)
			}
		}
		if len(missing) > 0 {
			return in, Errorf(EAlarmNotFound, "the policy names alarms that do not exist: %s (a missing alarm is never read as OK)", strings.Join(missing, ", "))
		}
		if len(firing) > 0 && in.policy.PreexistingAlarms == rollout.PreexistingBlock {
			return in, Errorf(EAlarmFiring, "alarms already in ALARM before the rollout: %s (preexistingAlarms=block)", strings.Join(firing, ", "))
		}
		if len(firing) > 0 {
			in.firing = firing
		}
	}
	if in.policy.Strategy == rollout.BlueGreen {
		if in.testAlias, err = c.chooseTestAlias(ctx, u.smArn, u.key.Alias, in.policy.TestAlias); err != nil {
			return in, err
		}
	}
	in.tests, err = c.loadTests(ctx, u)
	return in, err
}

// checkedBefore is check for an upload an earlier attempt of Prepare checked: the record
// holds the policy, the actor, the alarms firing then and BLUE_GREEN's test alias, and the
// definition (validated then) and the tests are read again from S3, which has no quota
// worth counting. A definition that is gone since refuses the upload as check would.
func (c *Controller) checkedBefore(ctx context.Context, u upload, r rollout.Rollout) (checked, error) {
	in := checked{policy: r.Policy, layers: r.Layers, actor: r.Actor, firing: r.PreexistingAlarms, alarmsReadAt: r.AlarmsCheckedAt, testAlias: r.TestAlias, stateMachineType: r.StateMachineType}
	obj, err := c.Artifacts.Get(ctx, u.obj.Bucket.Name, u.key.Key(), u.obj.Object.VersionID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return in, Errorf(EInvalidEvent, "s3://%s/%s is gone", u.obj.Bucket.Name, u.key.Key())
		}
		return in, transient(fmt.Errorf("read s3://%s/%s: %w", u.obj.Bucket.Name, u.key.Key(), err))
	}
	in.definition = string(obj.Body)
	in.tests, err = c.loadTests(ctx, u)
	return in, err
}

// loadTests reads <sm>/<alias>/tests/*.json.
func (c *Controller) loadTests(ctx context.Context, u upload) ([]TestCase, error) {
	keys, err := c.Artifacts.List(ctx, u.obj.Bucket.Name, u.key.TestsPrefix())
	if err != nil {
		return nil, transient(fmt.Errorf("list %s: %w", u.key.TestsPrefix(), err))
	}
	sort.Strings(keys)
	tests := []TestCase{}
	for _, k := range keys {
		if !strings.HasSuffix(k, ".json") {
			continue
		}
		obj, err := c.Artifacts.Get(ctx, u.obj.Bucket.Name, k, "")
		if err != nil {
			return nil, transient(fmt.Errorf("read %s: %w", k, err))
		}
		var t struct {
			Input  json.RawMessage `json:"input"`
			Expect string          `json:"expect"`
		}
		dec := json.NewDecoder(bytes.NewReader(obj.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&t); err != nil {
			return nil, wrapf(EPreTrafficFailed, err, "test %s is not {\"input\": ..., \"expect\": \"SUCCEEDED\"|\"FAILED\"}", k)
		}
		if t.Expect == "" {
			t.Expect = "SUCCEEDED"
		}
		if t.Expect != "SUCCEEDED" && t.Expect != "FAILED" {
			return nil, Errorf(EPreTrafficFailed, "test %s expects %q; want SUCCEEDED or FAILED", k, t.Expect)
		}
		if len(t.Input) == 0 {
			t.Input = json.RawMessage(`{}`)
		}
		name := testName(k)
		tests = append(tests, TestCase{Name: name, Input: t.Input, Expect: t.Expect})
	}
	return tests, nil
}

// testName makes an execution-name-safe name from a test file name.
func testName(key string) string {
	base := strings.TrimSuffix(path.Base(key), ".json")
	if unescaped, err := url.PathUnescape(base); err == nil {
		base = unescaped
	}
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

// lock makes r the alias's one active rollout, as onBusy says when another holds it.
// It reports queued=true when r must wait for its turn.
func (c *Controller) lock(ctx context.Context, r *rollout.Rollout, onBusy rollout.OnBusy) (queued bool, err error) {
	for range maxAttempts {
		holder, _, err := c.Locks.AcquireLock(ctx, r.AliasArn, r.ID)
		if err == nil {
			r.QueuedBehind = ""
			return false, nil
		}
		if !errors.Is(err, ErrConflict) {
			return false, transient(fmt.Errorf("lock %s: %w", r.AliasArn, err))
		}
		other, err := c.Rollouts.GetRollout(ctx, holder)
		switch {
		case errors.Is(err, ErrNotFound):
			other = rollout.Rollout{ID: holder, Phase: rollout.Failed}
		case err != nil:
			return false, transient(fmt.Errorf("read lock holder %s: %w", holder, err))
		}
		if reason := c.staleHolder(other); reason != "" {
			c.logFor(*r).WarnContext(ctx, "taking a stale lock", "holder", holder, "holder_phase", other.Phase, "why", reason)
			if !other.Phase.Terminal() {
				if _, err := c.stop(ctx, holder, rollout.Failed, ERolloutFailed, reason, "controller"); err != nil {
					return false, err
				}
			}
			if err := c.releaseAlias(ctx, holder, r.AliasArn); err != nil {
				return false, err
			}
			continue
		}
		switch onBusy {
		case rollout.BusyQueue:
			r.Reason = "queued behind rollout " + holder
			r.QueuedBehind = holder
			if _, err := c.Rollouts.SaveRollout(ctx, *r); err != nil {
				return false, transient(fmt.Errorf("save rollout %s: %w", r.ID, err))
			}
			return true, nil
		case rollout.BusySupersede:
			if err := c.supersede(ctx, r.AliasArn, holder, r.ID); err != nil {
				return false, err
			}
			continue
		}
		return false, c.refuse(ctx, *r, Errorf(ERolloutInProgress, "alias %s is busy with rollout %s (%s); onBusy=reject", r.AliasName, holder, other.Phase))
	}
	return false, Errorf(ETransient, "alias %s: lock kept changing hands", r.AliasArn)
}

// staleHolder says why a lock holder no longer deserves its lock, or "": it ended long ago
// and its finalize never ran, or it outlived its deadline (its controller execution is gone,
// stopped by hand, say), or it was woken from the queue and never prepared again.
func (c *Controller) staleHolder(h rollout.Rollout) string {
	now := c.now()
	switch {
	case h.Phase.Terminal() && now.Sub(h.FinishedAt) > staleLock:
		return fmt.Sprintf("rollout %s ended %s at %s and never released the alias", h.ID, h.Phase, h.FinishedAt.Format(time.RFC3339))
	case h.Phase.Terminal():
		return ""
	case !h.Deadline.IsZero() && now.After(h.Deadline.Add(time.Hour)):
		return fmt.Sprintf("rollout %s ran past its deadline %s: its controller execution is gone", h.ID, h.Deadline.Format(time.RFC3339))
	case h.Deadline.IsZero() && h.Phase == rollout.Pending && now.Sub(h.UpdatedAt) > time.Hour:
		return fmt.Sprintf("rollout %s took the alias at %s and never prepared: its controller execution is gone", h.ID, h.UpdatedAt.Format(time.RFC3339))
	}
	return ""
}

// supersede aborts the rollout holding the alias in favour of a newer upload, puts the
// alias back on its stable version and hands the lock over. A holder still in its Prepare
// (no candidate yet) is aborted too: otherwise it would publish and start after losing its
// lock, and two rollouts would move one alias.
func (c *Controller) supersede(ctx context.Context, aliasArn, holder, by string) error {
	old, err := c.stop(ctx, holder, rollout.Aborted, "", "superseded by rollout "+by, "controller")
	if err != nil && ErrorCode(err) != ERolloutNotFound {
		return err
	}
	if err == nil && old.AliasArn != "" {
		aliasArn = old.AliasArn
	}
	if err := c.releaseAlias(ctx, holder, aliasArn); err != nil {
		return err
	}
	return c.abortQueued(ctx, aliasArn, by)
}

// abortQueued aborts the uploads queued for the alias: with onBusy=supersede the newest
// upload wins, and an older one deployed after it would undo it.
func (c *Controller) abortQueued(ctx context.Context, aliasArn, by string) error {
	queue, err := c.Queues.Queue(ctx, aliasArn)
	if err != nil {
		return transient(fmt.Errorf("read queue of %s: %w", aliasArn, err))
	}
	for _, q := range queue {
		if q.RolloutID == by {
			continue
		}
		reason := "superseded by rollout " + by + " while queued"
		if _, err := c.stop(ctx, q.RolloutID, rollout.Aborted, "", reason, "controller"); err != nil {
			if ErrorCode(err) != ERolloutNotFound {
				return err
			}
		}
		if err := c.Tasks.Fail(ctx, q.TaskToken, EAborted, reason); err != nil && !errors.Is(err, ErrNotFound) {
			return transient(fmt.Errorf("end the wait of queued %s: %w", q.RolloutID, err))
		}
		if err := c.Queues.Dequeue(ctx, aliasArn, q.RolloutID); err != nil {
			return transient(fmt.Errorf("dequeue %s: %w", q.RolloutID, err))
		}
	}
	return nil
}

// soleVersion is the version an alias routes 100% to, if it routes to one only; a second
// route of weight 0 (Step Functions takes weights 0–100) routes nothing.
func soleVersion(routing []rollout.Route) (string, bool) {
	var only string
	for _, rt := range routing {
		switch {
		case rt.Weight == 100:
			only = rt.VersionArn
		case rt.Weight != 0:
			return "", false
		}
	}
	return only, only != ""
}

// publish reads the alias's stable version, refuses an upload that is already stable,
// and publishes the candidate.
func (c *Controller) publish(ctx context.Context, r *rollout.Rollout, u upload, in checked) error {
	alias, err := retryCall(ctx, c, func() (Alias, error) { return c.Aliases.Describe(ctx, r.AliasArn) })
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return c.release(ctx, *r, Errorf(EStateMachineNotFound, "alias %s of %s does not exist (ManagedStateMachine creates it)", r.AliasName, r.StateMachineName))
		}
		return transient(fmt.Errorf("describe alias %s: %w", r.AliasArn, err))
	}
	stable, ok := soleVersion(alias.Routing)
	if !ok {
		return c.release(ctx, *r, Errorf(ERolloutInProgress, "alias %s routes %s, not 100%% to one version: finish or undo that split first", r.AliasName, rollout.DescribeRouting(alias.Routing)))
	}
	r.StableVersionArn = stable
	// Seen at 100% stable, the intent of a rollout that has not started: a sweep need not
	// read it again before the first step's own read.
	seen := 0
	r.AliasConfirmed, r.AliasReadAt = &seen, c.now()
	same, err := c.hasDefinition(ctx, r.StableVersionArn, in.definition)
	if err != nil {
		return err
	}
	if same {
		return c.release(ctx, *r, Errorf(ENothingToDeploy, "%s is the definition of the stable version %s: nothing to deploy", r.Upload.Key, r.StableVersionArn))
	}
	desc := fmt.Sprintf("sfn-rollout %s from s3://%s/%s", r.ID, r.Upload.Bucket, r.Upload.Key)
	if len(desc) > 256 {
		desc = desc[:256]
	}
	// Publishing a definition again answers the version that holds it: safe to retry.
	candidate, err := retryCall(ctx, c, func() (string, error) { return c.StateMachines.Publish(ctx, r.StateMachineArn, in.definition, desc) })
	if err != nil {
		if errors.Is(err, ErrInvalidDefinition) {
			return c.release(ctx, *r, wrapf(EInvalidDefinition, err, "%s", r.Upload.Key))
		}
		return transient(fmt.Errorf("publish %s: %w", r.StateMachineArn, err))
	}
	if candidate == r.StableVersionArn {
		return c.release(ctx, *r, Errorf(ENothingToDeploy, "publishing %s gave the stable version %s back: nothing to deploy", r.Upload.Key, candidate))
	}
	r.CandidateVersionArn = candidate
	r.Deadline = c.now().Add(time.Duration(timeoutSeconds(r.Policy)) * time.Second)
	r.Reason = fmt.Sprintf("prepared: %s → %s, %s", rollout.VersionLabel(r.StableVersionArn), rollout.VersionLabel(candidate), describeSteps(r.Steps))
	return nil
}

// release gives the lock back and refuses the rollout.
//
// The refusal is recorded first: a save that loses the race to another writer (an
// operator's command) leaves the lock with the rollout, whose retry reads the record again.
func (c *Controller) release(ctx context.Context, r rollout.Rollout, err error) error {
	refused := c.refuse(ctx, r, err)
	if retryable(refused) {
		return refused
	}
	if rerr := c.Locks.ReleaseLock(ctx, r.AliasArn, r.ID); rerr != nil {
		return transient(fmt.Errorf("release lock of %s: %w", r.ID, rerr))
	}
	return refused
}

// refuse records a refused upload as Failed with its error code and reason, announces it,
// and returns the coded error. The alias is never touched.
func (c *Controller) refuse(ctx context.Context, r rollout.Rollout, cause error) error {
	if !errors.As(cause, new(*Error)) {
		return transient(cause)
	}
	if retryable(cause) {
		// Throttling or a lost race is never a refusal: the upload is tried again.
		return cause
	}
	now := c.now()
	r.Phase = rollout.Failed
	r.ErrorName = ErrorCode(cause)
	r.Reason = cause.Error()
	r.FinishedAt, r.UpdatedAt = now, now
	note(&r, now, "controller", "Refused", r.ErrorName+": "+r.Reason)
	saved, err := c.Rollouts.SaveRollout(ctx, r)
	if err != nil {
		return transient(fmt.Errorf("record refusal of %s (%v): %w", r.ID, cause, err))
	}
	if err := c.writeNoted(ctx, saved); err != nil {
		// Finalize writes it again; the refusal's answer does not wait on it.
		c.logFor(saved).ErrorContext(ctx, "append audit event", "err", err)
	}
	// Finalize announces the outcome ("Rollout Failed") once the execution gets there.
	c.logFor(saved).WarnContext(ctx, "refused", "error", r.ErrorName, "reason", r.Reason)
	return cause
}

// sameJSON compares two definitions as JSON values, so that whitespace and key order do
// not make a new version.
func sameJSON(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return a == b
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

func describeSteps(steps []rollout.Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.String()
	}
	return "steps " + strings.Join(parts, " ")
}

func actorOr(a string) string {
	if a == "" {
		return "uploader"
	}
	return a
}

// ResolvePolicy resolves an upload's policy as prepare does: the state machine's tags, the
// rollout.json beside the definition (absent is fine), the upload's metadata, later wins;
// then the checks that need the key and the controller's tick. It returns the layers other
// than the tags, which the record keeps. Policy problems are InvalidPolicy Errors; the CLI
// runs the same function before it uploads.
func ResolvePolicy(ctx context.Context, artifacts Artifacts, bucket string, key topology.ArtifactKey, tags, metadata map[string]string, tick time.Duration) (rollout.Policy, []rollout.Layer, error) {
	tagLayer, err := rollout.ParsePolicyTags(tags)
	if err != nil {
		return rollout.Policy{}, nil, wrapf(EInvalidPolicy, err, "tags of %s", key.StateMachine)
	}
	layers := []rollout.Layer{}
	file, err := artifacts.Get(ctx, bucket, key.PolicyKey(), "")
	switch {
	case err == nil:
		l, err := rollout.ParsePolicyJSON(key.PolicyKey(), file.Body)
		if err != nil {
			return rollout.Policy{}, nil, wrapf(EInvalidPolicy, err, "")
		}
		layers = append(layers, l)
	case !errors.Is(err, ErrNotFound):
		return rollout.Policy{}, nil, transient(fmt.Errorf("read %s: %w", key.PolicyKey(), err))
	}
	meta, err := rollout.ParsePolicyMetadata(metadata)
	if err != nil {
		return rollout.Policy{}, nil, wrapf(EInvalidPolicy, err, "metadata of %s", key.Key())
	}
	layers = append(layers, meta)
	policy, err := rollout.Resolve(append([]rollout.Layer{tagLayer}, layers...)...)
	if err != nil {
		return rollout.Policy{}, nil, wrapf(EInvalidPolicy, err, "")
	}
	if err := policy.CheckTick(tick); err != nil {
		return rollout.Policy{}, nil, wrapf(EInvalidPolicy, err, "")
	}
	if policy.Strategy == rollout.BlueGreen && policy.TestAlias == key.Alias {
		// Register would point the alias itself at the candidate, and Finalize delete it.
		return rollout.Policy{}, nil, Errorf(EInvalidPolicy, "policy field %q: %q is the alias being rolled out; the test alias must be another", "testAlias", policy.TestAlias)
	}
	return policy, layers, nil
}

// hasDefinition reports whether a version holds the definition, compared as JSON values.
func (c *Controller) hasDefinition(ctx context.Context, versionArn, definition string) (bool, error) {
	v, err := retryCall(ctx, c, func() (StateMachine, error) { return c.StateMachines.Describe(ctx, versionArn) })
	if err != nil {
		return false, transient(fmt.Errorf("describe version %s: %w", versionArn, err))
	}
	return sameJSON(v.Definition, definition), nil
}
