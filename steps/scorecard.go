package steps

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// Scorecard is the run's outcome, computed from the journal so a resumed
// run counts the time spent before the crash too.
type Scorecard struct {
	Cluster string    `json:"cluster"`
	Run     string    `json:"run"`
	Who     string    `json:"who"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// RTO is how long the cluster was down: the first destructive action
	// (step 1 started) → the last step verified (verify passed). Time the
	// operator spent at gates in between is part of it, and said apart:
	RTO Duration `json:"rto"`
	// AtGatesWhileDown is the part of RTO spent with a gate in front of
	// the operator (open → decided); AtGates the same over the whole run,
	// preflight's gate and the step-1 gate included.
	AtGatesWhileDown Duration `json:"atGatesWhileDown"`
	AtGates          Duration `json:"atGates"`
	// RTOEnded: verify passed, so RTO is final; false while the run has
	// not got there (RTO then runs to the journal's last record).
	RTOEnded   bool        `json:"rtoEnded"`
	Steps      []StepScore `json:"steps"`
	NotFlushed []string    `json:"notFlushed,omitempty"` // Accepted[flush-caches]
	// Accepted lists, per step, the nodes the operator accepted leaving out.
	Accepted map[StepID][]string `json:"accepted,omitempty"`
	// Converged are the convergence checks of the verify step's last
	// attempt (converge.go); NotConverged what the operator accepted as
	// failed at its gate.
	Converged    []ConvergeScore `json:"converged,omitempty"`
	NotConverged []string        `json:"notConverged,omitempty"`
	// KubeadmDataDir is set after a restore into a new data dir on a
	// static-pod (kubeadm) cluster: kubeadm's own record still names the old
	// one. Clients show it; they never parse the text.
	KubeadmDataDir *KubeadmDataDir `json:"kubeadmDataDir,omitempty"`
	// Readiness is preflight's readiness report (nil before preflight ran).
	Readiness  *ReadinessReport `json:"readiness,omitempty"`
	Journal    string           `json:"journal"`
	Transcript string           `json:"transcript,omitempty"`
}

// StepScore is one step's outcome.
type StepScore struct {
	Step     StepID      `json:"step"`
	Title    string      `json:"title"`
	State    string      `json:"state"`
	Duration Duration    `json:"duration"` // running → done, over all attempts
	Attempts int         `json:"attempts"`
	Nodes    []NodeScore `json:"nodes,omitempty"`
}

// ConvergeScore is one convergence check's outcome: Check is one of
// ConvergenceChecks, Node set for per-node checks.
type ConvergeScore struct {
	Check  string `json:"check"`
	Node   string `json:"node,omitempty"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// NodeScore is one node's last outcome within a step.
type NodeScore struct {
	Node     string   `json:"node"`
	OK       bool     `json:"ok"`
	Duration Duration `json:"duration"`
	Why      string   `json:"why,omitempty"`
}

// Duration marshals as a Go duration string ("1m30s").
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).Round(time.Millisecond).String() }

// MarshalText renders d as a string for JSON.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Scorecard computes the scorecard of the current run from the journal.
func (e *Engine) Scorecard() *Scorecard {
	sc := &Scorecard{Cluster: e.opts.Cluster.Name, Run: e.cx.Values.Run, Who: e.cx.Values.Who,
		Started: e.cx.Values.StartedAt, Journal: e.opts.Journal.Path(), Accepted: e.cx.Values.Accepted,
		NotFlushed:     append(slices.Clone(e.cx.Values.NotFlushed), e.cx.Values.Accepted[FlushCaches]...),
		NotConverged:   append(slices.Clone(e.cx.Values.NotConverged), e.cx.Values.Accepted[VerifyReport]...),
		KubeadmDataDir: e.cx.kubeadmDataDir(), Readiness: e.cx.Values.Readiness}
	if e.tr != nil {
		sc.Transcript = e.tr.Path()
	}
	recs, _ := e.opts.Journal.LastRun() // an unreadable journal leaves an empty card, not a failed restore
	byStep := map[StepID]*StepScore{}
	for _, s := range e.steps {
		sc.Steps = append(sc.Steps, StepScore{Step: s.ID, Title: s.Title, State: Pending.String()})
	}
	for i := range sc.Steps {
		byStep[sc.Steps[i].Step] = &sc.Steps[i]
	}
	destructive := map[StepID]bool{}
	for _, s := range e.steps {
		destructive[s.ID] = s.Destructive
	}
	var runningSince = map[StepID]time.Time{}
	var firstDestructive, verified time.Time
	var gates []span // open → decided, in order
	var gateOpen time.Time
	lastStep := StepID("")
	if len(e.steps) > 0 {
		lastStep = e.steps[len(e.steps)-1].ID
	}
	for _, r := range recs {
		if r.Run != sc.Run {
			continue
		}
		sc.Ended = r.At
		switch {
		case r.Kind == journal.KindGateOpen && gateOpen.IsZero():
			gateOpen = r.At
		case r.Kind == journal.KindGate && !gateOpen.IsZero():
			gates, gateOpen = append(gates, span{gateOpen, r.At}), time.Time{}
		case r.Kind == journal.KindStep && StepID(r.Step) == lastStep && r.State == Done.String() && verified.IsZero():
			verified = r.At
		}
		st := byStep[StepID(r.Step)]
		if st == nil {
			continue
		}
		switch {
		case r.Kind == journal.KindStep && st.Step == VerifyReport && r.State == Verifying.String():
			sc.Converged = nil // a new attempt: only the last one's checks count
		case r.Kind == journal.KindCheck && st.Step == VerifyReport && slices.Contains(ConvergenceChecks, r.Check):
			sc.Converged = append(sc.Converged, ConvergeScore{Check: r.Check, Node: r.Node, OK: r.State == "ok", Detail: Clean(r.Why)})
		case r.Kind == journal.KindStep && r.State == Running.String():
			st.Attempts++
			runningSince[st.Step] = r.At
			if destructive[st.Step] && firstDestructive.IsZero() {
				firstDestructive = r.At
			}
		case r.Kind == journal.KindStep && (r.State == Done.String() || r.State == Failed.String()):
			if t, ok := runningSince[st.Step]; ok {
				st.Duration += Duration(r.At.Sub(t))
				delete(runningSince, st.Step)
			}
		case r.Kind == journal.KindNode:
			st.Nodes = setNode(st.Nodes, NodeScore{Node: r.Node, OK: r.State == "ok",
				Duration: Duration(time.Duration(r.Ms) * time.Millisecond), Why: Clean(r.Why)})
		}
		if r.Kind == journal.KindStep && r.State != "resumed" {
			st.State = r.State
		}
	}
	if !gateOpen.IsZero() { // still open: the run stopped in front of it
		gates = append(gates, span{gateOpen, sc.Ended})
	}
	end := sc.Ended
	if !verified.IsZero() {
		end, sc.RTOEnded = verified, true
	}
	for _, g := range gates {
		sc.AtGates += Duration(g.to.Sub(g.from))
	}
	if !firstDestructive.IsZero() {
		sc.RTO = Duration(end.Sub(firstDestructive))
		for _, g := range gates {
			sc.AtGatesWhileDown += Duration(g.within(firstDestructive, end))
		}
	}
	return sc
}

