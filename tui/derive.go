package tui

import (
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/steps"
)

// The inventory's columns are derived from what the engine really emits:
// the check names of steps/*.go (c.Check), the node events of ForEachNode,
// and the "$ command" lines it logs before every command. The event
// contract has no typed field for SSH or component state, so this file is
// the one place that knows the engine's words; a check it does not know
// falls back to the keyword reading in state.go.

// compStale is a component whose process runs but is the one from before
// the restore ("new kube-scheduler process" failed with a pid): it still
// serves its pre-restore cache, which is what holds flush-caches back.
const compStale compState = compDown + 1

// checkEffect reads one of the engine's checks as a component state. ok is
// false when the check says nothing about a component (locks, disk, the
// snapshot, --etcd-servers in a manifest).
func checkEffect(e steps.CheckEvent) (component, compState, bool) {
	lower := strings.ToLower(e.Check)
	switch {
	case strings.HasPrefix(lower, "--etcd-servers"), strings.HasPrefix(lower, "load balancer"),
		strings.HasPrefix(lower, "lock "), strings.Contains(lower, "snapshot"), strings.Contains(lower, "free disk"):
		return 0, compUnknown, false
	case strings.HasPrefix(lower, "nothing listening on :"):
		// The port alone does not say whose it was; the step does.
		c, ok := checkComponent(lower)
		if !ok {
			if c, ok = stepComponent(e.Step); !ok {
				return 0, compUnknown, false
			}
		}
		return c, downIf(e.OK), true
	case strings.HasPrefix(lower, "etcd member ") && strings.HasSuffix(lower, " answers"),
		strings.HasPrefix(lower, "revision >= "):
		// A revision below the bump is still a member that answered.
		return compEtcd, upIf(e.OK || strings.HasPrefix(lower, "revision")), true
	case strings.HasPrefix(lower, "new "), strings.Contains(lower, "restarted after"):
		c, ok := checkComponent(lower)
		if !ok {
			return 0, compUnknown, false
		}
		if !e.OK && strings.TrimSpace(e.Detail) != "" {
			return c, compStale, true // a process runs, but the old one
		}
		return c, upIf(e.OK), true
	}
	c, ok := checkComponent(lower)
	if !ok {
		return 0, compUnknown, false
	}
	return c, checkMeaning(lower, e.OK), true
}

// stepComponent is the component a step stops or starts, for checks whose
// words name only a port.
func stepComponent(id steps.StepID) (component, bool) {
	switch id {
	case steps.StopApiservers, steps.StartApiservers, steps.RepointApiserve, steps.RollbackEtcdServers:
		return compAPI, true
	case steps.RestoreEtcd, steps.RollbackEtcd:
		return compEtcd, true
	}
	return 0, false
}

func upIf(ok bool) compState {
	if ok {
		return compUp
	}
	return compDown
}

func downIf(ok bool) compState {
	if ok {
		return compDown
	}
	return compUp
}

// applyLog reads SSH state from the engine's log lines: a "$ command" line
// means a command is on its way to the node; any later line, event or
// command from that node means the previous one came back over SSH.
func (rs *runState) applyLog(e steps.LogEvent) {
	for _, l := range e.Lines {
		if l.Node == "" {
			continue
		}
		n := rs.node(l.Node)
		if strings.HasPrefix(l.Text, "$ ") {
			rs.commandSent(n, l.Time)
			continue
		}
		rs.sshAnswered(n, l.Time)
	}
}

// commandSent notes a command leaving for n. A command after an earlier
// one proves the earlier one returned (a node's commands run in order).
func (rs *runState) commandSent(n *nodeInfo, at time.Time) {
	if !n.sshSent.IsZero() {
		rs.sshAnswered(n, at)
		return
	}
	n.sshSent = at
	if n.SSH == "" {
		n.SSH = "connecting"
	}
	if !n.doneAt.IsZero() && !n.doneAt.Before(at) {
		// A command that prints nothing (sudo -n true) proves SSH by its
		// node's step ending after it, an event that overtook its line.
		rs.sshAnswered(n, n.doneAt)
	}
}

// sshAnswered marks n reachable. The first answer after the first command
// gives the latency shown: the round trip of that command, connection set-up
// included, an upper bound of the link's latency and what an operator feels.
func (rs *runState) sshAnswered(n *nodeInfo, at time.Time) {
	if n.sshSent.IsZero() {
		n.doneAt = at // proof once its command's line arrives (commandSent)
		return        // no command of ours seen yet: nothing proves SSH works
	}
	n.SSH = "ok"
	if n.Latency == "" && !at.Before(n.sshSent) {
		n.Latency = roundLatency(at.Sub(n.sshSent))
	}
}

func roundLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "<1ms"
	case d < 10*time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
