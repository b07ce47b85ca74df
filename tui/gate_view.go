package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/etcd-dr/etcd-dr/steps/event"
)

// decidedMsg reports that the operator's decision has been handed over.
type decidedMsg struct{ d event.Decision }

// decideCmd hands a decision to the engine outside Update: Decide may block
// until the engine takes it.
func decideCmd(decide func(event.Decision), d event.Decision) tea.Cmd {
	return func() tea.Msg {
		decide(d)
		return decidedMsg{d}
	}
}

// Update handles a key while the dialog is open. It returns the decision
// when one was made, and a command for the text input.
func (g *gateDialog) Update(msg tea.KeyPressMsg, by string) (*event.Decision, tea.Cmd) {
	k := g.keys
	switch {
	case !g.open:
		return nil, nil // backed out: only "o" (in the root) reopens it
	case key.Matches(msg, k.Back):
		g.open, g.err = false, ""
		g.input.Blur()
		return nil, nil
	case key.Matches(msg, k.Expand):
		// Allowed read-only too: the second pair of eyes reads the scripts.
		g.expanded = !g.expanded
		g.layout()
		return nil, nil
	case key.Matches(msg, k.Up, k.Down, k.PageUp, k.PageDown) && !g.inputTakes(msg):
		var cmd tea.Cmd
		g.body, cmd = g.body.Update(msg)
		return nil, cmd
	case g.readOnly:
		return nil, nil
	case msg.String() == "left" || msg.String() == "shift+tab":
		return nil, g.selectChoice(g.choice - 1)
	case msg.String() == "right" || msg.String() == "tab":
		return nil, g.selectChoice(g.choice + 1)
	case key.Matches(msg, k.Submit):
		return g.decide(by), nil
	case key.Matches(msg, k.Proceed) && !g.input.Focused() && len(g.choices()) <= 2:
		// y is a shortcut only where the choice is proceed or abort; with
		// the engine's choices the operator picks one and presses enter.
		return g.decide(by), nil
	}
	if g.input.Focused() {
		var cmd tea.Cmd
		g.input, cmd = g.input.Update(msg)
		g.err = ""
		return nil, cmd
	}
	return nil, nil
}

// inputTakes reports whether a key is text for the name input ("j", "k").
func (g *gateDialog) inputTakes(msg tea.KeyPressMsg) bool {
	return g.input.Focused() && msg.Text != ""
}

func (g *gateDialog) selectChoice(i int) tea.Cmd {
	n := len(g.choices())
	g.choice = (i + n) % n
	g.err = ""
	if g.needsName() {
		return g.input.Focus()
	}
	g.input.Blur()
	return nil
}

// decide checks the typed name and builds the decision. A wrong name keeps
// the gate shut and says why; the engine never sees it.
func (g *gateDialog) decide(by string) *event.Decision {
	typed := strings.TrimSpace(g.input.Value())
	if g.needsName() && typed != g.name() {
		if typed == "" {
			g.err = fmt.Sprintf("Type the cluster name %q to open this gate, or esc to back out.", g.name())
		} else {
			g.err = fmt.Sprintf("%q is not this cluster's name (%q). The gate stays shut.", typed, g.name())
		}
		return nil
	}
	c := g.choices()[g.choice]
	// Proceed false is the engine's abort; every other answer proceeds.
	d := event.Decision{Proceed: c != choiceAbort, Typed: typed, By: by}
	if c != choiceProceed && c != choiceAbort {
		d.Choice = c
	}
	g.close()
	return &d
}

