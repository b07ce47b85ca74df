package tui

import (
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps"
)

// stepTitles are shown before the engine sends a gate with the step's own
// title, so the list reads as the runbook from the first frame.
var stepTitles = map[steps.StepID]string{
	steps.Preflight:       "preflight",
	steps.StopApiservers:  "stop apiservers",
	steps.RestoreEtcd:     "restore etcd",
	steps.RepointApiserve: "repoint apiservers",
	steps.StartApiservers: "start apiservers",
	steps.FlushCaches:     "flush caches",
	steps.VerifyReport:    "verify and report",
}

// stepInfo is what the console knows about one step.
type stepInfo struct {
	ID           steps.StepID
	Title        string
	State        steps.State
	Why          string
	Failure      string    // why it last failed, until it runs again
	Started, End time.Time // End is zero while the step has not finished
	Nodes        []string  // node order of first appearance, for stable rows
	Progress     map[string]steps.NodeEvent
	Checks       []steps.CheckEvent
}

func (s *stepInfo) elapsed(now time.Time) time.Duration {
	switch {
	case s.Started.IsZero():
		return 0
	case s.End.IsZero():
		return now.Sub(s.Started)
	default:
		return s.End.Sub(s.Started)
	}
}

// component is a Kubernetes control-plane piece whose state the inventory shows.
type component int

const (
	compEtcd component = iota
	compAPI
	compScheduler
	compCM
	compKubelet
	numComponents
)

// compState is what the checks last proved about a component on a node.
type compState int

const (
	compUnknown compState = iota
	compUp
	compDown
)

// nodeInfo is one row of the inventory.
type nodeInfo struct {
	Name    string
	Roles   []string
	SSH     string // "", "connecting", "ok", "dead"
	Latency string
	Comp    [numComponents]compState
	Step    steps.StepID // step of the latest node event
	State   steps.State
	Action  string
	Since   time.Time // when Action began, for the clock on long waits
	Err     string
	sshSent time.Time // the node's first command went out (derive.go)
	// doneAt is a step finishing on the node before its command lines
	// arrived: state events are delivered at once, log lines batched.
	doneAt time.Time
}

// runState is the console's picture of the run, folded from engine events.
// It is a pure function of the events received: no clock, no I/O.
type runState struct {
	steps    []*stepInfo
	byID     map[steps.StepID]*stepInfo
	nodes    []*nodeInfo
	byNode   map[string]*nodeInfo
	rtoStart time.Time
	rtoEnd   time.Time
	ended    bool // the engine closed its channel
}

func newRunState(c *config.Cluster) *runState {
	rs := &runState{byID: map[steps.StepID]*stepInfo{}, byNode: map[string]*nodeInfo{}}
	for _, id := range steps.Order {
		si := &stepInfo{ID: id, Title: stepTitles[id], Progress: map[string]steps.NodeEvent{}}
		rs.steps = append(rs.steps, si)
		rs.byID[id] = si
	}
	if c != nil {
		for _, n := range c.Nodes {
			rs.node(n.Name).Roles = n.Roles
		}
	}
	return rs
}

// step returns the step with id, adding an unknown one at the end so a newer
// engine's extra step is shown rather than dropped.
func (rs *runState) step(id steps.StepID) *stepInfo {
	if s, ok := rs.byID[id]; ok {
		return s
	}
	s := &stepInfo{ID: id, Title: string(id), Progress: map[string]steps.NodeEvent{}}
	rs.steps = append(rs.steps, s)
	rs.byID[id] = s
	return s
}

func (rs *runState) node(name string) *nodeInfo {
	if n, ok := rs.byNode[name]; ok {
		return n
	}
	n := &nodeInfo{Name: name}
	rs.nodes = append(rs.nodes, n)
	rs.byNode[name] = n
	return n
}

// apply folds one state event into the picture. Log events are not state.
func (rs *runState) apply(ev steps.Event) {
	switch e := ev.(type) {
	case steps.StepEvent:
		rs.applyStep(e)
	case steps.NodeEvent:
		rs.applyNode(e)
	case steps.CheckEvent:
		rs.applyCheck(e)
	case steps.GateEvent:
		s := rs.step(e.Gate.Step)
		if e.Gate.Title != "" {
			s.Title = e.Gate.Title
		}
		if s.State == steps.Pending {
			s.State = steps.WaitingGate
		}
		switch {
		case e.Gate.Failure != "":
			s.Failure, s.Why = e.Gate.Failure, e.Gate.Failure
		case e.Gate.Why != "" && s.Failure == "":
			s.Why = e.Gate.Why
		}
	}
}

