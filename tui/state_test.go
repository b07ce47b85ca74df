package tui

import (
	"image/color"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/etcd-dr/etcd-dr/steps"
)

func TestSSHIsDeadOnlyWhenTheEngineSaysTheNodeIsUnreachable(t *testing.T) {
	rs := newRunState(testCluster())
	rs.applyLog(cmdEv(at(0), "cp-1", "sudo -n true"))
	if got := rs.byNode["cp-1"].SSH; got != "connecting" {
		t.Fatalf("ssh = %q, want connecting", got)
	}
	rs.applyLog(logEv(1, "cp-1", "ok"))
	if n := rs.byNode["cp-1"]; n.SSH != "ok" || n.Latency != "1s" {
		t.Fatalf("ssh = %q %q, want ok 1s", n.SSH, n.Latency)
	}
	// A failure whose words mention ssh is not a dead node: the field says.
	rs.apply(steps.NodeEvent{At: at(4), Step: steps.StopApiservers, Node: "cp-1", State: steps.Failed, Err: "ssh-keygen: exit 1"})
	if got := rs.byNode["cp-1"].SSH; got != "ok" {
		t.Fatalf("ssh = %q after a failure of a reachable node, want ok", got)
	}
	rs.apply(steps.NodeEvent{At: at(5), Step: steps.StopApiservers, Node: "cp-1", State: steps.Failed, Err: "connection lost", Unreachable: true})
	if got := rs.byNode["cp-1"].SSH; got != "dead" {
		t.Fatalf("ssh = %q after a lost connection, want dead", got)
	}
}

// The RTO clock is how long the cluster is down: it starts when the first
// destructive step (stop-apiservers) runs, not at preflight, and stops when
// verify passes; the time at gates is counted apart (within the RTO, and
// over the whole run).
func TestRTOClock(t *testing.T) {
	rs := newRunState(testCluster())
	rs.apply(restoreRunbook())
	gate := func(sec int, id steps.StepID) steps.GateEvent {
		return steps.GateEvent{At: at(sec), Gate: steps.Gate{Step: id}}
	}
	if got := rs.rto(at(100)); got != 0 {
		t.Fatalf("rto before the run = %s, want 0", got)
	}
	rs.apply(gate(0, steps.Preflight))
	rs.apply(stepEv(10, steps.Preflight, steps.Running, ""))
	rs.apply(stepEv(15, steps.Preflight, steps.Done, ""))
	rs.apply(gate(20, steps.StopApiservers))
	if got := rs.rto(at(45)); got != 0 {
		t.Fatalf("rto before anything destructive ran = %s, want 0 (the cluster is up)", got)
	}
	rs.apply(stepEv(50, steps.StopApiservers, steps.Running, ""))
	if got := rs.rto(at(70)); got != 20*time.Second {
		t.Fatalf("rto while stop-apiservers runs = %s, want 20s", got)
	}
	rs.apply(stepEv(55, steps.StopApiservers, steps.Done, ""))
	rs.apply(gate(60, steps.RestoreEtcd))
	if got := rs.atGates(at(70), true); got != 10*time.Second {
		t.Fatalf("at gates while down, with the step-2 gate open 10 s = %s, want 10s", got)
	}
	rs.apply(stepEv(80, steps.RestoreEtcd, steps.Running, ""))
	rs.apply(stepEv(100, steps.VerifyReport, steps.Failed, "invariant broken"))
	if rs.finished() {
		t.Fatal("a failed verify ended the run; the operator may still retry")
	}
	rs.apply(stepEv(130, steps.VerifyReport, steps.Done, ""))
	if got := rs.rto(at(999)); got != 80*time.Second {
		t.Fatalf("rto after verify = %s, want 80s (stop-apiservers running → verify passed)", got)
	}
	if down, all := rs.atGates(at(999), true), rs.atGates(at(999), false); down != 20*time.Second || all != 60*time.Second {
		t.Fatalf("at gates %s while down, %s in all; want 20s (the step-2 gate), 60s (with preflight's and step 1's)", down, all)
	}
}

func TestARetriedStepTimesOnlyTheLastAttempt(t *testing.T) {
	rs := newRunState(testCluster())
	rs.apply(stepEv(0, steps.RestoreEtcd, steps.Running, ""))
	rs.apply(stepEv(30, steps.RestoreEtcd, steps.Failed, "cp-2 unreachable"))
	rs.apply(stepEv(40, steps.RestoreEtcd, steps.Running, ""))
	rs.apply(stepEv(50, steps.RestoreEtcd, steps.Done, ""))
	if got := rs.byID[steps.RestoreEtcd].elapsed(at(999)); got != 10*time.Second {
		t.Fatalf("elapsed = %s, want 10s", got)
	}
}

func TestAnUnknownStepIsShownNotDropped(t *testing.T) {
	rs := newRunState(testCluster())
	rs.apply(stepEv(0, "rollback", steps.Running, "putting the old data dirs back"))
	last := rs.steps[len(rs.steps)-1]
	if last.ID != "rollback" || last.State != steps.Running {
		t.Fatalf("last step = %+v, want rollback running", last)
	}
}

var sgrColour = regexp.MustCompile(`\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7]|10[0-7])[;m]`)

func TestNoColorDrawsNoColour(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	if _, ok := os.LookupEnv("NO_COLOR"); !ok {
		t.Fatal("NO_COLOR not set")
	}
	m := New(Options{Cluster: testCluster(), Decide: func(steps.Decision) {}})
	m.now = func() time.Time { return at(60) }
	m = update(t, m, windowSize(100, 30))
	m = feed(t, m, append([]steps.Event{restoreRunbook()}, restoreRunning()...)...)
	out := m.View().Content
	if loc := sgrColour.FindStringIndex(out); loc != nil {
		t.Fatalf("NO_COLOR frame has a colour code near %q", out[max(0, loc[0]-20):loc[1]])
	}
	if !strings.Contains(out, "restore etcd") {
		t.Fatal("frame is missing its content")
	}
}

func TestColourIsUsedWithoutNoColor(t *testing.T) {
	m := New(Options{Cluster: testCluster(), Decide: func(steps.Decision) {}})
	m.noColor = false
	m.st = newStyles(true, false)
	m.now = func() time.Time { return at(60) }
	m = update(t, m, windowSize(100, 30))
	m = feed(t, m, restoreRunning()...)
	if !sgrColour.MatchString(m.View().Content) {
		t.Fatal("the colour check finds no colour in a coloured frame, so it proves nothing")
	}
}

func TestTheConsoleFollowsTheTerminalBackground(t *testing.T) {
	tests := []struct {
		name     string
		bg       color.Color
		wantDark bool
	}{
		{"a white background gets the light palette", color.White, false},
		{"a black background gets the dark palette", color.Black, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{Cluster: testCluster()})
			m = update(t, m, tea.BackgroundColorMsg{Color: tc.bg})
			if m.isDark != tc.wantDark {
				t.Fatalf("isDark = %v, want %v", m.isDark, tc.wantDark)
			}
		})
	}
}
