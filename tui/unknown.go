package tui

import (
	"fmt"

	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/event"
)

// firstChecked is the step whose checks first prove each column: until it
// has run on a node, the column shows "?". Preflight asks every etcd member
// for its live revision, so after it etcd is up or down, never "?".
var firstChecked = [numComponents]event.StepID{
	compEtcd:      steps.Preflight,
	compAPI:       steps.StopApiservers,
	compScheduler: steps.FlushCaches,
	compCM:        steps.FlushCaches,
	compKubelet:   steps.FlushCaches,
}

// unknownReasons says why each "?" of node n's row is there, for the help
// (? with the nodes pane focused): read from the run's typed state only.
func unknownReasons(rs *runState, n *nodeInfo) []string {
	if n == nil {
		return nil
	}
	var out []string
	if n.SSH == "" {
		out = append(out, fmt.Sprintf("? SSH on %s: no command has been sent to it yet", n.Name))
	}
	for c := compEtcd; c < numComponents; c++ {
		if compCell(n, c) != "?" {
			continue
		}
		out = append(out, fmt.Sprintf("? %s on %s: %s", compCols[c], n.Name, unknownReason(rs, n, c)))
	}
	return out
}

func unknownReason(rs *runState, n *nodeInfo, c component) string {
	if n.SSH == "dead" {
		return "SSH to it failed, so nothing on it could be read; it shows again once a step reaches it"
	}
	s := rs.byID[firstChecked[c]]
	switch {
	case s == nil:
		return "this run has no step that checks it"
	case s.State == event.Pending || s.State == event.WaitingGate:
		return fmt.Sprintf("not looked at yet: %s checks it", s.shortTitle())
	case s.State == event.Running || s.State == event.Verifying:
		return fmt.Sprintf("%s is checking it now", s.shortTitle())
	case s.State == event.Failed:
		return fmt.Sprintf("%s failed before proving it on this node (see the step's checks)", s.shortTitle())
	}
	return fmt.Sprintf("%s did not prove it on this node (see the step's checks)", s.shortTitle())
}