func (rs *runState) applyStep(e steps.StepEvent) {
	s := rs.step(e.Step)
	s.State = e.State
	// At a failure gate the reason it failed is the useful line, not the
	// gate's title the engine repeats.
	if e.Why != "" && e.Why != s.Title && !(e.State == steps.WaitingGate && s.Failure != "") {
		s.Why = e.Why
	}
	switch e.State {
	case steps.Failed:
		s.Failure = e.Why
	case steps.Running, steps.Done, steps.Pending, steps.Skipped:
		s.Failure = ""
	}
	switch e.State {
	case steps.Running:
		if s.Started.IsZero() || !s.End.IsZero() { // a retry starts the clock again
			s.Started, s.End = e.At, time.Time{}
		}
		if rs.rtoStart.IsZero() {
			rs.rtoStart = e.At
		}
	case steps.Done, steps.Failed, steps.Skipped:
		s.End = e.At
		if s.Started.IsZero() {
			s.Started = e.At
		}
	}
	// A failed verify is not the end: the operator may retry or undo.
	if e.Step == steps.VerifyReport && e.State == steps.Done {
		rs.rtoEnd = e.At
	}
}

func (rs *runState) applyNode(e steps.NodeEvent) {
	s := rs.step(e.Step)
	if _, seen := s.Progress[e.Node]; !seen {
		s.Nodes = append(s.Nodes, e.Node)
	}
	s.Progress[e.Node] = e
	n := rs.node(e.Node)
	if n.Action != e.Action || n.Step != e.Step {
		n.Since = e.At
	}
	n.Step, n.State, n.Action, n.Err = e.Step, e.State, e.Action, e.Err
	switch {
	case e.State == steps.Failed && e.Unreachable:
		n.SSH = "dead"
	case e.State == steps.Done:
		rs.sshAnswered(n, e.At) // its commands came back
	}
}

func (rs *runState) applyCheck(e steps.CheckEvent) {
	s := rs.step(e.Step)
	replaced := false
	for i := range s.Checks {
		if s.Checks[i].Node == e.Node && s.Checks[i].Check == e.Check {
			s.Checks[i], replaced = e, true
		}
	}
	if !replaced {
		s.Checks = append(s.Checks, e)
	}
	if e.Node == "" {
		return
	}
	n := rs.node(e.Node)
	rs.sshAnswered(n, e.At) // a node check reads a command's answer
	if c, st, ok := checkEffect(e); ok {
		n.Comp[c] = st
	}
}

// current is the step the run is at: the first one not finished.
func (rs *runState) current() *stepInfo {
	for _, s := range rs.steps {
		switch s.State {
		case steps.Done, steps.Skipped:
			continue
		}
		return s
	}
	return nil
}

// busy reports whether a step is running or verifying: quitting then leaves
// the cluster mid-change, so the console asks first.
func (rs *runState) busy() *stepInfo {
	for _, s := range rs.steps {
		if s.State == steps.Running || s.State == steps.Verifying {
			return s
		}
	}
	return nil
}

// finished reports whether the scorecard can be shown.
func (rs *runState) finished() bool {
	return rs.ended || !rs.rtoEnd.IsZero()
}

func (rs *runState) rto(now time.Time) time.Duration {
	switch {
	case rs.rtoStart.IsZero():
		return 0
	case !rs.rtoEnd.IsZero():
		return rs.rtoEnd.Sub(rs.rtoStart)
	default:
		return now.Sub(rs.rtoStart)
	}
}

// end records that the engine closed its channel: the RTO clock stops at
// the last step's end, or now if the run ended without one.
func (rs *runState) end(now time.Time) {
	rs.ended = true
	if !rs.rtoEnd.IsZero() || rs.rtoStart.IsZero() {
		return
	}
	rs.rtoEnd = now
	for _, s := range rs.steps {
		if s.End.After(rs.rtoStart) {
			rs.rtoEnd = s.End
		}
	}
}
