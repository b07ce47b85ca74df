package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

type phase int

const (
	phaseGate phase = iota
	phaseRun
	phaseVerify
)

// runStep offers s's gate, runs it, verifies it, and on failure offers
// retry / re-verify / undo / abort until the post-condition holds or the
// operator backs out. verifyFirst starts at Verify (resume of a done step).
func (e *Engine) runStep(ctx context.Context, s Step, verifyFirst bool) error {
	e.cx.step = s.ID
	ph := phaseGate
	if verifyFirst {
		ph = phaseVerify
	}
	for {
		var err error
		switch ph {
		case phaseGate:
			if s.BeforeGate != nil {
				if err := s.BeforeGate(ctx, e.cx); err != nil {
					return fmt.Errorf("%s: before its gate: %w", s.ID, err)
				}
			}
			if err := e.offerGate(ctx, s); err != nil {
				return err
			}
			ph = phaseRun
			continue
		case phaseRun:
			if err = e.runPhase(ctx, s); err == nil {
				ph = phaseVerify
				continue
			}
		case phaseVerify:
			if err = e.verifyPhase(ctx, s); err == nil {
				return e.stepState(s, Done, "post-condition verified")
			}
		}
		next, ferr := e.onFailure(ctx, s, err)
		if ferr != nil || next == nil {
			return ferr
		}
		ph = *next
	}
}

func (e *Engine) runPhase(ctx context.Context, s Step) error {
	e.phase, e.cx.fenced = Running, s.Destructive
	if err := e.stepState(s, Running, s.Title); err != nil {
		return err
	}
	if s.Run != nil {
		return s.Run(ctx, e.cx)
	}
	if s.Plan == nil {
		return nil
	}
	actions, err := s.Plan(e.cx)
	if err != nil {
		return fmt.Errorf("plan %s: %w", s.ID, err)
	}
	return e.cx.RunActions(ctx, actions)
}

func (e *Engine) verifyPhase(ctx context.Context, s Step) error {
	e.phase, e.cx.fenced = Verifying, false
	if err := e.stepState(s, Verifying, "checking the post-condition"); err != nil {
		return err
	}
	if s.Verify == nil {
		return nil
	}
	return s.Verify(ctx, e.cx)
}

// gateFor builds the gate shown before s runs. At the step's own gate
// (fresh) it reads the files the step will edit (read-only) to show each
// change as a diff; a failure gate shows the diffs of the step's own gate
// again and reads nothing: after a refusal nothing more touches the nodes
// (a resumed step's failure gate, with no own gate before it, shows the
// sketches).
func (e *Engine) gateFor(ctx context.Context, s Step, fresh bool) Gate {
	g := Gate{Step: s.ID, Title: s.Title, Why: s.Why, NeedsName: s.Destructive, Cluster: e.opts.Cluster.Name}
	if s.Plan != nil {
		actions, err := s.Plan(e.cx)
		if err != nil {
			g.Facts = append(g.Facts, "cannot list the commands yet: "+err.Error())
		}
		g.Commands = GroupByNode(actions)
		switch d, ok := e.diffs[s.ID]; {
		case fresh:
			g.Diffs = e.cx.diffsOf(ctx, actions, true)
			if e.diffs == nil {
				e.diffs = map[StepID][]FileDiff{}
			}
			e.diffs[s.ID] = g.Diffs
		case ok:
			g.Diffs = d
		default:
			g.Diffs = e.cx.diffsOf(ctx, actions, false)
		}
	}
	if s.Facts != nil {
		g.Facts = append(g.Facts, s.Facts(e.cx)...)
	}
	if s.Waits != nil {
		g.Waits = s.Waits(e.cx)
	}
	if s.Choices != nil {
		if g.Choices = s.Choices(e.cx); len(g.Choices) > 0 {
			g.Default = g.Choices[0]
		}
	}
	return g
}

func (e *Engine) offerGate(ctx context.Context, s Step) error {
	d, err := e.await(ctx, e.gateFor(ctx, s, true))
	if err != nil {
		return err
	}
	if !d.Proceed {
		return e.abort(s, d)
	}
	if s.Chosen != nil {
		return s.Chosen(e.cx, d.Choice)
	}
	return nil
}

