package tui

import (
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps"
)

// The check names below are the engine's own (grep c.Check( steps/*.go):
// if one is renamed there, this table is where the inventory goes blind.
func TestTheEnginesOwnChecksFillTheInventory(t *testing.T) {
	tests := []struct {
		name   string
		step   steps.StepID
		check  string
		ok     bool
		detail string
		comp   component
		want   compState
	}{
		{"no apiserver process after stop-apiservers shows it down", steps.StopApiservers, "no kube-apiserver process", true, "", compAPI, compDown},
		{"a free apiserver port in stop-apiservers shows the apiserver down", steps.StopApiservers, "nothing listening on :6443", true, "", compAPI, compDown},
		{"a held apiserver port in stop-apiservers shows it still up", steps.StopApiservers, "nothing listening on :6443", false, "0.0.0.0:6443", compAPI, compUp},
		{"a free client port in restore-etcd shows etcd down", steps.RestoreEtcd, "nothing listening on :2379", true, "", compEtcd, compDown},
		{"a free client port in rollback shows etcd down", steps.RollbackEtcd, "nothing listening on :2379", true, "", compEtcd, compDown},
		{"no etcd process shows etcd down", steps.RestoreEtcd, "no etcd process", true, "", compEtcd, compDown},
		{"an answering member shows etcd up", steps.RestoreEtcd, "etcd member m1 answers", true, "", compEtcd, compUp},
		{"a silent member shows etcd down", steps.RestoreEtcd, "etcd member m1 answers", false, "", compEtcd, compDown},
		{"a member behind the bump still answered", steps.RestoreEtcd, "revision >= 1000", false, "12", compEtcd, compUp},
		{"a ready apiserver shows up", steps.StartApiservers, "kube-apiserver /readyz", true, "ok", compAPI, compUp},
		{"an unready apiserver shows down", steps.StartApiservers, "kube-apiserver /readyz", false, "", compAPI, compDown},
		{"a new scheduler shows up", steps.FlushCaches, "new kube-scheduler process", true, "42", compScheduler, compUp},
		{"the pre-restore scheduler still running shows old", steps.FlushCaches, "new kube-scheduler process", false, "41", compScheduler, compStale},
		{"no scheduler at all shows down", steps.FlushCaches, "new kube-scheduler process", false, "", compScheduler, compDown},
		{"a new controller-manager shows up", steps.FlushCaches, "new kube-controller-manager process", true, "43", compCM, compUp},
		{"a restarted kubelet shows up", steps.FlushCaches, "kubelet restarted after the restore", true, "inv-2", compKubelet, compUp},
		{"the old kubelet shows old", steps.FlushCaches, "kubelet restarted after the restore", false, "inv-1", compKubelet, compStale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRunState(testCluster())
			rs.apply(checkEv(1, tc.step, "cp-1", tc.check, tc.ok, tc.detail))
			if got := rs.byNode["cp-1"].Comp[tc.comp]; got != tc.want {
				t.Fatalf("%s = %q, want %q", compCols[tc.comp], compCell(rs.byNode["cp-1"], tc.comp), stateWord(tc.want))
			}
		})
	}
}

func TestChecksAboutNoComponentLeaveTheColumnsAlone(t *testing.T) {
	for _, check := range []string{"--etcd-servers names the restored members", "lock held by this run",
		"snapshot on the node matches sha256", "free disk >= 2x snapshot", "load balancer https://lb:2379 reaches the restored cluster"} {
		t.Run(check, func(t *testing.T) {
			rs := newRunState(testCluster())
			rs.apply(checkEv(1, steps.RepointApiserve, "cp-1", check, true, ""))
			if got := rs.byNode["cp-1"].Comp; got != [numComponents]compState{} {
				t.Fatalf("components = %v, want all unknown", got)
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
		{"an output line answers", steps.LogEvent{Lines: []nodes.Line{{Node: "cp-1", Time: at(0).Add(40 * time.Millisecond), Text: "etcdutl version 3.7.3"}}}, "ok", "40ms"},
		{"the next command answers for the silent one before it", steps.LogEvent{Lines: []nodes.Line{{Node: "cp-1", Time: at(0).Add(25 * time.Millisecond), Text: "$ df -Pk"}}}, "ok", "25ms"},
		{"the node finishing answers", steps.NodeEvent{At: at(0).Add(70 * time.Millisecond), Step: steps.Preflight, Node: "cp-1", State: steps.Done}, "ok", "70ms"},
		{"a check on the node answers", steps.CheckEvent{At: at(0).Add(9 * time.Millisecond), Step: steps.Preflight, Node: "cp-1", Check: "free disk >= 2x snapshot", OK: true}, "ok", "9ms"},
		{"a node still running has not answered", steps.NodeEvent{At: at(1), Step: steps.Preflight, Node: "cp-1", State: steps.Running, Action: "check free disk"}, "connecting", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := newRunState(testCluster())
			rs.applyLog(steps.LogEvent{Lines: []nodes.Line{{Node: "cp-1", Time: at(0), Text: "$ sudo -n true"}}})
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
	rs.applyLog(steps.LogEvent{Lines: []nodes.Line{{Node: "cp-1", Time: at(0), Text: "$ sudo -n -- true"}}})
	if n := rs.byNode["cp-1"]; n.SSH != "ok" || n.Latency != "30ms" {
		t.Fatalf("ssh = %q %q, want ok 30ms", n.SSH, n.Latency)
	}
}
