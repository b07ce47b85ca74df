package tui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"
	"go.uber.org/goleak"

	"github.com/etcd-dr/etcd-dr/steps"
)

func TestMain(m *testing.M) {
	// teatest watches SIGINT in a goroutine that lives as long as the test
	// binary; everything the console itself starts must be gone.
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/charmbracelet/x/exp/teatest/v2.NewTestModel.func2"),
		goleak.IgnoreTopFunction("os/signal.signal_recv"),
	)
}

// flow is a console under teatest with a scripted engine.
type flow struct {
	tm        *teatest.TestModel
	events    chan steps.Event
	decisions chan steps.Decision
}

func startFlow(t *testing.T, readOnly bool) *flow {
	t.Helper()
	return startFlowOf(t, readOnly, restoreRunbook())
}

// startFlowOf is startFlow for the runbook the engine announces first.
func startFlowOf(t *testing.T, readOnly bool, runbook steps.RunbookEvent) *flow {
	t.Helper()
	f := &flow{events: make(chan steps.Event, 256), decisions: make(chan steps.Decision, 8)}
	o := Options{Events: f.events, Drill: true, Resume: "etcd-dr console -f prod-eu1.yaml", Operator: "sre@bastion"}
	if !readOnly {
		o.Decide = func(d steps.Decision) { f.decisions <- d }
	}
	m := New(o)
	m.noColor = true
	m.st = newStyles(true, true)
	done := make(chan struct{})
	m.done = done
	f.tm = teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 40))
	f.send(runbook) // the engine's first event
	t.Cleanup(func() {
		close(done)
		_ = f.tm.Quit()
		f.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	})
	return f
}

func (f *flow) send(evs ...steps.Event) {
	for _, ev := range evs {
		f.events <- ev
	}
}

func (f *flow) keys(keys ...string) {
	for _, k := range keys {
		f.tm.Send(keyMsg(k))
	}
}

