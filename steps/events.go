package steps

import (
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// StepID names a step of the runbook. The order is the runbook's order.
type StepID string

const (
	Preflight       StepID = "preflight"
	StopApiservers  StepID = "stop-apiservers"
	RestoreEtcd     StepID = "restore-etcd"
	RepointApiserve StepID = "repoint-apiservers"
	StartApiservers StepID = "start-apiservers"
	FlushCaches     StepID = "flush-caches"
	VerifyReport    StepID = "verify"
)

// Order is the strict order of the procedure.
var Order = []StepID{Preflight, StopApiservers, RestoreEtcd, RepointApiserve, StartApiservers, FlushCaches, VerifyReport}

// State is where a step (or a node within a step) stands.
type State int

const (
	Pending State = iota
	WaitingGate
	Running
	Verifying
	Done
	Failed
	Skipped
)

var stateNames = [...]string{"pending", "waiting for gate", "running", "verifying", "done", "failed", "skipped"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Event is what the engine tells its clients (console, headless printer,
// journal). StepEvent, NodeEvent and GateEvent are never dropped; LogEvent
// may be dropped on its way to a UI under pressure, never from the transcript.
type Event interface{ eventTime() time.Time }

// StepEvent reports a step's state change. Why is the one-line reason in the
// operator's words (for Failed: what failed and what to do).
type StepEvent struct {
	At    time.Time
	Step  StepID
	State State
	Why   string
}

// NodeEvent reports one node's progress within a step.
type NodeEvent struct {
	At     time.Time
	Step   StepID
	Node   string
	State  State
	Action string // what the node is doing now, e.g. "waiting for no listener on :6443"
	Err    string // reason when Failed
}

// CheckEvent reports one post-condition check of a step.
type CheckEvent struct {
	At     time.Time
	Step   StepID
	Node   string // empty for cluster-wide checks
	Check  string // e.g. "no kube-apiserver process"
	OK     bool
	Detail string
}

// LogEvent carries lines of command output, batched per node.
type LogEvent struct {
	At    time.Time
	Lines []nodes.Line
}

// Gate is the confirmation the engine needs before a step runs.
type Gate struct {
	Step      StepID
	Title     string
	Why       string
	Commands  []NodeCommands // exact commands per node, secrets redacted
	Facts     []string       // what the operator must know (snapshot card, bump value, diff)
	NeedsName bool           // destructive: the cluster name must be typed
	Cluster   string         // the name to type
	// Choices offered besides proceed/back out (e.g. "wait", "retry", "continue without worker-3").
	Choices []string
}

// NodeCommands lists the commands a step will run on one node.
type NodeCommands struct {
	Node     string
	Commands []string
	// What is each command's purpose in the operator's words, What[i] for
	// Commands[i] ("park kube-apiserver.yaml so the kubelet stops its pod"):
	// a gate shows why a command runs, not only what it is. A shorter slice
	// (a gate built by hand, an old client) leaves the rest unexplained.
	What []string `json:",omitempty"`
}

// GateEvent asks a client for a decision; the engine blocks until Decide.
type GateEvent struct {
	At   time.Time
	Gate Gate
}

// Decision answers a gate.
type Decision struct {
	Proceed bool
	Typed   string // the cluster name as typed, for NeedsName gates
	Choice  string // one of Gate.Choices, when chosen
	By      string // who decided (user@host), for the journal
	// Why says why a client backed out on its own (headless: a failure
	// nobody is there to judge); empty when the operator chose to.
	Why string
}

func (e StepEvent) eventTime() time.Time  { return e.At }
func (e NodeEvent) eventTime() time.Time  { return e.At }
func (e CheckEvent) eventTime() time.Time { return e.At }
func (e LogEvent) eventTime() time.Time   { return e.At }
func (e GateEvent) eventTime() time.Time  { return e.At }
