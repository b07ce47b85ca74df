package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/etcd-dr/etcd-dr/steps/event"
)

// stepsPane lists the runbook with each step's state, time and reason; the
// selected step expands to its per-node progress and its checks.
type stepsPane struct {
	keys    keyMap
	cursor  int
	width   int
	height  int
	focused bool
}

func newStepsPane(keys keyMap) stepsPane { return stepsPane{keys: keys} }

func (p *stepsPane) SetSize(w, h int) { p.width, p.height = w, h }
func (p *stepsPane) Focus(on bool)    { p.focused = on }

func (p *stepsPane) Update(msg tea.KeyPressMsg, rs *runState) {
	switch {
	case key.Matches(msg, p.keys.Up):
		p.cursor--
	case key.Matches(msg, p.keys.Down):
		p.cursor++
	case key.Matches(msg, p.keys.Top):
		p.cursor = 0
	case key.Matches(msg, p.keys.Bottom):
		p.cursor = len(rs.steps) - 1
	}
	p.cursor = max(0, min(p.cursor, len(rs.steps)-1))
}

// follow moves the cursor to the step the run is at, so the expansion shows
// the work in progress unless the operator is looking elsewhere.
func (p *stepsPane) follow(rs *runState, id event.StepID) {
	for i, s := range rs.steps {
		if s.ID == id {
			p.cursor = i
		}
	}
}

// label is the runbook's number for the step, blank for the unnumbered
// (preflight, verify, a step the runbook did not announce).
func label(s *stepInfo) string {
	if s.Number == 0 {
		return " "
	}
	return fmt.Sprint(s.Number)
}

// wantHeight is the height showing every step and the whole expansion.
// It counts the expansion's lines without drawing them: layout runs on
// every message, and step 5 on 1000 nodes expands to thousands of lines.
func (p stepsPane) wantHeight(rs *runState) int {
	return 1 + len(rs.steps) + p.expansionLen(rs)
}

// expansionLen is len(p.expansion(...)): a line per long work, per node and
// per check.
func (p stepsPane) expansionLen(rs *runState) int {
	if p.cursor >= len(rs.steps) {
		return 0
	}
	s := rs.steps[p.cursor]
	return len(s.Work) + len(s.Nodes) + len(s.Checks)
}

func (p stepsPane) View(st styles, rs *runState, now time.Time) string {
	if p.height <= 0 {
		return ""
	}
	title := "Steps"
	if cur := rs.current(); cur != nil {
		title += " · at " + cur.shortTitle()
	}
	out := []string{paneTitle(st, title, p.focused, p.width)}
	room := p.height - 1 - len(rs.steps)
	for i, s := range rs.steps {
		out = append(out, p.row(st, i, s, now))
		if i == p.cursor && room > 0 {
			// Only the lines that fit are drawn: the rest is a count.
			n := p.expansionLen(rs)
			if n > room {
				exp := p.expansion(st, rs, now, room-1)
				out = append(append(out, exp...), st.dim.Render(fmt.Sprintf("      … %d more", n-room+1)))
			} else {
				out = append(out, p.expansion(st, rs, now, n)...)
			}
		}
	}
	if len(out) > p.height {
		out = out[:p.height]
	}
	return strings.Join(out, "\n")
}

const titleW, stateW = 20, 16

func (p stepsPane) row(st styles, i int, s *stepInfo, now time.Time) string {
	style, glyph := st.state(s.State)
	state := s.State.String()
	if s.Failure != "" && s.State == event.WaitingGate {
		style, glyph = st.state(event.Failed)
		state = "failed: decide"
	}
	cursor := " "
	if i == p.cursor && p.focused {
		cursor = "›"
	}
	el := ""
	if !s.Started.IsZero() {
		el = clock(s.elapsed(now))
	}
	head := fmt.Sprintf("%s%s %s %s %s %7s ", cursor, glyph, label(s),
		padRight(truncate(s.shortTitle(), titleW), titleW), padRight(state, stateW), el)
	line := truncate(head+s.Why, p.width)
	switch s.State {
	case event.Pending, event.Skipped:
		line = st.dim.Render(line)
	default:
		line = style.Render(line)
	}
	if i == p.cursor {
		line = st.selected.Render(padRight(line, p.width))
	}
	return line
}

// expansion is the selected step's long work, per-node rows, then its
// checks: the first limit of them.
func (p stepsPane) expansion(st styles, rs *runState, now time.Time, limit int) []string {
	if p.cursor >= len(rs.steps) || limit <= 0 {
		return nil
	}
	s := rs.steps[p.cursor]
	nameW := 4
	for _, n := range s.Nodes {
		nameW = max(nameW, min(len(n), 16))
	}
	// Long work first: while a copy or a restore runs, it is what the
	// operator watches, and a short terminal shows the top lines only.
	out := workLines(st, s, now, p.width, limit)
	for _, name := range s.Nodes {
		if len(out) >= limit {
			return out
		}
		ev := s.Progress[name]
		style, glyph := st.state(ev.State)
		what := ev.Action
		if ev.State == event.Failed && ev.Err != "" {
			what = ev.Err
		}
		if (ev.State == event.Running || ev.State == event.Verifying) && !ev.At.IsZero() && !now.IsZero() {
			what += " · " + clock(now.Sub(ev.At))
		}
		line := fmt.Sprintf("    %s %s %s", glyph, padRight(truncate(name, nameW), nameW), what)
		out = append(out, style.Render(truncate(line, p.width)))
	}
	for _, c := range s.Checks {
		if len(out) >= limit {
			return out
		}
		style, glyph := st.ok, "✓"
		if !c.OK {
			style, glyph = st.bad, "✗"
		}
		text := c.Check
		if c.Node != "" {
			text = c.Node + ": " + text
		}
		if c.Detail != "" {
			text += " — " + c.Detail
		}
		out = append(out, style.Render(truncate("    "+glyph+" "+text, p.width)))
	}
	return out
}

func (p stepsPane) help(gatePending bool) bindings {
	k := p.keys
	return bindings{
		short: append([]key.Binding{k.Up, k.Down}, k.global(gatePending)...),
		full:  [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom}, k.global(gatePending)},
	}
}
