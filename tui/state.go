package tui

import (
	"slices"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps/event"
)

// stepInfo is what the console knows about one step.
type stepInfo struct {
	ID           event.StepID
	Title        string
	Short        string // the runbook's short title, for the list's column
	Number       int    // the runbook's step number; 0 unnumbered
	State        event.State
	Why          string
	Failure      string    // why it last failed, until it runs again
	Started, End time.Time // End is zero while the step has not finished
	Nodes        []string  // node order of first appearance, for stable rows
	Progress     map[string]event.NodeEvent
	Checks       []event.CheckEvent
	// Work is the long work under way (copies, restores, waits), by node
	// and work; an ended one is removed.
	Work map[string]event.ProgressEvent
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
	Step    event.StepID // step of the latest node event
	State   event.State
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
	byID     map[event.StepID]*stepInfo
	nodes    []*nodeInfo
	byNode   map[string]*nodeInfo
	rtoStart time.Time
	rtoEnd   time.Time
	ended    bool         // the engine closed its channel
	runbook  string       // the announced runbook's name: "restore", "rollback"
	last     event.StepID // the announced runbook's last step: its end stops the RTO clock
	// holes are journal lines watch could not read (JournalDamageEvent):
	// what they said is missing from this picture.
	holes    []int
	holesWhy string
	// destructive are the announced runbook's destructive steps: the first
	// of them to run starts the RTO clock (the cluster is down from then).
	destructive map[event.StepID]bool
	gates       []gateSpan // time with a gate in front of the operator
}

// gateSpan is a gate open from since until to (zero while it is open).
type gateSpan struct{ since, to time.Time }

func newRunState(c *config.Cluster) *runState {
	rs := &runState{byID: map[event.StepID]*stepInfo{}, byNode: map[string]*nodeInfo{}}
	if c != nil {
		for _, n := range c.Nodes {
			rs.node(n.Name).Roles = n.Roles
		}
	}
	return rs
}

// applyRunbook lists the announced steps, in the runbook's order, before
// any step a client heard of out of turn.
func (rs *runState) applyRunbook(e event.RunbookEvent) {
	var listed []*stepInfo
	for _, r := range e.Steps {
		s, ok := rs.byID[r.ID]
		if !ok {
			s = &stepInfo{ID: r.ID, Progress: map[string]event.NodeEvent{}}
			rs.byID[r.ID] = s
		}
		if s.Title == "" || s.Title == string(r.ID) {
			s.Title = r.Title
		}
		s.Short, s.Number = r.Short, r.Number
		if r.Destructive {
			if rs.destructive == nil {
				rs.destructive = map[event.StepID]bool{}
			}
			rs.destructive[r.ID] = true
		}
		listed = append(listed, s)
	}
	for _, s := range rs.steps {
		if !slices.Contains(listed, s) {
			listed = append(listed, s)
		}
	}
	rs.steps, rs.runbook = listed, e.Name
	if n := len(e.Steps); n > 0 {
		rs.last = e.Steps[n-1].ID
	}
}

// lastStep is the runbook's last step (verify, for a restore), or nil
// before the runbook is announced.
func (rs *runState) lastStep() *stepInfo {
	if rs.last != "" {
		return rs.step(rs.last)
	}
	if len(rs.steps) > 0 {
		return rs.steps[len(rs.steps)-1]
	}
	return nil
}