// onFailure reports err and asks what to do; it returns the phase to go to,
// or nil with the error that ends the run, or nil, nil when the operator
// accepted a partial result.
func (e *Engine) onFailure(ctx context.Context, s Step, failure error) (*phase, error) {
	if errors.Is(failure, context.Canceled) || ctx.Err() != nil {
		_ = e.stepState(s, Failed, "interrupted: "+failure.Error())
		return nil, fmt.Errorf("%s: %w", s.ID, failure)
	}
	if err := e.stepState(s, Failed, failure.Error()); err != nil {
		return nil, err
	}
	g := e.gateFor(ctx, s, false)
	g.Failure, g.Default = failure.Error(), ""
	g.Choices = []Choice{ChoiceRetry, ChoiceReverify}
	if s.Undo != nil {
		g.Choices = append(g.Choices, ChoiceUndo)
	}
	var partial *PartialError
	if s.AllowPartial && errors.As(failure, &partial) {
		g.Choices = append(g.Choices, ChoiceContinue)
		g.Facts = append(g.Facts, "continue: leave "+strings.Join(partial.Nodes, ", ")+" as not done (listed in the scorecard)")
	}
	var rerr *ReadinessError
	if errors.As(failure, &rerr) {
		offerOverrides(&g, rerr) // readiness_gate.go
	}
	d, err := e.await(ctx, g)
	if err != nil {
		return nil, err
	}
	if !d.Proceed {
		return nil, e.abort(s, d)
	}
	if check, ok := d.Choice.Overrides(); ok {
		return e.overrideReadiness(ctx, s, failure, check, d)
	}
	to := func(p phase) (*phase, error) { return &p, nil }
	switch d.Choice {
	case ChoiceRetry:
		return to(phaseRun)
	case ChoiceReverify:
		return to(phaseVerify)
	case ChoiceUndo:
		return e.undo(ctx, s)
	default: // ChoiceContinue: await admits only offered choices
		if err := e.acceptPartial(s.ID, partial.Nodes); err != nil {
			return nil, err
		}
		return nil, e.stepState(s, Done, "accepted by the operator without "+strings.Join(partial.Nodes, ", "))
	}
}

func (e *Engine) undo(ctx context.Context, s Step) (*phase, error) {
	e.phase, e.cx.fenced = Running, s.Destructive
	if err := e.stepState(s, Running, "undoing "+s.Title); err != nil {
		return nil, err
	}
	if err := s.Undo(ctx, e.cx); err != nil {
		// Nothing else to offer safely: the operator sees the state and decides.
		p := phaseVerify
		_ = e.stepState(s, Failed, "undo failed: "+err.Error())
		return &p, nil
	}
	if err := e.stepState(s, Pending, "undone; the gate is offered again"); err != nil {
		return nil, err
	}
	if err := e.record(journal.Record{Kind: journal.KindStep, Step: string(s.ID), State: "undone"}); err != nil {
		return nil, err
	}
	p := phaseGate
	return &p, nil
}

func (e *Engine) abort(s Step, d Decision) error {
	why := "backed out at the gate"
	if d.Why != "" {
		why = d.Why
	}
	_ = e.stepState(s, Failed, why)
	_ = e.record(journal.Record{Kind: journal.KindStep, Step: string(s.ID), State: "aborted", Who: d.By, Why: d.Why})
	if d.Why != "" {
		return &AbortError{Step: s.ID, Why: d.Why}
	}
	return ErrAborted
}

// await emits the gate and blocks until a valid decision. A wrong typed
// name or an unknown choice keeps the gate shut and says why.
func (e *Engine) await(ctx context.Context, g Gate) (Decision, error) {
	g = cleanGate(g) // journaled below as the gate offered: a failure's Why quotes nodes
	s := Step{ID: g.Step}
	for {
		_ = e.stepState(s, WaitingGate, g.Title)
		ge := GateEvent{At: e.now(), Gate: g}
		e.gateOpened(ge)
		e.emit(ge)
		var d Decision
		select {
		case <-ctx.Done():
			return d, fmt.Errorf("waiting at the %s gate: %w", g.Step, ctx.Err())
		case d = <-e.decisions:
		}
		nameOK := !g.NeedsName || d.Typed == g.Cluster
		if e.tr != nil {
			_ = e.tr.Note(e.now(), "", fmt.Sprintf("gate %s: %s decided proceed=%t choice=%q name-ok=%t",
				g.Step, d.By, d.Proceed, d.Choice, nameOK))
		}
		if err := e.record(journal.Record{Kind: journal.KindGate, Step: string(g.Step), Who: d.By,
			Gate: &journal.Gate{Proceed: d.Proceed, Choice: string(d.Choice), NeedsName: g.NeedsName, NameOK: nameOK}}); err != nil {
			return d, err
		}
		switch {
		case !d.Proceed:
			return d, nil
		case !nameOK:
			e.emit(StepEvent{At: e.now(), Step: g.Step, State: WaitingGate,
				Why: fmt.Sprintf("the typed name does not match the cluster name %q; the gate stays shut", g.Cluster)})
		case len(g.Choices) > 0 && !slices.Contains(g.Choices, d.Choice):
			e.emit(StepEvent{At: e.now(), Step: g.Step, State: WaitingGate,
				Why: fmt.Sprintf("choose one of %s, or back out", joinChoices(g.Choices))})
		default:
			return d, nil
		}
	}
}

// joinChoices lists choices for people: "retry, re-verify, undo".
func joinChoices(cs []Choice) string {
	ss := make([]string, len(cs))
	for i, c := range cs {
		ss[i] = string(c)
	}
	return strings.Join(ss, ", ")
}
