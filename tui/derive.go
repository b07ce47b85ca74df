package tui

import (
	"time"

	"github.com/etcd-dr/etcd-dr/steps/event"
)

// The inventory's columns are derived from typed fields of what the engine
// emits, never from its words: a check's Fact (component and state), a
// node event's Unreachable, and the LogCommand lines it logs before every
// command. Rewording a check changes what people read, not the inventory.

// compStale is a component whose process runs but is the one from before
// the restore: it still serves its pre-restore cache, which is what holds
// flush-caches back.
const compStale compState = compDown + 1

// checkEffect reads a check's Fact as an inventory cell; ok is false when
// the check proves nothing about a component (locks, disk, the snapshot).
func checkEffect(e event.CheckEvent) (component, compState, bool) {
	var c component
	switch e.Fact.Component {
	case event.CompEtcd:
		c = compEtcd
	case event.CompAPIServer:
		c = compAPI
	case event.CompScheduler:
		c = compScheduler
	case event.CompControllerManager:
		c = compCM
	case event.CompKubelet:
		c = compKubelet
	default:
		return 0, compUnknown, false
	}
	// A restarted process is up: the column says whether it runs, the
	// check's row says it is new.
	switch e.Fact.State {
	case event.CompUp, event.CompRestarted:
		return c, compUp, true
	case event.CompDown:
		return c, compDown, true
	case event.CompStale:
		return c, compStale, true
	}
	return 0, compUnknown, false
}

// applyLog reads SSH state from the engine's log lines: a LogCommand line
// means a command is on its way to the node; any later line, event or
// command from that node means the previous one came back over SSH.
func (rs *runState) applyLog(e event.LogEvent) {
	for _, l := range e.Lines {
		if l.Node == "" {
			continue
		}
		n := rs.node(l.Node)
		if l.Kind == event.LogCommand {
			rs.commandSent(n, l.At)
			continue
		}
		rs.sshAnswered(n, l.At)
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
