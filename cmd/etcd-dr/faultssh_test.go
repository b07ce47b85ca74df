package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
)

// Case 1 of the fault matrix uses lab blocks 100–105.

// detectBound is the product requirement on noticing a dead node (15 s:
// config.DefaultKeepalive 5 s, dead after three silent intervals) plus 3 s
// of slack for this shared 2-core box: the engine's event and the lab's
// 20 ms timeline poll are scheduled goroutines, and under a parallel lab
// run they are seen to lag by up to a second or two. A real regression (a
// longer keepalive, a retry loop) adds whole intervals, far beyond it.
const detectBound = 15*time.Second + 3*time.Second

// verifyDeadline bounds the engine's verify loops in the faulted run: 60 s
// still lets a healthy step 2 and step 4 pass on this box (they take
// 10–30 s), and an engine that waits out its loop instead of noticing the
// dead node shows it in a minute rather than the default two.
const verifyDeadline = 60 * time.Second

// sshDeath is one way a node's SSH can die mid step.
type sshDeath struct {
	name    string
	block   int
	step    steps.StepID // the step the fault hits
	next    steps.StepID // must never start
	trigger string       // a command on cp-2 containing each of these |-separated parts
	// ended: the fault hits when that command has ended (between a step's
	// action and its check) rather than while it runs.
	ended bool
	stop  bool // StopSSH (sshd gone: connections closed) rather than PauseSSH (SIGSTOP-like)
	retry bool // bring the node back and retry to a full lab verify
}

// Case 1: a node's SSH dies — its sshd stopped, or paused as by SIGSTOP or
// a dead link — while a step runs on it. The step fails on that node with
// a reason naming it within 15 s of the fault, the next step never starts,
// the invariants hold, and (one case per kind) a retry after the node
// returns finishes and the lab verifies.
func TestANodeWhoseSSHDiesMidStepFailsThatStepWithin15sAndARetryAfterItReturnsFinishes(t *testing.T) {
	t.Parallel() // each case claims its own lab block (inProcessLab, detachedLab)
	const (
		park1   = `src="$1/$3"|kube-apiserver.yaml|/etc/kubernetes/parked`
		restore = "snapshot restore"
		kubelet = "systemctl restart kubelet"
	)
	for _, tc := range []sshDeath{
		{"its sshd stopped once step 1 parked its apiserver manifest, before the step's check", 100,
			steps.StopApiservers, steps.RestoreEtcd, park1, true, true, true},
		{"its sshd paused (SIGSTOP) once step 1 parked its apiserver manifest, before the step's check", 101,
			steps.StopApiservers, steps.RestoreEtcd, park1, true, false, false},
		{"its sshd stopped while step 2 restores its member", 102,
			steps.RestoreEtcd, steps.RepointApiservers, restore, false, true, false},
		{"its sshd paused (SIGSTOP) while step 2 restores its member", 103,
			steps.RestoreEtcd, steps.RepointApiservers, restore, false, false, true},
		{"its sshd stopped once step 5 restarted its kubelet, before the step's check", 104,
			steps.FlushCaches, steps.VerifyReport, kubelet, true, true, false},
		{"its sshd paused (SIGSTOP) once step 5 restarted its kubelet, before the step's check", 105,
			steps.FlushCaches, steps.VerifyReport, kubelet, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind := map[bool]string{true: "sshd stopped", false: "sshd paused"}[tc.stop]
			row := &faultRow{Case: "1 " + kind + " mid " + string(tc.step),
				Injected: "cp-2's SSH server " + map[bool]string{true: "closed", false: "frozen"}[tc.stop] +
					map[bool]string{true: " once its first `", false: " during its first `"}[tc.ended] +
					strings.ReplaceAll(tc.trigger, "|", " … ") + map[bool]string{true: "` ended", false: "`"}[tc.ended]}
			defer row.log(t)
			l := inProcessLab(t, tc.block)
			on := lab.EvSSHExec
			if tc.ended {
				on = lab.EvSSHExit
			}
			fired := faultWhen(t, l, "cp-2", on, tc.trigger, func() error {
				if tc.stop {
					return l.StopSSH("cp-2")
				}
				return l.PauseSSH("cp-2")
			})
			saw, err := runEngine(t, l.ClusterFile(), verifyDeadline)
			if err == nil {
				t.Fatalf("the run succeeded although cp-2's SSH died:\n%s", tail(saw, 40))
			}
			at := fired()
			if at.IsZero() {
				t.Fatalf("the fault never fired: no command matching %q ran on cp-2:\n%s", tc.trigger, tail(saw, 40))
			}
			failed := requireNodeFailed(t, saw, "cp-2", string(tc.step))
			row.Saw = reason(failed)
			ft, ok := eventTime(failed, at)
			if !ok {
				t.Fatalf("no time stamp on the failure line: %s", failed)
			}
			d := ft.Sub(at)
			row.Detect = d.Round(10*time.Millisecond).String() + " after the fault"
			if d > detectBound {
				row.Detect += fmt.Sprintf(" (OVER the %s bound)", detectBound)
				t.Errorf("cp-2's failure came %s after its SSH died; the bound is %s", d, detectBound)
			}
			if line, ok := stepStarted(saw, string(tc.next)); ok {
				t.Errorf("%s started after cp-2 died:\n%s", tc.next, line)
			}
			row.held(requireSafety(t, l.Dir()))
			if !tc.retry {
				return
			}
			if tc.stop {
				must(t, l.RestartSSH("cp-2"))
			} else {
				must(t, l.ResumeSSH("cp-2"))
			}
			if saw, err := runEngine(t, l.ClusterFile(), 0); err != nil {
				t.Fatalf("the retry after cp-2 returned failed: %v\n%s", err, tail(saw, 60))
			}
			row.held(requireInvariants(t, l.Dir()))
			row.Saw += "; the retry after cp-2 returned finished, full lab verify"
		})
	}
}

// requireNodeFailed returns the line on which node failed step, failing the
// test if there is none or it does not say which node and address died.
func requireNodeFailed(t *testing.T, saw, node, step string) string {
	t.Helper()
	for _, l := range strings.Split(saw, "\n") {
		if n, ok := nodeLine(l, step, "failed"); ok && n == node {
			if !strings.Contains(l, "node "+node+" (") {
				t.Errorf("the failure does not name %s and its address: %s", node, l)
			}
			return l
		}
	}
	t.Fatalf("no %s failed line for %s:\n%s", step, node, tail(saw, 40))
	return ""
}

// faultWhen calls inject as soon as the lab's timeline shows an event of
// kind (a command started, or ended) on node whose command contains every
// |-separated part of trigger. The returned func gives the time inject ran (zero
// if it never did); the poll ends with the test.
func faultWhen(t *testing.T, l *lab.Lab, node, kind, trigger string, inject func() error) func() time.Time {
	t.Helper()
	parts := strings.Split(trigger, "|")
	var (
		mu sync.Mutex
		at time.Time
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			evs, _ := lab.ReadTimeline(l.Dir())
			for _, e := range evs {
				if e.Node == node && e.Kind == kind && containsAll(e.Command, parts) {
					// Recorded before the injection: a stopped sshd can fail
					// the run before inject returns, and fired() is read then.
					mu.Lock()
					at = time.Now()
					mu.Unlock()
					if err := inject(); err != nil {
						t.Errorf("inject the fault on %s: %v", node, err)
					}
					return
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done; _ = l.ResumeSSH(node) })
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return at
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
