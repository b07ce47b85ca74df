// Package event is the contract between the engine (package steps) and its
// clients (the console, watch, the headless printer): what the engine tells
// them and what they answer, as typed fields. It imports nothing of the
// engine or the transport, so a client of the engine depends on this alone;
// clients read these fields, never the wording meant for people.
package event

import (
	"os"
	"os/user"
	"strings"
	"time"
)

// StepID names a step of a runbook.
type StepID string

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
// journal). Every event but LogEvent is always delivered; LogEvent
// may be dropped on its way to a UI under pressure, never from the transcript.
type Event interface {
	// Time is when the event happened (its At).
	Time() time.Time
}

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
	// Unreachable says a Failed node could not be reached or logged into
	// (SSH dead, connection refused, another host key).
	Unreachable bool `json:",omitempty"`
	// Expired is the wait that ran out when a Failed node failed at its
	// deadline (step 1: the apiserver never went), with what sized it.
	Expired *Wait `json:",omitempty"`
}

// CheckEvent reports one post-condition check of a step. Check and Detail
// are for people; Fact is for programs: a client fills its inventory from
// Fact alone, never from the check's words.
type CheckEvent struct {
	At     time.Time
	Step   StepID
	Node   string // empty for cluster-wide checks
	Check  string // e.g. "no kube-apiserver process"
	OK     bool
	Detail string
	Fact   Fact // what the check proved about a component on Node; zero: nothing
}

// Component is a piece of the cluster whose state a check can prove. Its
// value is the process name.
type Component string

const (
	CompEtcd              Component = "etcd"
	CompAPIServer         Component = "kube-apiserver"
	CompScheduler         Component = "kube-scheduler"
	CompControllerManager Component = "kube-controller-manager"
	CompKubelet           Component = "kubelet"
)

// ComponentState is what a check saw of a component.
type ComponentState string

const (
	CompUp        ComponentState = "up"        // runs and answers
	CompDown      ComponentState = "down"      // no process, nothing listening, no answer
	CompRestarted ComponentState = "restarted" // a process started after the restore
	CompStale     ComponentState = "stale"     // a process runs, but the one from before the restore
)

// Fact is what one check proved about one component on its node. The zero
// Fact proves nothing (a lock, the disk, a manifest's flag).
type Fact struct {
	Component Component      `json:"component,omitempty"`
	State     ComponentState `json:"state,omitempty"`
}

// Is reports whether f proves something.
func (f Fact) Is() bool { return f.Component != "" && f.State != "" }

// LogKind says what a log line is, so no client reads it from the text.
type LogKind int

const (
	LogStdout  LogKind = iota // a command's standard output
	LogStderr                 // a command's standard error
	LogCommand                // a command leaving for its node (Text is the redacted command line)
	LogNote                   // the engine's own remark (an exit status, a gate decided)
)

var logKindNames = [...]string{"stdout", "stderr", "command", "note"}

func (k LogKind) String() string {
	if int(k) < len(logKindNames) {
		return logKindNames[k]
	}
	return "unknown"
}

// LogLine is one line of the log: a command sent, a line it printed, a note.
type LogLine struct {
	At   time.Time
	Node string
	Kind LogKind
	Text string
}

// LogEvent carries log lines, batched per node.
type LogEvent struct {
	At    time.Time
	Lines []LogLine
}

// RunbookEvent is a run's first event: the steps it will take, in order,
// so a client lists them before any step starts (the restore and the
// rollback are different runbooks, told apart by nothing else).
type RunbookEvent struct {
	At    time.Time
	Name  string // "restore", "rollback"
	Steps []RunbookStep
}

// Runbook names, announced in RunbookEvent.Name.
const (
	RunbookRestore  = "restore"
	RunbookRollback = "rollback"
)

// RunbookStep is one row of the announced runbook.
type RunbookStep struct {
	ID    StepID `json:"id"`
	Title string `json:"title"`
	Short string `json:"short"` // the title in a step list's column
	// Number is the step's number in the runbook as operators say it
	// ("step 2"); 0 for the unnumbered bookends (preflight, verify).
	Number int `json:"number,omitempty"`
	// Destructive: the step changes the cluster (its gate needs the name
	// typed); the first one to run starts the RTO clock, as the cluster is
	// down from then until verify passes.
	Destructive bool `json:"destructive,omitempty"`
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
	// Failure is why the step failed, on the gate offered after a failure
	// (which also offers Choices); empty on a step's own gate.
	Failure string `json:",omitempty"`
	// Choices offered besides back out, on a failure gate; on a step's own
	// gate, the ways it may run (the snapshot's source member), Default
	// first.
	Choices []Choice `json:",omitempty"`
	// Default is the choice a client takes for the operator who does not
	// choose (headless), on a step's own gate that offers Choices.
	Default Choice `json:",omitempty"`
	// Diffs are the file changes the step will make, one per node and
	// file, as unified diffs with secrets redacted: the operator sees what
	// will be written, not only "write etcd.yaml".
	Diffs []FileDiff `json:",omitempty"`
	// Waits are how long the step will wait on each node for what it
	// proves, and what each wait is made of (a failed node's NodeEvent
	// carries the one that ran out).
	Waits []Wait `json:",omitempty"`
}

