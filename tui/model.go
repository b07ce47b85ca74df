// Package tui is the operator's console: a Bubble Tea v2 program that renders
// the engine's events (steps, nodes, checks, logs, gates) and hands the
// operator's decisions back to it. The engine is the source of truth; the
// console only shows it and asks. No I/O happens in Update: engine events
// arrive through a command, decisions leave through one.
package tui

import (
	"os"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps/event"
)

// Options wires the console to an engine.
type Options struct {
	Cluster  *config.Cluster      // node inventory (names, roles), cluster name for typed gates
	Events   <-chan event.Event   // closed when the engine ends
	Decide   func(event.Decision) // nil in read-only (watch) mode
	Drill    bool                 // banner: THIS IS A DRILL
	ReadOnly bool                 // etcd-dr watch: no gates answered
	Resume   string               // how to resume, shown when quitting mid-step ("etcd-dr console -f X")
	// Operator is who decides (user@host), recorded in each Decision.By.
	// Run fills it from the OS when empty.
	Operator string
	// Notice is a one-line warning kept in the header while there is room,
	// e.g. that the console is not inside tmux or screen.
	Notice string
}

// Panes that take focus, in tab order.
const (
	focusSteps = iota
	focusNodes
	focusLogs
	numFocus
)

// Model is the root of the console: layout, routing and focus. Components
// are plain structs it owns; it is the only tea.Model.
type Model struct {
	o       Options
	keys    keyMap
	st      styles
	isDark  bool
	noColor bool
	rs      *runState

	steps stepsPane
	inv   inventoryPane
	logs  logsPane
	gate  gateDialog
	help  help.Model

	footerText    string // the help line(s), built in Update by layout
	focus         int
	width         int
	height        int
	scorecard     bool
	finishedShown bool // the scorecard was shown once; the operator may leave it
	cardTop       int  // first scorecard line shown: a drill's invariants outgrow 24 rows
	confirmQuit   bool
	quit          *QuitError // set when the operator leaves before the run ends

	now      func() time.Time // injected in tests for deterministic clocks
	nowT     time.Time        // the clock as of the last message; View reads only this
	done     <-chan struct{}  // closed when Run returns, so no reader outlives it
	lastStep event.StepID     // the step the cursor last followed

	// card is the scorecard while it is shown, drawn once per message by
	// layout (its height sets the footer's keys, View draws it): at 1000
	// nodes it lists every node's checks.
	card string
}

// New builds the console model for o.
func New(o Options) Model {
	if o.Cluster == nil {
		o.Cluster = &config.Cluster{}
	}
	if o.Decide == nil {
		o.ReadOnly = true
	}
	names := make([]string, 0, len(o.Cluster.Nodes))
	for _, n := range o.Cluster.Nodes {
		names = append(names, n.Name)
	}
	keys := defaultKeys()
	_, noColor := os.LookupEnv("NO_COLOR")
	m := Model{
		o: o, keys: keys, isDark: true, noColor: noColor,
		rs:    newRunState(o.Cluster),
		steps: newStepsPane(keys), inv: newInventoryPane(keys, names),
		logs: newLogsPane(keys, names), gate: newGateDialog(keys, o.Cluster.Name, o.ReadOnly),
		help: help.New(), now: time.Now,
	}
	m.st = newStyles(m.isDark, m.noColor)
	m.help.Styles = m.st.help
	m.nowT = m.now()
	m.setFocus(focusSteps)
	return m
}

// Init starts reading engine events, the clock, and asks the terminal for
// its background so colours suit light and dark themes.
func (m Model) Init() tea.Cmd {
	return tea.Batch(readEvents(m.o.Events, m.done), tickCmd(m.done), tea.RequestBackgroundColor)
}

// Update is a short switch: each message goes to the part that owns it.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.nowT = m.now()
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.BackgroundColorMsg:
		m.isDark = msg.IsDark()
		m.st = newStyles(m.isDark, m.noColor)
		m.help.Styles = m.st.help
	case eventsMsg:
		cmd = m.onEvents(msg)
	case tickMsg:
		if !m.rs.ended {
			cmd = tickCmd(m.done)
		}
	case tea.KeyPressMsg:
		cmd = m.onKey(msg)
	}
	m.layout()
	return m, cmd
}

