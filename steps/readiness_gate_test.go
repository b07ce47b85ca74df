package steps

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/steps/event"
)

// A failing readiness check may be overridden at its failure gate, by name,
// with the cluster's name typed: the choice is offered only for a check
// that may be overridden (never etcd-versions), a wrong name keeps the gate
// shut, and the override is journaled with who chose it before the step
// runs again and passes.
func TestAReadinessCheckIsOverriddenAtTheGateByNameAndJournaled(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failing  []ReadinessCheck
		offered  []Choice
		override string // "" : back out at the failure gate
		wantDone bool
	}{
		{"ca-era is offered and overridden; the step passes", []ReadinessCheck{
			{Name: CheckCAEra, Title: "CA era", Problem: "cp-1's CA is not the snapshot's"}},
			[]Choice{ChoiceRetry, ChoiceReverify, event.OverrideChoice(CheckCAEra)}, CheckCAEra, true},
		{"etcd-versions is never offered", []ReadinessCheck{
			{Name: CheckCAEra, Title: "CA era", Problem: "cp-1's CA is not the snapshot's"},
			{Name: CheckEtcdVersions, Title: "versions", Problem: "snapshot newer", NoOverride: true}},
			[]Choice{ChoiceRetry, ChoiceReverify, event.OverrideChoice(CheckCAEra)}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.markReady(t)
			runs := 0
			steps := []Step{{ID: "preflight-like", Title: "Readiness", Why: "the report",
				Run: func(ctx context.Context, c *Context) error {
					runs++
					rep := ReadinessReport{Checks: append([]ReadinessCheck{{Name: CheckEncryption, OK: true}}, tc.failing...)}
					return c.gateReadiness(&rep)
				}}}
			e := r.engine(t, func(o *Options) { o.Steps = steps })
			failureGates := 0
			c := drive(e, func(g Gate, n int) Decision {
				if len(g.Choices) == 0 {
					return yes(g, n)
				}
				failureGates++
				if !slices.Equal(g.Choices, tc.offered) {
					t.Errorf("failure gate offers %v, want %v", g.Choices, tc.offered)
				}
				if tc.override == "" {
					return Decision{Proceed: false, By: "test@bastion"}
				}
				typed := g.Cluster
				if failureGates == 1 {
					typed = "wrong-name"
				}
				return Decision{Proceed: true, Choice: event.OverrideChoice(tc.override), Typed: typed, By: "sre@bastion"}
			})
			_, err := e.Run(context.Background())
			c.wait(t)
			if tc.wantDone != (err == nil) {
				t.Fatalf("run err %v, want done %t", err, tc.wantDone)
			}
			if !tc.wantDone {
				return
			}
			if failureGates != 2 || runs != 2 {
				t.Errorf("%d failure gates and %d runs, want 2 and 2 (a wrong name re-offers the gate, the override runs the step again)", failureGates, runs)
			}
			said := false
			for _, se := range stepEvents(c, "preflight-like") {
				said = said || strings.Contains(se.Why, "type the cluster name")
			}
			if !said {
				t.Error("no StepEvent said the wrong name kept the gate shut")
			}
			var journaled []string
			for _, rec := range r.records(t) {
				if rec.Check == "readiness override "+tc.override {
					journaled = append(journaled, rec.Who+" "+rec.State+" "+rec.Why)
				}
			}
			if len(journaled) == 0 || !strings.Contains(strings.Join(journaled, "\n"), "sre@bastion overridden chosen at the preflight-like gate by sre@bastion: cp-1's CA") {
				t.Errorf("the override is not journaled with who chose it: %q", journaled)
			}
			if !strings.Contains(strings.Join(journaled, "\n"), "overridden at the gate by sre@bastion") {
				t.Errorf("the report's override record does not say the gate chose it: %q", journaled)
			}
		})
	}
}
