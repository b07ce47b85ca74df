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

func TestChecksSetComponentState(t *testing.T) {
	tests := []struct {
		name  string
		check string
		ok    bool
		comp  component
		want  compState
	}{
		{"a passed absence check proves the apiserver down", "no kube-apiserver process", true, compAPI, compDown},
		{"a failed absence check means the apiserver still runs", "no kube-apiserver process", false, compAPI, compUp},
		{"nothing listening proves the apiserver down", "nothing listening on :6443 (apiserver)", true, compAPI, compDown},
		{"a healthy etcd is up", "etcd healthy", true, compEtcd, compUp},
		{"an unhealthy etcd is down", "etcd healthy", false, compEtcd, compDown},
		{"readyz means the apiserver is up", "/readyz ok", true, compAPI, compUp},
		{"an apiserver check naming etcd is about the apiserver", "apiserver reads a known object from etcd", true, compAPI, compUp},
		{"a restarted kubelet is up", "kubelet restarted after the restore", true, compKubelet, compUp},
		{"a new scheduler pid is up", "kube-scheduler new process", true, compScheduler, compUp},
		{"the controller manager is recognised", "kube-controller-manager new process", true, compCM, compUp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRunState(testCluster())
			rs.apply(checkEv(1, steps.RestoreEtcd, "cp-1", tc.check, tc.ok, ""))
			if got := rs.byNode["cp-1"].Comp[tc.comp]; got != tc.want {
				t.Fatalf("component %s = %d, want %d", compCols[tc.comp], got, tc.want)
			}
		})
	}
}

func TestSSHStateAndLatencyComeFromTheSSHCheck(t *testing.T) {
	rs := newRunState(testCluster())
	rs.apply(nodeEv(0, steps.Preflight, "cp-1", steps.Running, "connecting"))
	if got := rs.byNode["cp-1"].SSH; got != "connecting" {
		t.Fatalf("ssh = %q, want connecting", got)
	}
	rs.apply(checkEv(1, steps.Preflight, "cp-1", "ssh reachable", true, "handshake (12ms)"))
	if n := rs.byNode["cp-1"]; n.SSH != "ok" || n.Latency != "12ms" {
		t.Fatalf("ssh = %q %q, want ok 12ms", n.SSH, n.Latency)
	}
	rs.apply(steps.NodeEvent{At: at(5), Step: steps.StopApiservers, Node: "cp-1", State: steps.Failed, Err: "ssh: connection lost"})
	if got := rs.byNode["cp-1"].SSH; got != "dead" {
		t.Fatalf("ssh = %q after a lost connection, want dead", got)
	}
}

func TestRTOClock(t *testing.T) {
	rs := newRunState(testCluster())
	if got := rs.rto(at(100)); got != 0 {
		t.Fatalf("rto before the run = %s, want 0", got)
	}
	rs.apply(stepEv(10, steps.Preflight, steps.Running, ""))
	if got := rs.rto(at(70)); got != time.Minute {
		t.Fatalf("rto while running = %s, want 1m", got)
	}
	rs.apply(stepEv(100, steps.VerifyReport, steps.Failed, "invariant broken"))
	if rs.finished() {
		t.Fatal("a failed verify ended the run; the operator may still retry")
	}
	rs.apply(stepEv(130, steps.VerifyReport, steps.Done, ""))
	if got := rs.rto(at(999)); got != 2*time.Minute {
		t.Fatalf("rto after verify = %s, want 2m (stopped at verify)", got)
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
	m = feed(t, m, restoreRunning()...)
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
