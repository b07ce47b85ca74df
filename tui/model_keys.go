package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/etcd-dr/etcd-dr/steps/event"
)

// onKey routes a key: modal parts first (quit question, gate, filter
// input), then the global keys, then the focused pane.
func (m *Model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.keys
	switch {
	case m.confirmQuit:
		return m.onQuitAnswer(msg)
	case key.Matches(msg, k.ForceQuit):
		return m.askQuit()
	case m.gate.open:
		return m.onGateKey(msg)
	case m.scorecard:
		if key.Matches(msg, k.Quit) {
			return m.askQuit()
		}
		if key.Matches(msg, k.Scorecard, k.Back) {
			m.scorecard = false
		}
		m.scrollScorecard(msg)
		return nil
	case m.focus == focusLogs && m.logs.editing:
		return m.logs.Update(msg)
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.askQuit()
	case key.Matches(msg, k.Tab):
		m.setFocus(m.focus + 1)
	case key.Matches(msg, k.ShiftTab):
		m.setFocus(m.focus - 1)
	case key.Matches(msg, k.Help):
		m.help.ShowAll = !m.help.ShowAll
	case key.Matches(msg, k.OpenGate) && m.gate.pending:
		m.gate.open = true
		if !m.o.ReadOnly && m.gate.needsName() {
			return m.gate.input.Focus()
		}
	case key.Matches(msg, k.Scorecard) && m.rs.finished():
		m.scorecard = true
	default:
		return m.onPaneKey(msg)
	}
	return nil
}

func (m *Model) onPaneKey(msg tea.KeyPressMsg) tea.Cmd {
	switch m.focus {
	case focusSteps:
		m.steps.Update(msg, m.rs)
	case focusNodes:
		if m.inv.Update(msg, m.rs) {
			m.logs.selectNode(m.inv.selected(m.rs))
		}
	case focusLogs:
		return m.logs.Update(msg)
	}
	return nil
}

func (m *Model) onGateKey(msg tea.KeyPressMsg) tea.Cmd {
	d, cmd := m.gate.Update(msg, m.o.Operator)
	if d == nil {
		return cmd
	}
	if m.rs.ended {
		m.scorecard = true
	}
	return tea.Batch(cmd, decideCmd(m.o.Decide, *d))
}

// askQuit leaves at once when nothing is changing the cluster; while a step
// runs it asks first, because leaving interrupts the step mid-change.
func (m *Model) askQuit() tea.Cmd {
	if busy := m.rs.busy(); busy != nil && !m.o.ReadOnly {
		m.confirmQuit = true
		return nil
	}
	return m.leave()
}

func (m *Model) onQuitAnswer(msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, m.keys.Yes):
		return m.leave()
	case key.Matches(msg, m.keys.No, m.keys.ForceQuit):
		m.confirmQuit = false
	}
	return nil
}

// leave quits, noting where the run stood so Run can say how to resume.
func (m *Model) leave() tea.Cmd {
	m.confirmQuit = false
	if !m.rs.finished() && !m.o.ReadOnly {
		q := &QuitError{Resume: m.o.Resume}
		if busy := m.rs.busy(); busy != nil {
			q.Step, q.Running = busy.ID, true
		} else if cur := m.rs.current(); cur != nil && cur.State != event.Pending {
			q.Step = cur.ID
		}
		m.quit = q
	}
	return tea.Quit
}
