package tui

import (
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/steps"
)

func TestEachQuestionMarkInTheInventoryHasAReason(t *testing.T) {
	tests := []struct {
		name string
		evs  []steps.Event
		node string
		want []string
	}{
		{name: "before the run nothing has been sent and no step has looked", node: "cp-1",
			want: []string{"? SSH on cp-1: no command has been sent to it yet",
				"? ETCD on cp-1: not looked at yet: preflight checks it",
				"? KUBELET on cp-1: not looked at yet: flush caches checks it"}},
		{name: "after preflight etcd is known and the apiserver waits for step 1", node: "cp-1",
			evs:  append(preflightDone(), factEv(3, steps.Preflight, "cp-1", "live etcd revision read", true, "48213", steps.CompEtcd, steps.CompUp)),
			want: []string{"? SCHED on cp-1: not looked at yet: flush caches checks it"}},
		{name: "a node SSH lost says why nothing is known", node: "cp-2",
			evs:  []steps.Event{steps.NodeEvent{At: at(5), Step: steps.Preflight, Node: "cp-2", State: steps.Failed, Err: "connection lost", Unreachable: true}},
			want: []string{"? ETCD on cp-2: SSH to it failed, so nothing on it could be read"}},
		{name: "a preflight that failed before reading etcd says so", node: "cp-3",
			evs:  []steps.Event{stepEv(0, steps.Preflight, steps.Running, ""), stepEv(5, steps.Preflight, steps.Failed, "snapshot hash mismatch")},
			want: []string{"? ETCD on cp-3: preflight failed before proving it on this node"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newRunState(testCluster())
			rs.apply(restoreRunbook())
			for _, e := range tt.evs {
				if l, ok := e.(steps.LogEvent); ok {
					rs.applyLog(l)
					continue
				}
				rs.apply(e)
			}
			got := strings.Join(unknownReasons(rs, rs.byNode[tt.node]), "\n")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("want %q in\n%s", w, got)
				}
			}
			if strings.Contains(got, "? ETCD") && len(tt.evs) > 0 && tt.node == "cp-1" {
				t.Errorf("etcd is known after preflight, yet:\n%s", got)
			}
		})
	}
}
