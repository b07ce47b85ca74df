package tui

import (
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/steps"
)

func TestGateDecisions(t *testing.T) {
	// The engine's gate after a failure (steps/gate.go onFailure).
	unreachable := steps.Gate{Step: steps.FlushCaches, Title: "flush caches", Failure: "w-2 unreachable",
		Choices: []steps.Choice{steps.ChoiceRetry, steps.ChoiceReverify, steps.ChoiceContinue}}
	restoreFailed := steps.Gate{Step: steps.RestoreEtcd, Title: "restore etcd", Failure: "cp-2 unreachable",
		NeedsName: true, Cluster: "prod-eu1", Choices: []steps.Choice{steps.ChoiceRetry, steps.ChoiceReverify, steps.ChoiceUndo}}
	tests := []struct {
		name    string
		gate    steps.Gate
		failure string
		keys    []string
		want    *steps.Decision // nil: no decision, the gate stays shut
		err     string          // what the dialog says when it stays shut
	}{
		{name: "a destructive gate stays shut when nothing is typed", gate: stopGate(), keys: []string{"enter"},
			err: `Type the cluster name "prod-eu1"`},
		{name: "a destructive gate stays shut for a wrong name", gate: stopGate(), keys: keys("prod-eu2", "enter"),
			err: `"prod-eu2" is not this cluster's name`},
		{name: "y is text, not consent, at a destructive gate", gate: stopGate(), keys: []string{"y"}},
		{name: "a destructive gate opens for the typed name", gate: stopGate(), keys: keys("prod-eu1", "enter"),
			want: &steps.Decision{Proceed: true, Typed: "prod-eu1", By: "sre@bastion"}},
		{name: "a plain gate proceeds with y", gate: steps.Gate{Step: steps.Preflight}, keys: []string{"y"},
			want: &steps.Decision{Proceed: true, By: "sre@bastion"}},
		{name: "esc backs out without a decision", gate: steps.Gate{Step: steps.Preflight}, keys: []string{"esc", "y"}},
		{name: "an engine choice is sent as the choice", gate: unreachable, failure: "w-2 unreachable",
			keys: []string{"right", "right", "enter"}, want: &steps.Decision{Proceed: true, Choice: "continue", By: "sre@bastion"}},
		{name: "y does not pick among the engine's choices", gate: unreachable, failure: "w-2 unreachable", keys: []string{"y"}},
		{name: "re-verify proceeds with its choice", gate: unreachable, keys: []string{"right", "enter"},
			want: &steps.Decision{Proceed: true, Choice: "re-verify", By: "sre@bastion"}},
		{name: "a destructive step's failure gate needs the name even to retry", gate: restoreFailed,
			failure: "cp-2 unreachable", keys: []string{"enter"}, err: "Type the cluster name"},
		{name: "a destructive step's failure gate retries with the name", gate: restoreFailed, failure: "cp-2 unreachable",
			keys: keys("prod-eu1", "enter"), want: &steps.Decision{Proceed: true, Choice: "retry", Typed: "prod-eu1", By: "sre@bastion"}},
		{name: "a failed step offers retry first", gate: steps.Gate{Step: steps.RestoreEtcd}, failure: "cp-2 unreachable",
			keys: []string{"enter"}, want: &steps.Decision{Proceed: true, Choice: "retry", By: "sre@bastion"}},
		{name: "undo needs the cluster name", gate: steps.Gate{Step: steps.RestoreEtcd}, failure: "cp-2 unreachable",
			keys: []string{"right", "enter"}, err: "Type the cluster name"},
		{name: "undo with the name is sent", gate: steps.Gate{Step: steps.RestoreEtcd}, failure: "cp-2 unreachable",
			keys: keys("right", "prod-eu1", "enter"), want: &steps.Decision{Proceed: true, Choice: "undo", Typed: "prod-eu1", By: "sre@bastion"}},
		{name: "abort needs no name and is a decision not to proceed", gate: restoreFailed, failure: "cp-2 unreachable",
			keys: []string{"left", "enter"}, want: &steps.Decision{By: "sre@bastion"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateDialog(defaultKeys(), "prod-eu1", false)
			g.SetSize(80, 22)
			g.ask(tc.gate, tc.failure)
			var got *steps.Decision
			for _, k := range tc.keys {
				if d, _ := g.Update(keyMsg(k), "sre@bastion"); d != nil {
					got = d
				}
			}
			switch {
			case tc.want == nil && got != nil:
				t.Fatalf("decision %+v, want none", *got)
			case tc.want != nil && got == nil:
				t.Fatalf("no decision (dialog says %q), want %+v", g.err, *tc.want)
			case tc.want != nil && *got != *tc.want:
				t.Fatalf("decision %+v, want %+v", *got, *tc.want)
			}
			if tc.want == nil && !g.pending {
				t.Fatal("the gate is no longer pending without a decision")
			}
			if !strings.Contains(g.err, tc.err) {
				t.Fatalf("dialog says %q, want %q", g.err, tc.err)
			}
		})
	}
}

// keys expands words into key presses; "enter", "left" and the like stay keys.
func keys(items ...string) []string {
	var out []string
	for _, it := range items {
		switch it {
		case "enter", "esc", "left", "right", "up", "down", "tab":
			out = append(out, it)
		default:
			out = append(out, strings.Split(it, "")...)
		}
	}
	return out
}

func TestGateShowsEveryCommandAndSaysWhenMoreAreBelow(t *testing.T) {
	g := newGateDialog(defaultKeys(), "prod-eu1", false)
	g.SetSize(80, 14)
	g.ask(stopGate(), "")
	st := newStyles(true, true)
	if !strings.Contains(g.View(st), "more lines: read them") {
		t.Fatal("a cut-off command list does not say more lines follow")
	}
	for range 20 {
		g.Update(keyMsg("down"), "")
	}
	v := g.View(st)
	if strings.Contains(v, "more lines") || !strings.Contains(v, "cp-3") {
		t.Fatalf("scrolled to the end, the dialog should show cp-3 and no more-lines note:\n%s", v)
	}
}
