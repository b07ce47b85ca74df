package tui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// localExec runs each action's command on this machine with sh, streaming
// its output: real processes and real lines, with no SSH in between.
type localExec struct{}

func (localExec) Run(ctx context.Context, node string, cmd nodes.Cmd, onLine func(nodes.Line)) (nodes.Result, error) {
	start := time.Now()
	c := exec.CommandContext(ctx, "sh", "-c", cmd.Script)
	out, err := c.StdoutPipe()
	if err != nil {
		return nodes.Result{Node: node, ExitCode: -1}, err
	}
	if err := c.Start(); err != nil {
		return nodes.Result{Node: node, ExitCode: -1}, err
	}
	var collected strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		collected.WriteString(sc.Text() + "\n")
		if onLine != nil {
			onLine(nodes.Line{Node: node, Time: time.Now(), Text: sc.Text()})
		}
	}
	_, _ = io.Copy(io.Discard, out)
	err = c.Wait()
	res := nodes.Result{Node: node, Duration: time.Since(start), Stdout: collected.String(), ExitCode: c.ProcessState.ExitCode()}
	if err != nil {
		res.Err = err
	}
	return res, nil
}

// echoPlan is an action per node that prints what it would do.
func echoPlan(what string, nodeNames ...string) func(*steps.Context) ([]steps.Action, error) {
	return func(*steps.Context) ([]steps.Action, error) {
		var out []steps.Action
		for _, n := range nodeNames {
			out = append(out, steps.Action{Node: n, What: what,
				Cmd: nodes.Cmd{Script: fmt.Sprintf("echo '%s on %s'; echo 'error: nothing really happened (test)'", what, n)}})
		}
		return out, nil
	}
}

// TestConsoleDrivesTheRealEngine runs the steps engine with a short runbook
// and answers its gates through the console only: the event and decision
// contract exercised by both sides for real.
func TestConsoleDrivesTheRealEngine(t *testing.T) {
	cl := testCluster()
	j, err := journal.Open(t.TempDir(), cl.Name)
	if err != nil {
		t.Fatal(err)
	}
	var verifies atomic.Int32
	runbook := []steps.Step{
		{ID: steps.Preflight, Title: "preflight", Why: "read-only checks", Plan: echoPlan("sudo -n true", "cp-1", "w-1")},
		{ID: steps.StopApiservers, Title: "stop apiservers", Why: "no apiserver may write during the restore",
			Destructive: true, Plan: echoPlan("park kube-apiserver.yaml", "cp-1", "cp-2", "cp-3"),
			Verify: func(_ context.Context, c *steps.Context) error {
				ok := verifies.Add(1) > 1 // the first look finds it still running
				c.Check("cp-1", "no kube-apiserver process", ok, "")
				if !ok {
					return errors.New("kube-apiserver still running on cp-1")
				}
				return nil
			}},
		{ID: steps.VerifyReport, Title: "verify and report", Verify: func(_ context.Context, c *steps.Context) error {
			c.Check("", "post-snapshot writes gone", true, "")
			return nil
		}},
	}
	eng, err := steps.New(steps.Options{Cluster: cl, Exec: localExec{}, Journal: j, Steps: runbook, Who: "sre@bastion"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Add(1)
	go func() { defer wg.Done(); _, runErr = eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	m := New(Options{Cluster: cl, Events: eng.Events(), Decide: eng.Decide, Operator: "sre@bastion"})
	m.noColor, m.st = true, newStyles(true, true)
	done := make(chan struct{})
	m.done = done
	f := &flow{tm: teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 40))}
	t.Cleanup(func() { close(done) })

	f.waitFor(t, "Gate · preflight")
	f.keys("y")
	f.waitFor(t, "Gate · stop apiservers · destructive")
	f.tm.Type("prod-eu1")
	f.keys("enter")
	f.waitFor(t, "stop apiservers failed", "kube-apiserver still running on cp-1")
	f.tm.Type("prod-eu1") // retrying a destructive step needs the name again
	f.keys("enter")
	f.waitFor(t, "Gate · verify and report")
	f.keys("y")
	f.waitFor(t, "RESTORE COMPLETE")
	f.keys("q")
	fm := f.tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	wg.Wait()
	if runErr != nil {
		t.Fatalf("engine: %v", runErr)
	}
	if fm.quit != nil {
		t.Fatalf("quitting after the scorecard reported %v", fm.quit)
	}
	if n := fm.logs.perNode["cp-2"]; n == nil || n.n == 0 {
		t.Fatal("no output from cp-2 reached the console")
	}
}

// A drill whose invariants do not hold: the verify step fails with the
// reason in plain words, the failure gate offers retry and re-verify, the
// operator aborts, and the scorecard lists the broken invariant first with
// its detail, before the console closes.
func TestABrokenInvariantFailsVerifyAndTheScorecardSaysWhich(t *testing.T) {
	cl := testCluster()
	j, err := journal.Open(t.TempDir(), cl.Name)
	if err != nil {
		t.Fatal(err)
	}
	runbook := []steps.Step{
		{ID: steps.VerifyReport, Title: "verify and report", Verify: func(_ context.Context, c *steps.Context) error {
			c.Check("", "old-data-dirs-untouched", true, "cp-1: /var/lib/etcd unchanged")
			c.Check("", "seed-served-post-snapshot-gone", false, "configmap default/post-1 is still served")
			return errors.New("the drill's invariants do not hold: seed-served-post-snapshot-gone")
		}},
	}
	eng, err := steps.New(steps.Options{Cluster: cl, Exec: localExec{}, Journal: j, Steps: runbook, Who: "sre@bastion"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Add(1)
	go func() { defer wg.Done(); _, runErr = eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	m := New(Options{Cluster: cl, Events: eng.Events(), Decide: eng.Decide, Operator: "sre@bastion", Drill: true})
	m.noColor, m.st = true, newStyles(true, true)
	done := make(chan struct{})
	m.done = done
	f := &flow{tm: teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 40))}
	t.Cleanup(func() { close(done) })

	f.waitFor(t, "Gate · verify and report")
	f.keys("y")
	f.waitFor(t, "Failed: the drill's invariants do not hold", "retry", "re-verify",
		"check failed: seed-served-post-snapshot-gone (configmap default/post-1 is still served)")
	f.keys("left", "left", "left") // the buttons stop at the first: make sure, then walk to abort
	f.keys("right", "right", "enter")
	f.waitFor(t, "1 INVARIANT(S) FAILED", "INVARIANTS  1 passed, 1 failed",
		"✗ seed-served-post-snapshot-gone — configmap default/post-1 is still served")
	f.keys("q")
	fm := f.tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	wg.Wait()
	if !errors.Is(runErr, steps.ErrAborted) {
		t.Fatalf("engine ended with %v, want the operator's abort", runErr)
	}
	if fm.quit != nil {
		t.Fatalf("quitting the scorecard of an ended run reported %v", fm.quit)
	}
}
