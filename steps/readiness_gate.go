package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/etcd-dr/etcd-dr/steps/event"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// ReadinessError is preflight's refusal while a readiness check keeps the
// step-1 gate shut. Its failure gate offers, besides retry, one
// OverrideChoice per failed check that may be overridden: the operator's
// explicit, journaled decision at the gate, as readiness.override in the
// cluster file is in writing.
type ReadinessError struct{ Report ReadinessReport }

func (e *ReadinessError) Error() string { return e.Report.Err().Error() }

// Overridable names the blocking checks an override may open (never
// etcd-versions: an etcd that refuses the restored data will not start).
func (e *ReadinessError) Overridable() []string {
	var out []string
	for _, rc := range e.Report.Blocking() {
		if !rc.NoOverride {
			out = append(out, rc.Name)
		}
	}
	return out
}

// GateOverride is a readiness check overridden at a gate, and by whom.
type GateOverride struct {
	Check string `json:"check"`
	By    string `json:"by"`
}

// readinessOverrides are the checks the cluster file and this run's gates
// override.
func (c *Context) readinessOverrides() []string {
	out := slices.Clone(c.Cluster.Readiness.Override)
	for _, o := range c.Values.GateOverrides {
		out = append(out, o.Check)
	}
	return out
}

// overriddenWhy says who overrode check, for its journal record.
func (c *Context) overriddenWhy(check string) string {
	for _, o := range c.Values.GateOverrides {
		if o.Check == check {
			return "overridden at the gate by " + o.By
		}
	}
	return "readiness.override in " + c.Cluster.File + " names " + check
}

// offerOverrides adds to a failure gate the override choices a readiness
// refusal allows.
func offerOverrides(g *Gate, rerr *ReadinessError) {
	names := rerr.Overridable()
	for _, n := range names {
		g.Choices = append(g.Choices, event.OverrideChoice(n))
	}
	if len(names) > 0 {
		g.Facts = append(g.Facts, "override CHECK: restore despite that check's finding, as readiness.override in the cluster file would "+
			"(type the cluster name; journaled with your name); "+CheckEtcdVersions+" cannot be overridden")
	}
}

// overrideReadiness records the operator's override of check, chosen at
// s's failure gate, and runs s again with it. The cluster's name must be
// typed, as at a destructive gate: this opens the way to step 1.
func (e *Engine) overrideReadiness(ctx context.Context, s Step, failure error, check string, d Decision) (*phase, error) {
	if d.Typed != e.opts.Cluster.Name {
		e.emit(StepEvent{At: e.now(), Step: s.ID, State: WaitingGate,
			Why: fmt.Sprintf("type the cluster name %q to override %s; the gate stays shut", e.opts.Cluster.Name, check)})
		return e.onFailure(ctx, s, failure)
	}
	v := &e.cx.Values
	if !slices.ContainsFunc(v.GateOverrides, func(o GateOverride) bool { return o.Check == check }) {
		v.GateOverrides = append(v.GateOverrides, GateOverride{Check: check, By: d.By})
	}
	if err := e.saveValues(*v); err != nil {
		return nil, err
	}
	if err := e.record(journal.Record{Kind: journal.KindCheck, Step: string(s.ID), Who: d.By, Check: "readiness override " + check,
		State: "overridden", Why: "chosen at the " + string(s.ID) + " gate by " + d.By + ": " + strings.TrimSpace(problemOf(failure, check))}); err != nil {
		return nil, err
	}
	p := phaseRun
	return &p, nil
}

func problemOf(failure error, check string) string {
	if rerr, ok := failure.(*ReadinessError); ok {
		for _, rc := range rerr.Report.Checks {
			if rc.Name == check {
				return rc.Problem
			}
		}
	}
	return ""
}
