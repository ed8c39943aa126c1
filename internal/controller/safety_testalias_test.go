package controller_test

import (
	"strings"
	"testing"

	"github.com/sfn-rollout/sfn-rollout/internal/controller"
	"github.com/sfn-rollout/sfn-rollout/internal/rollout"
	"github.com/sfn-rollout/sfn-rollout/internal/topology"
)

// startBlueGreen sets up the orders state machine with the alias given (on v1), any other
// aliases (on v1 too), and a BLUE_GREEN rollout.json, uploads v2 and runs Prepare.
func startBlueGreen(t *testing.T, alias, policy string, others ...string) (*world, *execution) {
	t.Helper()
	w := newWorld(t)
	w.sfn.create("orders", definition("orders v1"), managed(), alias)
	for _, o := range others {
		if _, err := (aliasPort{w.sfn}).Create(w.ctx, smArn("orders"), o, "by hand", []rollout.Route{{VersionArn: versionOf("orders", 1), Weight: 100}}); err != nil {
			t.Fatal(err)
		}
	}
	w.s3.put(testBucket, "orders/"+alias+"/rollout.json", policy, nil)
	e := w.execute(w.upload("orders/"+alias+"/definition.asl.json", definition("orders v2"), nil))
	e.prepare()
	return w, e
}

// aliasNames lists the state machine's aliases with their routing, as "name:v1=100".
func aliasNames(t *testing.T, w *world) []string {
	t.Helper()
	list, err := (aliasPort{w.sfn}).List(w.ctx, smArn("orders"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.Name+":"+w.sfn.routing(a.Arn))
	}
	return out
}

// An alias of 80 characters: "<alias>-test" cut to 80 is the alias itself. The test alias
// must be another, and the production alias must never route to the untested candidate
// before the switch, nor be deleted by Finalize.
func TestBlueGreenLongAliasIsNeverHijacked(t *testing.T) {
	for _, alias := range []string{
		strings.Repeat("a", 80),
		strings.Repeat("b", 75) + "-test", // the alias cut to 75 plus "-test" is the alias again
	} {
		t.Run(alias[70:], func(t *testing.T) {
			w, e := startBlueGreen(t, alias, `{"strategy":"BLUE_GREEN","approval":true}`)
			if e.prepareErr != nil {
				t.Fatalf("Prepare: %v", e.prepareErr)
			}
			prod := topology.AliasArn(smArn("orders"), alias)
			e.register()
			if e.registerErr != nil {
				t.Fatalf("Register: %v", e.registerErr)
			}
			wantEqual(t, "production alias while the tests run", w.sfn.routing(prod), "v1=100")
			r := w.record(e.id())
			if r.TestAliasArn == "" || r.TestAliasArn == prod || len(r.TestAlias) > 80 || r.TestAlias == alias {
				t.Fatalf("test alias %q (%s) for alias %q", r.TestAlias, r.TestAliasArn, alias)
			}
			wantEqual(t, "test alias", w.sfn.routing(r.TestAliasArn), "v2=100")
			if _, err := w.control(e.id(), rollout.CommandApprove, "alice"); err != nil {
				t.Fatal(err)
			}
			e.ticks(5)
			e.finalize()
			wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
			wantEqual(t, "aliases after Finalize", aliasNames(t, w), []string{alias + ":v2=100"})
		})
	}
}

// A testAlias that names an existing alias is refused at Prepare; the alias is untouched.
func TestBlueGreenTestAliasThatExistsIsRefused(t *testing.T) {
	w, e := startBlueGreen(t, "prod", `{"strategy":"BLUE_GREEN","testAlias":"staging"}`, "staging")
	if controller.ErrorCode(e.prepareErr) != "TestAliasExists" || !strings.Contains(e.prepareErr.Error(), "staging") {
		t.Fatalf("Prepare = %v, want TestAliasExists naming staging", e.prepareErr)
	}
	e.finalize()
	wantPhase(t, w, e.id(), rollout.Failed, "TestAliasExists")
	wantEqual(t, "aliases", aliasNames(t, w), []string{"prod:v1=100", "staging:v1=100"})
}

// A derived name never equals an existing alias: "prod-test" belongs to someone else, so
// the rollout takes another name and leaves "prod-test" alone.
func TestBlueGreenDerivedTestAliasAvoidsExistingOnes(t *testing.T) {
	w, e := startBlueGreen(t, "prod", `{"strategy":"BLUE_GREEN","approval":true}`, "prod-test")
	if e.prepareErr != nil {
		t.Fatalf("Prepare: %v", e.prepareErr)
	}
	e.register()
	if e.registerErr != nil {
		t.Fatalf("Register: %v", e.registerErr)
	}
	r := w.record(e.id())
	if r.TestAlias == "prod-test" || r.TestAlias == "prod" || r.TestAlias == "" {
		t.Fatalf("test alias %q", r.TestAlias)
	}
	wantEqual(t, "aliases while the tests run", aliasNames(t, w), []string{"prod:v1=100", "prod-test:v1=100", r.TestAlias + ":v2=100"})
	if _, err := w.control(e.id(), rollout.CommandApprove, "alice"); err != nil {
		t.Fatal(err)
	}
	e.ticks(5)
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
	wantEqual(t, "aliases after Finalize", aliasNames(t, w), []string{"prod:v2=100", "prod-test:v1=100"})
}

