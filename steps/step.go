package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// Executor runs one command on one node, streaming its output lines to
// onLine. nodes.Runner satisfies it in production; the drill lab's nodes are
// reached through the same Runner, so the engine never knows it is in a drill.
type Executor interface {
	Run(ctx context.Context, node string, cmd nodes.Cmd, onLine func(nodes.Line)) (nodes.Result, error)
}

// Step is one step of the runbook, as data. Reading the list returned by
// Runbook is reading the procedure; the engine knows nothing step-specific.
type Step struct {
	ID    StepID
	Title string
	// Short is the title in a step list's column ("restore etcd"), and
	// Number the step's number as operators say it ("step 2"), 0 for the
	// unnumbered bookends; both are given where the runbook is listed
	// (runbook.go), and announced with it (RunbookEvent).
	Short  string
	Number int
	// Why is the sentence the operator needs at the gate.
	Why string
	// Destructive gates need the cluster name typed.
	Destructive bool
	// Plan lists the exact commands per node, in order, without touching any
	// node: `etcd-dr plan` and every gate call it. Values known only after
	// preflight render as placeholders (see Values.placeholder).
	Plan func(c *Context) ([]Action, error)
	// BeforeGate decides values that must be read as late as possible but
	// before the operator is asked (step 2's revision bump, read once the
	// previous step proved every apiserver stopped). It runs each time the
	// step's gate is offered, never before a retry; nil: none.
	BeforeGate func(ctx context.Context, c *Context) error
	// Facts are what the operator must know at the gate (snapshot card, bump, diff).
	Facts func(c *Context) []string
	// Waits are how long Verify will wait on each node, and what sized
	// each wait, for the gate and `plan`; nil: none to show.
	Waits func(c *Context) []Wait
	// Choices, when it returns any, are ways the step may run that the
	// operator picks at its gate, the default first (the snapshot's source
	// member); Chosen records the pick before Run. nil: a plain gate.
	Choices func(c *Context) []Choice
	Chosen  func(c *Context, ch Choice) error
	// Run performs the step. nil: run Plan's actions, nodes in parallel and
	// each node's actions in order. Every action must be idempotent: a step
	// interrupted by a crash is run again on resume.
	Run func(ctx context.Context, c *Context) error
	// Verify proves the step's post-condition; the next gate stays shut
	// until it passes. It is also run on resume for the last finished step.
	Verify func(ctx context.Context, c *Context) error
	// Undo puts back what Run changed, where that is possible; nil: none.
	Undo func(ctx context.Context, c *Context) error
	// AllowPartial lets the operator continue past a *PartialError from
	// Verify (e.g. kubelets on unreachable workers), reported as such.
	AllowPartial bool
}

// Action is one command on one node, as shown at the gate and run.
type Action struct {
	Node string
	// What says it in the operator's words: "park kube-apiserver.yaml".
	What string
	Cmd  nodes.Cmd
	// Quiet output is data for the engine (a page of key names), not for the
	// operator: the transcript and the log record the command, its exit and
	// its stderr, never its stdout; the caller records a summary instead.
	Quiet bool
	// ReadOnly marks a command that only looks (cat, pgrep, a status):
	// it needs no lock check before it, even in a destructive step.
	ReadOnly bool
	// Long marks a command that may run for minutes (a restore, a hash of
	// the snapshot): its time against its deadline is reported as
	// progress (progress.go).
	Long bool
	// Changes says which file the action changes and how: gates and
	// `plan` show it as a diff (filediff.go). nil: it changes no file.
	Changes *FileChange
	// Accept decides whether a finished command succeeded. nil: exit 0.
	// It lets an idempotent action treat "already done" as success.
	Accept func(nodes.Result) error
}

// PartialError is a verify failure confined to some nodes, which the
// operator may choose to accept (Step.AllowPartial) and which the scorecard
// then lists.
type PartialError struct {
	Nodes []string
	Why   string
	// Kind says which list of Values the accepted nodes join.
	Kind PartialKind
}

// PartialKind is what an accepted partial result leaves undone.
type PartialKind int

const (
	// PartialNotFlushed: kubelets not restarted (step 5); Values.NotFlushed.
	PartialNotFlushed PartialKind = iota
	// PartialNotConverged: convergence checks that failed after the last
	// step (nodes, the 410 watch, leader leases...); Values.NotConverged.
	PartialNotConverged
)

func (e *PartialError) Error() string {
	return fmt.Sprintf("%s: %s", strings.Join(e.Nodes, ", "), e.Why)
}

// NodeError is an error on one node; errors.Join of them names every node.
type NodeError struct {
	Node string
	Err  error
}

// Error names the node once: first, unless Err's own message already
// starts by naming it (a nodeNamer on the same node, such as *MissingTools).
func (e *NodeError) Error() string {
	if n, ok := e.Err.(nodeNamer); ok && n.namesNode() == e.Node {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s: %v", e.Node, e.Err)
}

// nodeNamer is an error whose message begins by naming its node: a
// NodeError around it adds no second "node: " in front.
type nodeNamer interface{ namesNode() string }

// The errors whose own message names their node up front
// (TestANodeErrorNamesItsNodeOnce).
func (e *MissingTools) namesNode() string         { return e.Node }
func (e *SnapshotChangedError) namesNode() string { return e.Node }
func (e *restoreError) namesNode() string         { return e.node }
func (e *LockHeldError) namesNode() string        { return e.Node }
func (e *LockCreateError) namesNode() string      { return e.Node }
func (e *LockLostError) namesNode() string        { return e.Node }
func (e *StalledError) namesNode() string         { return e.Node }
func (e *NodeError) Unwrap() error                { return e.Err }

// FailedNodes lists the nodes named by NodeErrors inside err, in order.
func FailedNodes(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if ne, ok := err.(*NodeError); ok {
			out = append(out, ne.Node)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		walk(errors.Unwrap(err))
	}
	walk(err)
	return out
}

// GroupByNode turns actions into per-node command lists for a Gate, keeping
// the order in which nodes first appear.
func GroupByNode(actions []Action) []NodeCommands {
	var out []NodeCommands
	idx := map[string]int{}
	for _, a := range actions {
		i, ok := idx[a.Node]
		if !ok {
			i = len(out)
			idx[a.Node] = i
			out = append(out, NodeCommands{Node: a.Node})
		}
		out[i].Commands = append(out[i].Commands, CommandLine(a.Cmd, true))
		out[i].What = append(out[i].What, a.What)
	}
	return out
}

// CommandLine is the shell line the node runs (nodes.Cmd.Line); with
// redact, secrets are shown as <redacted> (gates, plans, transcript).
func CommandLine(cmd nodes.Cmd, redact bool) string {
	if redact {
		return cmd.String()
	}
	return cmd.Line()
}

// Redact replaces each secret in s by <redacted>.
func Redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "<redacted>")
		}
	}
	return s
}
