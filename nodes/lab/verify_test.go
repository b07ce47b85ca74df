package lab

import (
	"strings"
	"testing"
	"time"
)

// at builds an event at second s of a drill.
func at(s int, node, kind, pod string, pid int, command string) Event {
	return Event{Time: time.Unix(1000+int64(s), 0), Node: node, Kind: kind, Pod: pod, PID: pid, Command: command}
}

const restoreLine = "sudo -n -- etcdutl snapshot restore /var/lib/snapshot.db --data-dir /var/lib/etcd-restored"

func TestNoRestoreWhileApiserverRanReplaysTheTimeline(t *testing.T) {
	tests := []struct {
		name   string
		evs    []Event
		ok     bool
		detail string
	}{
		{"a restore after every apiserver exited holds", []Event{
			at(1, "cp-1", EvPodStart, "kube-apiserver", 11, ""), at(2, "cp-2", EvPodStart, "kube-apiserver", 12, ""),
			at(3, "cp-1", EvPodExit, "kube-apiserver", 11, ""), at(4, "cp-2", EvPodExit, "kube-apiserver", 12, ""),
			at(5, "cp-1", EvSSHExec, "", 0, restoreLine),
		}, true, "1 restore command(s)"},
		{"a restore while another node's apiserver ran fails naming both nodes", []Event{
			at(1, "cp-1", EvPodStart, "kube-apiserver", 11, ""), at(2, "cp-2", EvPodStart, "kube-apiserver", 12, ""),
			at(3, "cp-1", EvPodExit, "kube-apiserver", 11, ""),
			at(5, "cp-1", EvSSHExec, "", 0, restoreLine),
		}, false, "restore on cp-1"},
		{"an etcdctl restore counts as a restore too", []Event{
			at(1, "cp-3", EvPodStart, "kube-apiserver", 13, ""),
			at(5, "cp-3", EvSSHExec, "", 0, "ETCDCTL_API=3 etcdctl snapshot restore s.db"),
		}, false, "kube-apiserver pid 13 ran on cp-3"},
		{"a drill without a restore has nothing to violate", []Event{
			at(1, "cp-1", EvPodStart, "kube-apiserver", 11, ""),
		}, true, "no restore ran"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := checkNoRestoreWhileApiserver(tt.evs, restoreEvents(tt.evs))
			if c.OK != tt.ok || !strings.Contains(c.Detail, tt.detail) {
				t.Fatalf("got ok=%v %q, want ok=%v and %q", c.OK, c.Detail, tt.ok, tt.detail)
			}
		})
	}
}

func TestRestartedAfterRestoreWantsEveryComponentOnEveryNode(t *testing.T) {
	st := Status{Nodes: []NodeState{{nodeSpec: nodeSpec{Name: "cp-1"}}, {nodeSpec: nodeSpec{Name: "w-1"}}}}
	restore := at(10, "cp-1", EvSSHExec, "", 0, restoreLine)
	all := []Event{restore,
		at(11, "cp-1", EvPodStart, "kube-scheduler", 21, ""), at(11, "cp-1", EvPodStart, "kube-controller-manager", 22, ""),
		at(12, "cp-1", EvKubeletRestart, "", 0, ""), at(12, "w-1", EvKubeletRestart, "", 0, "")}
	tests := []struct {
		name    string
		evs     []Event
		ok      bool
		missing string
	}{
		{"everything restarted after the restore holds", all, true, ""},
		{"a worker kubelet not restarted fails naming it", all[:4], false, "w-1/kubelet"},
		{"a scheduler restarted before the restore does not count", []Event{
			at(9, "cp-1", EvPodStart, "kube-scheduler", 21, ""), restore,
			at(11, "cp-1", EvPodStart, "kube-controller-manager", 22, ""),
			at(12, "cp-1", EvKubeletRestart, "", 0, ""), at(12, "w-1", EvKubeletRestart, "", 0, "")}, false, "cp-1/kube-scheduler"},
		{"no restore at all fails", all[1:], false, "no restore recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := checkRestarted(st, tt.evs, restoreEvents(tt.evs))
			if c.OK != tt.ok || !strings.Contains(c.Detail, tt.missing) {
				t.Fatalf("got ok=%v %q, want ok=%v mentioning %q", c.OK, c.Detail, tt.ok, tt.missing)
			}
		})
	}
}