// An alias of the chosen name that appears between Prepare and Register is not ours:
// Register does not move it, the rollout fails before any traffic moved, and Finalize
// leaves the alias.
func TestBlueGreenTestAliasTakenAfterPrepare(t *testing.T) {
	w, e := startBlueGreen(t, "prod", `{"strategy":"BLUE_GREEN","testAlias":"preview"}`)
	if e.prepareErr != nil {
		t.Fatalf("Prepare: %v", e.prepareErr)
	}
	if _, err := (aliasPort{w.sfn}).Create(w.ctx, smArn("orders"), "preview", "someone else's", []rollout.Route{{VersionArn: versionOf("orders", 1), Weight: 100}}); err != nil {
		t.Fatal(err)
	}
	e.register()
	e.finalize()
	wantPhase(t, w, e.id(), rollout.Failed, "TestAliasExists")
	wantEqual(t, "aliases", aliasNames(t, w), []string{"prod:v1=100", "preview:v1=100"})
}

// Register replayed after a crash that followed the alias's creation finds its own alias
// (Step Functions answers an identical create with it) and records it.
func TestBlueGreenTestAliasCreateReplayed(t *testing.T) {
	w, e := startBlueGreen(t, "prod", `{"strategy":"BLUE_GREEN","approval":true}`)
	if e.prepareErr != nil {
		t.Fatalf("Prepare: %v", e.prepareErr)
	}
	crashed := false
	w.faults.hook("Store.SaveRollout", func(arg any) error {
		if r, ok := arg.(rollout.Rollout); ok && r.TestAliasArn != "" && !crashed {
			crashed = true
			return errCrash
		}
		return nil
	})
	e.register()
	if !crashed {
		t.Fatal("the crash never happened")
	}
	w.faults.hook("Store.SaveRollout", nil)
	e.register()
	if e.registerErr != nil {
		t.Fatalf("Register replayed: %v", e.registerErr)
	}
	r := w.record(e.id())
	wantEqual(t, "test alias", r.TestAliasArn, topology.AliasArn(smArn("orders"), "prod-test"))
	if _, err := w.control(e.id(), rollout.CommandAbort, "alice"); err != nil {
		t.Fatal(err)
	}
	e.finalize()
	wantEqual(t, "aliases after Finalize", aliasNames(t, w), []string{"prod:v1=100"})
}

// Finalize never deletes the alias being rolled out, whatever the record says.
func TestFinalizeNeverDeletesTheProductionAlias(t *testing.T) {
	w, e := startBlueGreen(t, "prod", `{"strategy":"BLUE_GREEN","approval":true}`)
	e.register()
	r := w.record(e.id())
	r.TestAliasArn = r.AliasArn
	if _, err := w.store.SaveRollout(w.ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := w.control(e.id(), rollout.CommandAbort, "alice"); err != nil {
		t.Fatal(err)
	}
	e.finalize()
	wantEqual(t, "production alias", w.sfn.routing(aliasOf("orders")), "v1=100")
}

// Case 10: a BLUE_GREEN rollout paused by an operator while its pre-traffic tests run
// still gets its test alias when Register comes: the test window runs on it.
func TestBlueGreenPausedDuringPreTrafficHasItsTestAlias(t *testing.T) {
	w, e := startBlueGreen(t, "prod", `{"strategy":"BLUE_GREEN","approval":true}`)
	if e.prepareErr != nil {
		t.Fatalf("Prepare: %v", e.prepareErr)
	}
	if _, err := w.control(e.id(), rollout.CommandPause, "alice"); err != nil {
		t.Fatal(err)
	}
	e.register()
	if e.registerErr != nil {
		t.Fatalf("Register: %v", e.registerErr)
	}
	testAlias := topology.AliasArn(smArn("orders"), "prod-test")
	wantEqual(t, "test alias while paused", w.sfn.routing(testAlias), "v2=100")
	wantEqual(t, "production alias", w.sfn.routing(aliasOf("orders")), "v1=100")
	if _, err := w.control(e.id(), rollout.CommandResume, "alice"); err != nil {
		t.Fatal(err)
	}
	e.tick()
	wantEqual(t, "test alias in the approval wait", w.sfn.routing(testAlias), "v2=100")
	if _, err := w.control(e.id(), rollout.CommandApprove, "alice"); err != nil {
		t.Fatal(err)
	}
	e.ticks(5)
	e.finalize()
	wantFinalized(t, w, e, topology.DetailRolloutSucceeded)
	wantEqual(t, "aliases after Finalize", aliasNames(t, w), []string{"prod:v2=100"})
}
