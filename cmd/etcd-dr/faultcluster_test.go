package main

import (
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/steps"
)

// Case 10 uses lab block 111.

// Case 10: the members do not form one cluster after the restore — cp-2 is
// restored with another --initial-cluster-token (INJECTED: the lab wraps
// cp-2's etcdutl to swap the token etcd-dr passed, since etcd-dr always
// passes one token to every member and the fault cannot be produced
// through it). Step 2's verification must fail, step 3 and 4 never start,
// and the safety invariants hold.
func TestMembersRestoredIntoDifferentClustersFailStep2AndNoApiserverStarts(t *testing.T) {
	row := &faultRow{Case: "10 members in two clusters", Injected: "cp-2's `etcdutl snapshot restore` given another --initial-cluster-token (wrapped etcdutl)"}
	defer row.log(t)
	l := inProcessLab(t, 111)
	must(t, l.RestoreWithClusterToken("cp-2", "injected-other-cluster"))
	t0 := time.Now()
	saw, err := runEngine(t, l.ClusterFile(), verifyDeadline)
	if err == nil {
		t.Fatalf("the run succeeded with cp-2 in a cluster of its own:\n%s", tail(saw, 60))
	}
	saw += "\n" + err.Error()
	failed := ""
	for _, line := range strings.Split(saw, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == "step" && f[2] == string(steps.RestoreEtcd) && f[3] == "failed" {
			failed = line
			break
		}
	}
	if failed == "" {
		t.Fatalf("step 2 did not fail:\n%s", tail(saw, 60))
	}
	row.Saw = strings.TrimSpace(failed[strings.Index(failed, "failed")+len("failed"):])
	if at, ok := eventTime(failed, t0); ok {
		row.Detect = at.Sub(t0).Round(10*time.Millisecond).String() + " from the run's start"
	}
	named := strings.Contains(saw, "one cluster ID 2")
	for _, line := range strings.Split(saw, "\n") {
		if n, ok := nodeLine(line, string(steps.RestoreEtcd), "failed"); ok && n == "cp-2" {
			named = true
		}
	}
	if !named {
		t.Errorf("step 2's failure names neither the two cluster IDs nor cp-2 as the failed member:\n%s", tail(saw, 40))
	}
	for _, next := range []steps.StepID{steps.RepointApiservers, steps.StartApiservers} {
		if line, ok := stepStarted(saw, string(next)); ok {
			t.Errorf("%s started on a split etcd: %s", next, line)
		}
	}
	row.held(requireSafety(t, l.Dir()))
}
