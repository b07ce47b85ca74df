package tui

import (
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/steps"
)

// The inventory reads a check's Fact, never its words: the same words
// with another fact, or a fact under any words, fill the cell the fact says.
func TestACheckFactFillsTheInventory(t *testing.T) {
	tests := []struct {
		name  string
		check string // any words: the inventory must not read them
		ok    bool
		fact  steps.Fact
		comp  component
		want  compState
	}{
		{"an apiserver proved down", "no kube-apiserver process", true, steps.Fact{Component: steps.CompAPIServer, State: steps.CompDown}, compAPI, compDown},
		{"an apiserver proved still up by a failed absence check", "nothing listening on :6443", false, steps.Fact{Component: steps.CompAPIServer, State: steps.CompUp}, compAPI, compUp},
		{"etcd proved down by a free port", "nothing listening on :2379", true, steps.Fact{Component: steps.CompEtcd, State: steps.CompDown}, compEtcd, compDown},
		{"etcd up", "etcd member m1 answers", true, steps.Fact{Component: steps.CompEtcd, State: steps.CompUp}, compEtcd, compUp},
		{"a failed check can still prove up", "revision >= 1000", false, steps.Fact{Component: steps.CompEtcd, State: steps.CompUp}, compEtcd, compUp},
		{"a restarted scheduler is up", "new kube-scheduler process", true, steps.Fact{Component: steps.CompScheduler, State: steps.CompRestarted}, compScheduler, compUp},
		{"the pre-restore scheduler is stale", "new kube-scheduler process", false, steps.Fact{Component: steps.CompScheduler, State: steps.CompStale}, compScheduler, compStale},
		{"a controller-manager", "x", true, steps.Fact{Component: steps.CompControllerManager, State: steps.CompRestarted}, compCM, compUp},
		{"the old kubelet is stale", "kubelet restarted after the restore", false, steps.Fact{Component: steps.CompKubelet, State: steps.CompStale}, compKubelet, compStale},
		{"words naming etcd without a fact leave etcd alone", "etcd member m1 answers", true, steps.Fact{}, compEtcd, compUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRunState(testCluster())
			ev := checkEv(1, steps.RestoreEtcd, "cp-1", tc.check, tc.ok, "")
			ev.Fact = tc.fact
			rs.apply(ev)
			if got := rs.byNode["cp-1"].Comp[tc.comp]; got != tc.want {
				t.Fatalf("%s = %q, want %q", compCols[tc.comp], compCell(rs.byNode["cp-1"], tc.comp), stateWord(tc.want))
			}
		})
	}
}

func TestSSHLatencyIsTheFirstCommandsRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		answer  steps.Event
		wantSSH string
		wantLat string
	}{
		{"an output line answers", steps.LogEvent{Lines: []steps.LogLine{{Node: "cp-1", At: at(0).Add(40 * time.Millisecond), Text: "etcdutl version 3.7.3"}}}, "ok", "40ms"},
		{"the next command answers for the silent one before it", cmdEv(at(0).Add(25*time.Millisecond), "cp-1", "df -Pk"), "ok", "25ms"},
		{"the node finishing answers", steps.NodeEvent{At: at(0).Add(70 * time.Millisecond), Step: steps.Preflight, Node: "cp-1", State: steps.Done}, "ok", "70ms"},
		{"a check on the node answers", steps.CheckEvent{At: at(0).Add(9 * time.Millisecond), Step: steps.Preflight, Node: "cp-1", Check: "free disk >= 2x snapshot", OK: true}, "ok", "9ms"},
		{"a node still running has not answered", steps.NodeEvent{At: at(1), Step: steps.Preflight, Node: "cp-1", State: steps.Running, Action: "check free disk"}, "connecting", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRunState(testCluster())
			rs.applyLog(cmdEv(at(0), "cp-1", "sudo -n true"))
			if got := rs.byNode["cp-1"].SSH; got != "connecting" {
				t.Fatalf("after the first command ssh = %q, want connecting", got)
			}
			if le, ok := tc.answer.(steps.LogEvent); ok {
				rs.applyLog(le)
			} else {
				rs.apply(tc.answer)
			}
			if n := rs.byNode["cp-1"]; n.SSH != tc.wantSSH || n.Latency != tc.wantLat {
				t.Fatalf("ssh = %q %q, want %q %q", n.SSH, n.Latency, tc.wantSSH, tc.wantLat)
			}
		})
	}
}

func TestANodeNeverCommandedHasNoSSHState(t *testing.T) {
	rs := newRunState(testCluster())
	rs.apply(steps.NodeEvent{At: at(1), Step: steps.Preflight, Node: "cp-1", State: steps.Done})
	if n := rs.byNode["cp-1"]; n.SSH != "" || n.Latency != "" {
		t.Fatalf("ssh = %q %q, want unknown: no command of ours went out", n.SSH, n.Latency)
	}
}

func stateWord(s compState) string {
	return compCell(&nodeInfo{Comp: [numComponents]compState{s}}, compEtcd)
}

// State events are delivered at once and log lines in batches, so a worker
// whose only command prints nothing (sudo -n true) is reported done before
// its command's line arrives: it must not be left "connecting".
func TestANodeDoneBeforeItsCommandLineArrivesIsReachable(t *testing.T) {
	rs := newRunState(testCluster())
	rs.apply(steps.NodeEvent{At: at(0).Add(30 * time.Millisecond), Step: steps.Preflight, Node: "cp-1", State: steps.Done})
	rs.applyLog(cmdEv(at(0), "cp-1", "sudo -n -- true"))
	if n := rs.byNode["cp-1"]; n.SSH != "ok" || n.Latency != "30ms" {
		t.Fatalf("ssh = %q %q, want ok 30ms", n.SSH, n.Latency)
	}
}
