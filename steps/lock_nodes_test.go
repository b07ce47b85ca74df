package steps

import (
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/config"
)

// The plan of a cluster with external etcd nodes (etcd on nodes of its own,
// under systemd) checks, takes and releases the lock on every node a
// destructive step acts on: the control-plane nodes and each etcd node; a
// worker, which no destructive step touches, holds none.
func TestThePlanLocksEveryNodeADestructiveStepActsOn(t *testing.T) {
	cl := scenarioCluster("stacked")
	cl.Etcd.Mode, cl.Etcd.EnvFile, cl.Etcd.SystemdUnit = config.EtcdModeSystemd, "/etc/etcd.env", "etcd.service"
	cl.Nodes = []config.Node{{Name: "cp-1", Address: "10.0.0.11", Roles: []string{config.RoleControlPlane}}}
	for i, a := range []string{"10.0.3.41", "10.0.3.42", "10.0.3.43"} {
		cl.Nodes = append(cl.Nodes, config.Node{Name: "etcd-" + string(rune('1'+i)), Address: a, Roles: []string{config.RoleEtcd}})
	}
	cl.Nodes = append(cl.Nodes, config.Node{Name: "w-1", Address: "10.0.2.31", Roles: []string{config.RoleWorker}})
	plan, err := PlanSteps(cl, Values{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step StepID
		what string
	}{
		{Preflight, "check no other operator holds the lock"},
		{Preflight, "take the lock"},
		{VerifyReport, "release the lock"},
	} {
		var on []string
		for _, ps := range plan {
			if ps.ID != tc.step {
				continue
			}
			for _, a := range ps.Actions {
				if strings.HasPrefix(a.What, tc.what) {
					on = append(on, a.Node)
				}
			}
		}
		if got, want := strings.Join(on, " "), "cp-1 etcd-1 etcd-2 etcd-3"; got != want {
			t.Errorf("%s: %q on %q, want on %q", tc.step, tc.what, got, want)
		}
	}
}