// waitFor waits until the screen shows every one of texts.
func (f *flow) waitFor(t *testing.T, texts ...string) {
	t.Helper()
	teatest.WaitFor(t, f.tm.Output(), func(b []byte) bool {
		plain := ansi.Strip(string(b))
		for _, s := range texts {
			if !strings.Contains(plain, s) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

func (f *flow) noDecision(t *testing.T) {
	t.Helper()
	select {
	case d := <-f.decisions:
		t.Fatalf("the engine got a decision it must not get: %+v", d)
	case <-time.After(100 * time.Millisecond):
	}
}

func (f *flow) decision(t *testing.T) steps.Decision {
	t.Helper()
	select {
	case d := <-f.decisions:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("the engine got no decision")
	}
	return steps.Decision{}
}

func TestGateStaysShutWithoutTheTypedClusterName(t *testing.T) {
	f := startFlow(t, false)
	f.send(append(preflightDone(), steps.GateEvent{At: at(13), Gate: stopGate()})...)
	f.waitFor(t, "Type the cluster name prod-eu1 to confirm")

	f.keys("enter")
	f.waitFor(t, "to open this gate, or esc to back out")
	f.noDecision(t)

	f.tm.Type("prod-eu2")
	f.keys("enter")
	f.waitFor(t, "is not this cluster's name")
	f.noDecision(t)

	// Backing out leaves the gate pending; o reopens it.
	f.keys("esc")
	f.waitFor(t, "gate waiting (o)")
	f.noDecision(t)
	f.keys("o")
	f.waitFor(t, "Gate · Stop every kube-apiserver · destructive")
}

func TestTypedClusterNameOpensTheGate(t *testing.T) {
	f := startFlow(t, false)
	f.send(append(preflightDone(), steps.GateEvent{At: at(13), Gate: stopGate()})...)
	f.waitFor(t, "Type the cluster name prod-eu1 to confirm")
	f.tm.Type("prod-eu1")
	f.keys("enter")
	got := f.decision(t)
	want := steps.Decision{Proceed: true, Typed: "prod-eu1", By: "sre@bastion"}
	if got != want {
		t.Fatalf("decision = %+v, want %+v", got, want)
	}
}

func TestPlainGateProceedsWithY(t *testing.T) {
	f := startFlow(t, false)
	g := steps.Gate{Step: steps.Preflight, Title: "preflight", Why: "read-only checks on every node"}
	f.send(steps.GateEvent{At: at(0), Gate: g})
	f.waitFor(t, "Gate · preflight")
	f.keys("y")
	if got := f.decision(t); !got.Proceed || got.Choice != "" {
		t.Fatalf("decision = %+v, want a plain proceed", got)
	}
}

func TestFailedVerifyOffersRetry(t *testing.T) {
	f := startFlow(t, false)
	f.send(allDone(false)...)
	f.waitFor(t, "verify and report failed", "[ retry ]", "re-verify", "abort", "post-snapshot writes are still served")
	f.keys("enter")
	got := f.decision(t)
	if got.Choice != steps.ChoiceRetry || !got.Proceed {
		t.Fatalf("decision = %+v, want choice retry", got)
	}
}

func TestQuitDuringARunningStepAsksFirst(t *testing.T) {
	f := startFlow(t, false)
	f.send(restoreRunning()...)
	f.waitFor(t, "2 still on restore etcd")

	f.keys("q")
	f.waitFor(t, "Quit while a step is running?", "Resume later with: etcd-dr console -f prod-eu1.yaml")
	f.keys("n")
	f.keys("q")
	f.keys("y")
	fm := f.tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	if fm.quit == nil || fm.quit.Step != steps.RestoreEtcd || !fm.quit.Running {
		t.Fatalf("quit = %+v, want restore-etcd running", fm.quit)
	}
	if msg := fm.quit.Error(); !strings.Contains(msg, "resume with: etcd-dr console -f prod-eu1.yaml") {
		t.Fatalf("quit error %q does not say how to resume", msg)
	}
}

func TestReadOnlyConsoleNeverAnswersGates(t *testing.T) {
	f := startFlow(t, true)
	f.send(append(preflightDone(), steps.GateEvent{At: at(13), Gate: stopGate()})...)
	f.waitFor(t, "Read-only: the operator answers this gate")
	f.keys("y", "enter")
	f.tm.Type("prod-eu1")
	f.keys("enter")
	f.noDecision(t)
}

// The rollback console lists the rollback's own steps from the runbook the
// engine announces, asks for the cluster name at its destructive gate, and
// ends on the rollback's scorecard.
func TestRollbackConsoleShowsItsOwnStepsThroughItsGate(t *testing.T) {
	f := startFlowOf(t, false, rollbackRunbook())
	f.waitFor(t, "check old data dirs", "2 etcd to old data", "3 old --etcd-servers", "release the lock")
	evs := rollbackAtGate()[1:] // the runbook was announced
	f.send(evs...)
	f.waitFor(t, "Point every etcd member back at its old data dir", "Type the cluster name prod-eu1")
	f.keys("enter")
	f.noDecision(t)
	for _, r := range "prod-eu1" {
		f.keys(string(r))
	}
	f.keys("enter")
	if d := f.decision(t); !d.Proceed || d.Typed != "prod-eu1" || d.Choice != "" {
		t.Fatalf("decision = %+v, want proceed with the cluster name typed", d)
	}
	f.send(rollbackDone()[len(rollbackAtGate()):]...)
	f.waitFor(t, "ROLLBACK COMPLETE", "release the lock")
	f.keys("q")
	fm := f.tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	var got []steps.StepID
	for _, s := range fm.rs.steps {
		got = append(got, s.ID)
	}
	want := []steps.StepID{steps.RollbackCheck, steps.StopApiservers, steps.RollbackEtcd, steps.RollbackEtcdServers,
		steps.StartApiservers, steps.FlushCaches, steps.RollbackDone}
	if !slices.Equal(got, want) {
		t.Fatalf("the console listed %v, want the rollback's own steps %v", got, want)
	}
}