// Wait is one node's deadline for a step's proof, sized from what the node
// will do: step 1 waits for a parked kube-apiserver to be gone for as long
// as that node's kubelet may take to notice the parked manifest and stop
// the pod through its grace period, plus a margin.
type Wait struct {
	Node      string
	Component Component
	// Deadline is the whole wait: Notice + Grace + Margin, or the caller's
	// fixed wait (Fixed).
	Deadline time.Duration
	// Grace is the termination grace period the kubelet gives the pod:
	// the manifest's terminationGracePeriodSeconds, 30 s when unset, never
	// under the kubelet's 2 s floor.
	Grace time.Duration
	// Notice is how late the kubelet may see the manifest gone: its
	// fileCheckFrequency re-list, for when inotify misses the move.
	Notice time.Duration
	// Margin covers the SIGKILL's reaping, the port's release and the
	// poll over SSH.
	Margin time.Duration
	// Fixed: Deadline was set by the caller (an engine option), not sized.
	Fixed bool `json:",omitempty"`
}

// FileDiff is one file's change on one node.
type FileDiff struct {
	Node string
	Path string // the file written (for a move: where it goes)
	// From is where a moved file comes from; empty for an edit in place.
	From string `json:",omitempty"`
	// Back says the move is a bounce: the file goes to Path and straight
	// back to From (step 5 parks and unparks a manifest so the kubelet
	// restarts its pod); after the step it is where and what it was.
	Back bool `json:",omitempty"`
	// Unified is the change as a unified diff ("--- a", "+++ b", hunks),
	// secrets redacted; for a pure move, git's "rename from/rename to".
	Unified string
	// Placeholder says the diff is drawn from values not read yet (`plan`
	// before preflight): its lines stand for what will be there.
	Placeholder bool `json:",omitempty"`
	// Unread says why the file could not be read at the gate (the diff
	// is then the sketch, Placeholder set).
	Unread string `json:",omitempty"`
	// Added and Removed count the changed lines.
	Added, Removed int
}

// ProgressKind says what a ProgressEvent measures.
type ProgressKind int

const (
	ProgressBytes ProgressKind = iota // bytes moved: Done of Total, at Rate
	ProgressWait                      // time spent against a Deadline
)

// ProgressEvent reports long work on one node: a snapshot copy's bytes and
// rate, or a long wait (a restore, a member coming up) against its
// deadline. Clients show the latest per node; the engine sends them at most
// a few times a second and journals only a few per piece of work.
type ProgressEvent struct {
	At   time.Time
	Step StepID
	Node string
	Work string // what is being done, in the operator's words
	Kind ProgressKind
	// Done and Total are bytes (Total 0: unknown); Rate is bytes per
	// second since Started.
	Done, Total int64
	Rate        float64
	Started     time.Time
	// Deadline is when the work is cut off; zero: none. For a copy it
	// moves forward with every byte (it fails on no progress, not on a
	// total time).
	Deadline time.Time `json:",omitzero"`
	// End says the work is over; Err says why it failed ("" on success).
	End bool   `json:",omitempty"`
	Err string `json:",omitempty"`
}

// Choice is a way on from a failure gate; Decision.Choice names one.
type Choice string

const (
	ChoiceRetry    Choice = "retry"     // run the step again (its actions are idempotent)
	ChoiceReverify Choice = "re-verify" // check the post-condition again (wait)
	ChoiceUndo     Choice = "undo"      // put back what the step changed, then offer its gate again
	ChoiceContinue Choice = "continue"  // accept a partial result (listed in the scorecard)
)

// sourcePrefix marks a Choice naming the member whose data becomes the
// snapshot (snapshot.from).
const sourcePrefix = "source="

// SourceChoice is the choice of node's member as the snapshot's source.
func SourceChoice(node string) Choice { return Choice(sourcePrefix + node) }

// SourceNode is the node a SourceChoice names; ok is false for any other.
func (c Choice) SourceNode() (node string, ok bool) {
	return strings.CutPrefix(string(c), sourcePrefix)
}

// choiceOverride begins a choice that overrides one failed readiness check
// by name (OverrideChoice), offered on preflight's failure gate.
const choiceOverride = "override "

// OverrideChoice is the choice that overrides the readiness check named
// check: the run goes on as if readiness.override in the cluster file
// named it, and the journal records who chose it.
func OverrideChoice(check string) Choice { return Choice(choiceOverride + check) }

// Overrides names the readiness check c overrides, if it is an override.
func (c Choice) Overrides() (check string, ok bool) {
	return strings.CutPrefix(string(c), choiceOverride)
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
	Choice  Choice // one of Gate.Choices, when chosen
	By      string // who decided (user@host), for the journal
	// Why says why a client backed out on its own (headless: a failure
	// nobody is there to judge); empty when the operator chose to.
	Why string
}

// JournalDamageEvent tells a reader of the journal (`etcd-dr watch`) that
// lines of it are not records: what they said (a step done, a gate
// decided) is missing, so the picture it shows is not the whole run.
type JournalDamageEvent struct {
	At    time.Time
	Path  string
	Lines []int  // 1-based line numbers in the journal file
	Why   string // what is wrong with the first of them
}

func (e JournalDamageEvent) Time() time.Time { return e.At }

func (e StepEvent) Time() time.Time     { return e.At }
func (e NodeEvent) Time() time.Time     { return e.At }
func (e CheckEvent) Time() time.Time    { return e.At }
func (e LogEvent) Time() time.Time      { return e.At }
func (e GateEvent) Time() time.Time     { return e.At }
func (e RunbookEvent) Time() time.Time  { return e.At }
func (e ProgressEvent) Time() time.Time { return e.At }

// Operator is user@host of this process, for Decision.By and the journal.
func Operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return name + "@" + host
}