// step returns the step with id, adding an unknown one at the end so a newer
// engine's extra step is shown rather than dropped.
func (rs *runState) step(id event.StepID) *stepInfo {
	if s, ok := rs.byID[id]; ok {
		return s
	}
	s := &stepInfo{ID: id, Title: string(id), Progress: map[string]event.NodeEvent{}}
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
func (rs *runState) apply(ev event.Event) {
	switch e := ev.(type) {
	case event.RunbookEvent:
		rs.applyRunbook(e)
	case event.StepEvent:
		rs.applyStep(e)
	case event.NodeEvent:
		rs.applyNode(e)
	case event.CheckEvent:
		rs.applyCheck(e)
	case event.ProgressEvent:
		s := rs.step(e.Step)
		if s.Work == nil {
			s.Work = map[string]event.ProgressEvent{}
		}
		if k := e.Node + "\x00" + e.Work; e.End {
			delete(s.Work, k)
		} else {
			s.Work[k] = e
		}
	case event.JournalDamageEvent:
		if len(rs.holes) == 0 {
			rs.holesWhy = e.Why
		}
		rs.holes = append(rs.holes, e.Lines...)
	case event.GateEvent:
		if n := len(rs.gates); n == 0 || !rs.gates[n-1].to.IsZero() {
			rs.gates = append(rs.gates, gateSpan{since: e.At})
		}
		s := rs.step(e.Gate.Step)
		if e.Gate.Title != "" {
			s.Title = e.Gate.Title
		}
		if s.State == event.Pending {
			s.State = event.WaitingGate
		}
		switch {
		case e.Gate.Failure != "":
			s.Failure, s.Why = e.Gate.Failure, e.Gate.Failure
		case e.Gate.Why != "" && s.Failure == "":
			s.Why = e.Gate.Why
		}
	}
}

func (rs *runState) applyStep(e event.StepEvent) {
	s := rs.step(e.Step)
	s.State = e.State
	// At a failure gate the reason it failed is the useful line, not the
	// gate's title the engine repeats.
	if e.Why != "" && e.Why != s.Title && !(e.State == event.WaitingGate && s.Failure != "") {
		s.Why = e.Why
	}
	if e.State != event.WaitingGate && e.State != event.Failed {
		rs.closeGate(e.At) // decided: the step runs, re-verifies or is skipped
	}
	switch e.State {
	case event.Failed:
		s.Failure = e.Why
	case event.Running, event.Done, event.Pending, event.Skipped:
		s.Failure = ""
	}
	switch e.State {
	case event.Running:
		if s.Started.IsZero() || !s.End.IsZero() { // a retry starts the clock again
			s.Started, s.End = e.At, time.Time{}
		}
		// A runbook that names no destructive step (a journal from before
		// they were announced) starts the clock at the first step, as then.
		if rs.rtoStart.IsZero() && (rs.destructive == nil || rs.destructive[e.Step]) {
			rs.rtoStart = e.At
		}
	case event.Done, event.Failed, event.Skipped:
		s.End = e.At
		if s.Started.IsZero() {
			s.Started = e.At
		}
	}
	// A failed verify is not the end: the operator may retry or undo.
	if e.Step == rs.last && e.State == event.Done {
		rs.rtoEnd = e.At
	}
}

func (rs *runState) applyNode(e event.NodeEvent) {
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
	case e.State == event.Failed && e.Unreachable:
		n.SSH = "dead"
	case e.State == event.Done:
		rs.sshAnswered(n, e.At) // its commands came back
	}
}

func (rs *runState) applyCheck(e event.CheckEvent) {
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
		case event.Done, event.Skipped:
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
		if s.State == event.Running || s.State == event.Verifying {
			return s
		}
	}
	return nil
}

// finished reports whether the scorecard can be shown.
func (rs *runState) finished() bool {
	return rs.ended || !rs.rtoEnd.IsZero()
}

func (rs *runState) closeGate(at time.Time) {
	if n := len(rs.gates); n > 0 && rs.gates[n-1].to.IsZero() {
		rs.gates[n-1].to = at
	}
}

// atGates is the time spent with a gate open, over the whole run
// (whileDown false) or within the RTO, while the cluster was down.
func (rs *runState) atGates(now time.Time, whileDown bool) time.Duration {
	from, to := time.Time{}, now
	if whileDown {
		if rs.rtoStart.IsZero() {
			return 0
		}
		from = rs.rtoStart
		if !rs.rtoEnd.IsZero() {
			to = rs.rtoEnd
		}
	}
	var d time.Duration
	for _, g := range rs.gates {
		a, b := g.since, g.to
		if b.IsZero() {
			b = now
		}
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		d += max(b.Sub(a), 0)
	}
	return d
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
	rs.closeGate(now)
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