// onEvents folds a batch of engine events in. Log lines go to the rings in
// one pass; the frame is drawn once per batch, not once per line.
func (m *Model) onEvents(msg eventsMsg) tea.Cmd {
	var cmds []tea.Cmd
	for _, ev := range msg.events {
		switch e := ev.(type) {
		case event.LogEvent:
			m.logs.appendLines(e.Lines)
			m.rs.applyLog(e)
			continue
		case event.GateEvent:
			g, failure := e.Gate, m.failureOf(e.Gate.Step)
			if failure != "" {
				g.Facts = append(m.failedChecks(g.Step), g.Facts...)
			}
			cmds = append(cmds, m.gate.ask(g, failure))
		case event.StepEvent:
			switch e.State {
			case event.Failed:
				cmds = append(cmds, m.gate.ask(m.gateFor(e.Step), e.Why))
			case event.Running, event.Verifying, event.Done, event.Skipped:
				// Answered elsewhere (headless --confirm, or the operator's
				// console while this one only watches): the gate is gone.
				if m.gate.pending && m.gate.gate.Step == e.Step {
					m.gate.close()
				}
			}
		}
		m.rs.apply(ev)
	}
	cur := m.rs.current()
	if cur == nil {
		cur = m.rs.lastStep()
	}
	if cur != nil && cur.ID != m.lastStep {
		m.lastStep = cur.ID
		m.steps.follow(m.rs, cur.ID)
	}
	if msg.closed {
		m.rs.end(m.nowT)
		m.gate.close() // nobody is left to take an answer
	}
	if m.rs.finished() && !m.finishedShown && (!m.gate.pending || m.o.ReadOnly) {
		m.finishedShown, m.scorecard = true, true
	}
	if msg.closed {
		return tea.Batch(cmds...)
	}
	return tea.Batch(append(cmds, readEvents(m.o.Events, m.done))...)
}

// failureOf is the reason a step failed, if it did.
func (m *Model) failureOf(id event.StepID) string {
	return m.rs.step(id).Failure
}

// gateFor is the gate to show for a failed step until the engine's own
// failure gate arrives: the pending one if it is that step's, else one
// built from the step.
func (m *Model) gateFor(id event.StepID) event.Gate {
	if m.gate.pending && m.gate.gate.Step == id {
		return m.gate.gate
	}
	return event.Gate{Step: id, Title: m.rs.step(id).Title, Facts: m.failedChecks(id)}
}

// failedChecks are a failed step's reasons in plain words, shown first.
func (m *Model) failedChecks(id event.StepID) []string {
	var out []string
	for _, c := range m.rs.step(id).Checks {
		if c.OK {
			continue
		}
		f := "check failed: " + c.Check
		if c.Node != "" {
			f += " on " + c.Node
		}
		if c.Detail != "" {
			f += " (" + c.Detail + ")"
		}
		out = append(out, f)
	}
	return out
}

func (m *Model) setFocus(f int) {
	m.focus = (f + numFocus) % numFocus
	m.steps.Focus(m.focus == focusSteps)
	m.inv.Focus(m.focus == focusNodes)
	m.logs.Focus(m.focus == focusLogs)
}

// helpKeys is the focused part's key map, for the footer.
func (m *Model) helpKeys() help.KeyMap {
	k := m.keys
	switch {
	case m.confirmQuit:
		return bindings{short: []key.Binding{k.Yes, k.No}, full: [][]key.Binding{{k.Yes, k.No}}}
	case m.gate.open:
		return m.gate.help()
	case m.scorecard:
		back := key.NewBinding(key.WithKeys("s", "esc"), key.WithHelp("s/esc", "back to the run"))
		if strings.Count(m.card, "\n")+1 <= m.height-2 {
			return bindings{short: []key.Binding{back, k.Quit}, full: [][]key.Binding{{back, k.Quit}}}
		}
		return bindings{short: []key.Binding{back, k.Down, k.Up, k.Quit},
			full: [][]key.Binding{{back, k.Quit}, {k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}}}
	}
	pending := m.gate.pending && !m.gate.open
	var b bindings
	switch m.focus {
	case focusNodes:
		b = m.inv.help(pending)
	case focusLogs:
		b = m.logs.help(pending)
	default:
		b = m.steps.help(pending)
	}
	if m.rs.finished() {
		b.short = append([]key.Binding{k.Scorecard}, b.short...)
		b.full = append(b.full, []key.Binding{k.Scorecard})
	}
	return b
}
