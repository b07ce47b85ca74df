package steps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func stepEvents(c *client, id StepID) []StepEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []StepEvent
	for _, ev := range c.events {
		if se, ok := ev.(StepEvent); ok && se.Step == id {
			out = append(out, se)
		}
	}
	return out
}

func TestAConfirmedRunOpensEachGateInOrderAndVerifiesEveryStep(t *testing.T) {
	r := newRig(t)
	r.markReady(t)
	e := r.engine(t, nil)
	c := drive(e, yes)
	sc, err := e.Run(context.Background())
	c.wait(t)
	if err != nil {
		t.Fatal(err)
	}
	var order []StepID
	for _, g := range c.gates {
		order = append(order, g.Step)
	}
	if got := strings.Join(stepIDs(order), ","); got != "decide,write,ready" {
		t.Errorf("gates in order %s, want decide,write,ready", got)
	}
	if !c.gates[1].NeedsName || c.gates[0].NeedsName {
		t.Errorf("only the destructive step must need the typed name: %+v", c.gates)
	}
	if n := len(c.gates[1].Commands); n != 4 {
		t.Errorf("write gate lists commands for %d nodes, want 4", n)
	}
	for _, s := range sc.Steps {
		if s.State != Done.String() {
			t.Errorf("step %s ended %s, want done", s.Step, s.State)
		}
	}
	if sc.RTO <= 0 {
		t.Errorf("RTO %v, want > 0 (the destructive step ran)", sc.RTO)
	}
	if last := r.records(t); last[len(last)-1].Kind != "run-end" {
		t.Errorf("journal does not end with run-end: %+v", last[len(last)-1])
	}
}

