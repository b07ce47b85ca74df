package tui

import (
	"context"
	"errors"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/etcd-dr/etcd-dr/steps/event"
)

// Event coalescing: one message (and so one frame) carries every event that
// arrived within a frame's time, up to caps that keep Update short: a
// backlog after the console waited for a core (the engine queues up to 64Ki
// lines) is taken in a few frames of maxBatchLines, not in one long Update.
const (
	coalesceWindow = 33 * time.Millisecond
	maxBatch       = 4096
	maxBatchLines  = 8192
	fps            = 30
)

// eventsMsg is a batch of engine events, in the engine's order.
type eventsMsg struct {
	events []event.Event
	closed bool // the engine ended
}

// readEvents waits for the next events. It returns when the engine sends,
// closes its channel, or the console stops, so it never outlives Run.
func readEvents(ch <-chan event.Event, done <-chan struct{}) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		var batch []event.Event
		lines := 0
		add := func(ev event.Event) {
			batch = append(batch, ev)
			if l, ok := ev.(event.LogEvent); ok {
				lines += len(l.Lines)
			}
		}
		select {
		case ev, ok := <-ch:
			if !ok {
				return eventsMsg{closed: true}
			}
			add(ev)
		case <-done:
			return nil
		}
		timer := time.NewTimer(coalesceWindow)
		defer timer.Stop()
		for len(batch) < maxBatch && lines < maxBatchLines {
			select {
			case ev, ok := <-ch:
				if !ok {
					return eventsMsg{events: batch, closed: true}
				}
				add(ev)
			case <-timer.C:
				return eventsMsg{events: batch}
			case <-done:
				return eventsMsg{events: batch}
			}
		}
		return eventsMsg{events: batch}
	}
}

// tickMsg advances the clocks on screen.
type tickMsg time.Time

func tickCmd(done <-chan struct{}) tea.Cmd {
	return func() tea.Msg {
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case now := <-t.C:
			return tickMsg(now)
		case <-done:
			return nil
		}
	}
}

// QuitError is what Run returns when the operator leaves before the engine
// ended: the caller prints it and exits non-zero.
type QuitError struct {
	Step    event.StepID // the step running or waiting at quit
	Running bool         // a step was running, not waiting at a gate
	Resume  string       // how to resume
}

func (e *QuitError) Error() string {
	what := "the console was closed before the run ended"
	if e.Step != "" {
		what = fmt.Sprintf("the console was closed at step %s", e.Step)
		if e.Running {
			what += " while it was running"
		}
	}
	if e.Resume != "" {
		return what + "; resume with: " + e.Resume
	}
	return what
}

// Run shows the console until the operator quits or, after the engine ends,
// leaves the scorecard. It returns a *QuitError when the operator left early.
func Run(ctx context.Context, o Options) error {
	return run(ctx, o, tea.WithFPS(fps))
}

// run is Run with program options, so tests drive it without a terminal.
func run(ctx context.Context, o Options, opts ...tea.ProgramOption) error {
	if o.Operator == "" {
		o.Operator = event.Operator()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := New(o)
	m.done = ctx.Done()
	p := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithContext(ctx)}, opts...)...)
	final, err := p.Run()
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		return fmt.Errorf("console: %w", err)
	}
	if fm, ok := final.(Model); ok && fm.quit != nil {
		return fm.quit
	}
	if err != nil {
		return fmt.Errorf("console stopped: %w", err)
	}
	return nil
}