// View renders the dialog box.
func (g gateDialog) View(st styles) string {
	cw := g.dialogWidth() - 4
	box, title := st.dialog, "Gate · "+g.gate.Title
	if g.gate.NeedsName {
		title += " · destructive"
	}
	if g.failure != "" {
		box, title = st.dialogDanger, g.gate.Title+" failed"
	}
	if g.gate.Title == "" {
		title = strings.TrimPrefix(title, "Gate · ")
		title = string(g.gate.Step) + strings.TrimPrefix(title, " ")
	}
	more := ""
	if below := g.body.TotalLineCount() - g.body.YOffset() - g.body.VisibleLineCount(); below > 0 {
		more = st.warn.Render("↓ " + countOf(below, "more line") + ": read them with ↓/pgdn")
	}
	out := []string{st.bold.Render(truncate(title, cw)), g.body.View(), truncate(more, cw)}
	if g.readOnly {
		out = append(out, st.dim.Render(truncate("Read-only: the operator answers this gate in their console.", cw)))
		return box.Width(g.dialogWidth()).Render(strings.Join(out, "\n"))
	}
	if g.needsName() {
		out = append(out, truncate(fmt.Sprintf("Type the cluster name %s to confirm:", g.name()), cw), g.input.View())
	}
	if g.err != "" {
		out = append(out, st.bad.Render(lipgloss.Wrap(g.err, cw, "")))
	}
	out = append(out, g.buttons(st, cw))
	return box.Width(g.dialogWidth()).Render(strings.Join(out, "\n"))
}

func (g gateDialog) buttons(st styles, cw int) string {
	var parts []string
	for i, c := range g.choices() {
		if i == g.choice {
			parts = append(parts, st.selected.Render("[ "+string(c)+" ]"))
		} else {
			parts = append(parts, "  "+string(c)+"  ")
		}
	}
	hint := "enter choose · ←/→ · esc back out"
	if !g.input.Focused() && len(g.choices()) <= 2 {
		hint = "enter/y proceed · ←/→ · esc back out"
	}
	return truncate(strings.Join(parts, " ")+"  "+st.dim.Render(hint), cw)
}

func (g gateDialog) help() bindings {
	k := g.keys
	if g.readOnly {
		return bindings{short: []key.Binding{k.Back, k.Up, k.Down, k.Expand}, full: [][]key.Binding{{k.Back, k.Expand}, {k.Up, k.Down, k.PageUp, k.PageDown}}}
	}
	proceed := k.Proceed
	if g.input.Focused() || len(g.choices()) > 2 {
		proceed = k.Submit
	}
	return bindings{
		short: []key.Binding{proceed, k.Back, k.Up, k.Down, k.Expand},
		full:  [][]key.Binding{{proceed, k.Back, k.Expand}, {k.Up, k.Down, k.PageUp, k.PageDown}},
	}
}

// diffLines shows the files the step changes, per node: a move as one
// line, an edit as its changed lines, folded like a script (ctrl+x shows
// the whole unified diff with its context). The diff is the engine's typed
// field, redacted there; it is shown, never parsed for meaning.
func (g *gateDialog) diffLines(wrap func(prefix, s string), out *[]string) {
	if len(g.gate.Diffs) == 0 {
		return
	}
	*out = append(*out, "", "Files changed:")
	for _, d := range g.gate.Diffs {
		if d.From != "" {
			back := ""
			if d.Back {
				back = " and back" // a bounce: the kubelet restarts the pod
			}
			wrap("  ", d.Node+": move "+d.From+" → "+d.Path+back+" (unchanged)")
			continue
		}
		head := fmt.Sprintf("%s: %s (+%d −%d)", d.Node, d.Path, d.Added, d.Removed)
		switch {
		case d.Unread != "":
			head += " · not read (" + d.Unread + "): the lines that change"
		case d.Placeholder:
			head += " · sketch: the file is read at the gate"
		}
		wrap("  ", head)
		lines := strings.Split(strings.TrimSuffix(d.Unified, "\n"), "\n")
		hidden := 0
		for _, l := range lines {
			changed := (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) &&
				!strings.HasPrefix(l, "+++ ") && !strings.HasPrefix(l, "--- ")
			if !g.expanded && !changed {
				hidden++
				continue
			}
			wrap("    ", l)
		}
		if hidden > 0 {
			*out = append(*out, fmt.Sprintf("    ⋯ %d more diff lines: headers and context (ctrl+x shows them)", hidden))
		}
	}
}