func stepIDs(ids []StepID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

func TestAWrongNameKeepsTheDestructiveGateShutAndIsNeverJournaled(t *testing.T) {
	r := newRig(t)
	r.markReady(t)
	e := r.engine(t, nil)
	c := drive(e, func(g Gate, n int) Decision {
		if g.NeedsName && n == 2 {
			return Decision{Proceed: true, Typed: "prod-eu1-typo-SECRET", By: "test@bastion"}
		}
		return yes(g, n)
	})
	if _, err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	if len(c.gates) != 4 || c.gates[1].Step != "write" || c.gates[2].Step != "write" {
		t.Fatalf("want the write gate offered twice, got %d gates", len(c.gates))
	}
	said := false
	for _, se := range stepEvents(c, "write") {
		said = said || strings.Contains(se.Why, "does not match")
	}
	if !said {
		t.Error("no StepEvent said the typed name did not match")
	}
	var nameOK []bool
	for _, rec := range r.records(t) {
		if rec.Kind == "gate" && rec.Step == "write" {
			nameOK = append(nameOK, rec.Gate.NameOK)
		}
	}
	if len(nameOK) != 2 || nameOK[0] || !nameOK[1] {
		t.Errorf("journaled name checks %v, want [false true]", nameOK)
	}
	data, _ := os.ReadFile(filepath.Join(r.state, r.cluster.Name, "journal.jsonl"))
	if strings.Contains(string(data), "SECRET") {
		t.Error("the journal holds what was typed")
	}
}

func TestAFailedVerifyKeepsTheNextGateShutUntilItPasses(t *testing.T) {
	r := newRig(t)
	e := r.engine(t, nil)
	var choicesSeen []Choice
	c := drive(e, func(g Gate, n int) Decision {
		if g.Step == "ready" && len(g.Choices) > 0 {
			choicesSeen = g.Choices
			if n == 4 {
				r.markReady(t) // the condition becomes true; re-verify now passes
			}
			return Decision{Proceed: true, Typed: g.Cluster, Choice: ChoiceReverify}
		}
		return yes(g, n)
	})
	sc, err := e.Run(context.Background())
	c.wait(t)
	if err != nil {
		t.Fatal(err)
	}
	want := []Choice{ChoiceRetry, ChoiceReverify, ChoiceContinue}
	if !slices.Equal(choicesSeen, want) {
		t.Errorf("failure gate offered %v, want %v", choicesSeen, want)
	}
	if sc.Steps[2].State != Done.String() || len(sc.NotFlushed) != 0 {
		t.Errorf("ready step %+v, not flushed %v", sc.Steps[2], sc.NotFlushed)
	}
}

func TestTheOperatorMayAcceptAPartialResultWhichTheScorecardLists(t *testing.T) {
	r := newRig(t)
	e := r.engine(t, nil)
	c := drive(e, func(g Gate, n int) Decision {
		if len(g.Choices) > 0 {
			return Decision{Proceed: true, Choice: ChoiceContinue}
		}
		return yes(g, n)
	})
	sc, err := e.Run(context.Background())
	c.wait(t)
	if err != nil {
		t.Fatal(err)
	}
	// The step is not flush-caches: the scorecard says which step went
	// without w-1, not that a kubelet was left.
	if strings.Join(sc.Accepted["ready"], ",") != "w-1" || len(sc.NotFlushed) != 0 ||
		!strings.Contains(sc.Text(), "ACCEPTED WITHOUT w-1 in ready") {
		t.Errorf("scorecard does not list w-1 as left out of step ready:\n%s", sc.Text())
	}
}

func TestUndoPutsBackTheStepAndOffersItsGateAgain(t *testing.T) {
	r := newRig(t)
	r.markReady(t)
	// The first attempt at "write" fails on cp-2 only.
	if err := os.Mkdir(filepath.Join(r.dir, "cp-2"), 0o700); err != nil {
		t.Fatal(err)
	}
	e := r.engine(t, nil)
	c := drive(e, func(g Gate, n int) Decision {
		if len(g.Choices) > 0 {
			if _, err := os.Stat(filepath.Join(r.dir, "cp-1")); err != nil {
				t.Errorf("cp-1 should have the token before undo: %v", err)
			}
			os.Remove(filepath.Join(r.dir, "cp-2"))
			return Decision{Proceed: true, Typed: g.Cluster, Choice: ChoiceUndo}
		}
		return yes(g, n)
	})
	sc, err := e.Run(context.Background())
	c.wait(t)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Steps[1].Attempts != 3 { // run, undo, run
		t.Errorf("write ran %d times, want 3 (run, undo, run)", sc.Steps[1].Attempts)
	}
	var writeGates int
	for _, g := range c.gates {
		if g.Step == "write" && len(g.Choices) == 0 {
			writeGates++
		}
	}
	if writeGates != 2 {
		t.Errorf("write gate offered %d times, want 2 (before and after undo)", writeGates)
	}
	if !strings.Contains(strings.Join(r.exec.commands("cp-1"), "\n"), "rm -f") {
		t.Error("undo did not run on cp-1")
	}
}

func TestBackingOutLeavesTheRunOpenAndTheNextStartResumesIt(t *testing.T) {
	r := newRig(t)
	r.markReady(t)
	e := r.engine(t, nil)
	c := drive(e, func(g Gate, n int) Decision {
		if g.Step == "write" {
			return Decision{Proceed: false, By: "test@bastion"}
		}
		return yes(g, n)
	})
	_, err := e.Run(context.Background())
	c.wait(t)
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("Run = %v, want ErrAborted", err)
	}
	first := e.Values()

	e2 := r.engine(t, nil)
	c2 := drive(e2, yes)
	if _, err := e2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	c2.wait(t)
	if e2.Values().Run != first.Run || e2.Values().Token != first.Token {
		t.Errorf("resumed with run %s token %s, want %s %s", e2.Values().Run, e2.Values().Token, first.Run, first.Token)
	}
	if c2.gates[0].Step != "write" {
		t.Errorf("resume offered %s first, want write", c2.gates[0].Step)
	}
}

func TestANewRunAbandonsTheOpenOneInTheJournal(t *testing.T) {
	r := newRig(t)
	e := r.engine(t, nil)
	c := drive(e, func(g Gate, n int) Decision { return Decision{Proceed: g.Step != "write"} })
	e.Run(context.Background())
	c.wait(t)

	e2 := r.engine(t, func(o *Options) { o.NewRun = true })
	c2 := drive(e2, func(Gate, int) Decision { return Decision{} })
	e2.Run(context.Background())
	c2.wait(t)
	if e2.Values().Run == e.Values().Run {
		t.Error("a new run reused the open run's id")
	}
	abandoned := false
	for _, rec := range r.records(t) {
		abandoned = abandoned || (rec.Kind == "run-end" && rec.State == "abandoned" && rec.Run == e.Values().Run)
	}
	if !abandoned {
		t.Error("the abandoned run has no run-end record")
	}
}