// span is a stretch of the run's time (a gate open until decided).
type span struct{ from, to time.Time }

// within is how much of s lies between from and to.
func (s span) within(from, to time.Time) time.Duration {
	a, b := s.from, s.to
	if a.Before(from) {
		a = from
	}
	if b.After(to) {
		b = to
	}
	return max(b.Sub(a), 0)
}

func setNode(ns []NodeScore, n NodeScore) []NodeScore {
	for i := range ns {
		if ns[i].Node == n.Node {
			ns[i] = n
			return ns
		}
	}
	return append(ns, n)
}

// Text renders the scorecard for a terminal or a ticket.
func (sc *Scorecard) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Scorecard — cluster %s, run %s, by %s\n", sc.Cluster, sc.Run, sc.Who)
	for _, s := range sc.Steps {
		fmt.Fprintf(&b, "  %-20s %-18s %10s", s.Step, s.State, s.Duration)
		if s.Attempts > 1 {
			fmt.Fprintf(&b, "  (%d attempts)", s.Attempts)
		}
		b.WriteString("\n")
		for _, n := range s.Nodes {
			mark := "ok"
			if !n.OK {
				mark = "FAILED: " + n.Why
			}
			fmt.Fprintf(&b, "      %-16s %10s  %s\n", n.Node, n.Duration, mark)
		}
	}
	if sc.Readiness != nil {
		for _, l := range sc.Readiness.Lines() {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	fmt.Fprintf(&b, "  RTO (cluster down: first destructive step → verify passed): %s, of which at gates %s\n", sc.RTO, sc.AtGatesWhileDown)
	fmt.Fprintf(&b, "  at gates over the whole run: %s\n", sc.AtGates)
	if len(sc.NotFlushed) > 0 {
		fmt.Fprintf(&b, "  NOT FLUSHED (kubelet not restarted): %s\n", strings.Join(sc.NotFlushed, ", "))
	}
	for _, s := range sc.Steps {
		if ns := sc.Accepted[s.Step]; len(ns) > 0 && s.Step != FlushCaches && s.Step != VerifyReport {
			fmt.Fprintf(&b, "  ACCEPTED WITHOUT %s in %s (its post-condition holds only for the other nodes)\n", strings.Join(ns, ", "), s.Step)
		}
	}
	if len(sc.Converged) > 0 {
		passed := 0
		for _, cv := range sc.Converged {
			if cv.OK {
				passed++
			}
		}
		fmt.Fprintf(&b, "  CONVERGENCE  %d passed, %d failed\n", passed, len(sc.Converged)-passed)
		for _, cv := range sc.Converged {
			mark := "ok    "
			if !cv.OK {
				mark = "FAILED"
			}
			who := cv.Node
			if who == "" {
				who = "cluster"
			}
			fmt.Fprintf(&b, "    %s %-8s %s — %s\n", mark, who, cv.Check, cv.Detail)
		}
	}
	if len(sc.NotConverged) > 0 {
		fmt.Fprintf(&b, "  NOT CONVERGED (accepted at the verify gate): %s\n", strings.Join(sc.NotConverged, ", "))
	}
	if k := sc.KubeadmDataDir; k != nil {
		fmt.Fprintf(&b, "  KUBEADM RECORD STALE: %s\n      fix: %s\n", k.Why(), k.Fix)
	}
	fmt.Fprintf(&b, "  journal: %s\n", sc.Journal)
	if sc.Transcript != "" {
		fmt.Fprintf(&b, "  transcript: %s\n", sc.Transcript)
	}
	return b.String()
}
