package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/etcd-dr/etcd-dr/steps/event"
)

// The dialog's buttons are the engine's event.Choice values (a failure gate
// offers retry, re-verify, undo when the step has one, continue when a
// partial result is allowed; the console sends exactly one of those) and
// two of the console's own, never sent as a Choice: proceed is
// Decision{Proceed: true} alone, abort is Decision{Proceed: false} (the
// engine stops and the run stays resumable).
const (
	choiceProceed event.Choice = "proceed"
	choiceAbort   event.Choice = "abort"
)

var choiceHelp = map[event.Choice]string{
	event.ChoiceRetry:    "run the step again (every action is safe to repeat)",
	event.ChoiceReverify: "check the result again without re-running (wait for a slow node)",
	event.ChoiceUndo:     "put back what this step changed; its gate is offered again",
	event.ChoiceContinue: "accept a partial result; the nodes left out are listed in the scorecard",
	choiceAbort:          "stop here; nothing more runs; resume later from the journal",
}

// gateDialog is the confirmation the engine waits for. It shows the exact
// commands per node and the facts, and will not open a destructive gate
// until the cluster name is typed. esc backs out without answering: the gate
// stays pending and "o" reopens it.
type gateDialog struct {
	keys     keyMap
	gate     event.Gate
	failure  string // why the step failed; non-empty offers retry/undo/abort
	cluster  string // the name to type when the gate names none
	pending  bool
	open     bool
	readOnly bool
	expanded bool // scripts shown whole, not first and last line
	choice   int
	input    textinput.Model
	err      string
	body     viewport.Model
	width    int
	height   int
	// bodyW is the width the body was last wrapped at and bodyN its line
	// count: wrapping a 1000-node gate is the dear part, and it depends
	// only on the gate, the expansion and this width, not on the height.
	bodyW, bodyN int
}

func newGateDialog(keys keyMap, cluster string, readOnly bool) gateDialog {
	in := textinput.New()
	in.Prompt = "› "
	return gateDialog{keys: keys, cluster: cluster, readOnly: readOnly, input: in, body: viewport.New()}
}

// ask puts a gate (or a failure) in front of the operator.
func (g *gateDialog) ask(gate event.Gate, failure string) tea.Cmd {
	if g.pending && g.gate.Step == gate.Step && failure == "" && g.failure != "" {
		// The engine's gate for a failed step brings its own choices: keep
		// the failure text and merge the choices.
		failure = g.failure
	}
	g.gate, g.failure = gate, failure
	g.pending, g.open, g.choice, g.err = true, true, 0, ""
	g.input.SetValue("")
	g.layout()
	g.body.GotoTop()
	if g.readOnly || !g.needsName() {
		g.input.Blur()
		return nil
	}
	return g.input.Focus()
}

// close forgets the gate without answering it.
func (g *gateDialog) close() {
	g.pending, g.open, g.err, g.failure = false, false, "", ""
	g.input.Blur()
	g.input.SetValue("")
}

func (g *gateDialog) name() string {
	if g.gate.Cluster != "" {
		return g.gate.Cluster
	}
	return g.cluster
}

// choices lists the buttons, the default first and abort last. When the
// engine offers choices, a plain proceed is not one of them: it would be
// refused.
func (g *gateDialog) choices() []event.Choice {
	var out []event.Choice
	switch {
	case len(g.gate.Choices) > 0:
		out = slices.Clone(g.gate.Choices)
	case g.failure != "":
		// The step failed and the engine's gate has not arrived yet.
		out = []event.Choice{event.ChoiceRetry, event.ChoiceUndo}
	default:
		out = []event.Choice{choiceProceed}
	}
	if !slices.Contains(out, choiceAbort) {
		out = append(out, choiceAbort)
	}
	return out
}

// needsName reports whether the selected choice needs the typed name: every
// answer but abort at a destructive gate (the engine refuses it otherwise),
// and every undo.
func (g *gateDialog) needsName() bool {
	c := g.choices()[g.choice]
	if c == choiceAbort {
		return false
	}
	_, override := c.Overrides() // a readiness override opens the way to step 1
	return g.gate.NeedsName || c == event.ChoiceUndo || override
}

// SetSize runs on every message (the root's layout): the body is wrapped
// again only when its width changes; a new height only resizes the view.
func (g *gateDialog) SetSize(w, h int) {
	if w == g.width && h == g.height {
		return
	}
	g.width, g.height = w, h
	if g.dialogWidth()-4 != g.bodyW {
		g.layout()
		return
	}
	g.sizeBody()
	if g.body.PastBottom() { // as SetContentLines would have left it
		g.body.GotoBottom()
	}
}

func (g *gateDialog) dialogWidth() int { return max(20, min(g.width-2, 100)) }

// layout wraps the body again: when the gate, the expansion or the width
// changes.
func (g *gateDialog) layout() {
	cw := g.dialogWidth() - 4
	lines := g.bodyLines(cw)
	g.bodyW, g.bodyN = cw, len(lines)
	g.sizeBody()
	g.body.SetContentLines(lines)
}

func (g *gateDialog) sizeBody() {
	fixed := 2 + 1 + 1 + 1 + 3 // border, title, blank, buttons, name prompt+input+error
	g.body.SetWidth(g.bodyW)
	g.body.SetHeight(max(1, min(g.bodyN, g.height-fixed)))
	g.input.SetWidth(max(1, g.bodyW-3))
}

// bodyLines is the gate's text: reason, facts, then the exact commands.
func (g *gateDialog) bodyLines(cw int) []string {
	var out []string
	// wrap indents continuation lines under the first, so a long command
	// reads as one command and not as two.
	wrap := func(prefix, s string) {
		indent := strings.Repeat(" ", lipgloss.Width(prefix))
		for i, l := range strings.Split(lipgloss.Wrap(s, max(10, cw-len(indent)), ""), "\n") {
			if i > 0 {
				prefix = indent
			}
			out = append(out, prefix+l)
		}
	}
	if g.failure != "" {
		wrap("", "Failed: "+g.failure)
	}
	if g.gate.Why != "" && g.failure == "" {
		wrap("", g.gate.Why)
	}
	if g.failure != "" || len(g.gate.Choices) > 0 {
		for _, c := range g.choices() {
			if h, ok := choiceHelp[c]; ok {
				wrap("  ", string(c)+": "+h)
			} else if node, ok := c.SourceNode(); ok {
				wrap("  ", string(c)+": restore every member from "+node+"'s data (its member/snap/db); the facts rank the members")
			} else if check, ok := c.Overrides(); ok {
				wrap("  ", string(c)+": restore despite "+check+"'s finding (type the cluster name; journaled)")
			}
		}
	}
	if len(g.gate.Facts) > 0 {
		out = append(out, "", "Facts:")
		for _, f := range g.gate.Facts {
			wrap("  • ", f)
		}
	}
	g.diffLines(wrap, &out)
	if len(g.gate.Commands) > 0 {
		out = append(out, "", "Commands, exactly as they will run:")
		for _, nc := range g.gate.Commands {
			out = append(out, "  "+nc.Node)
			for i, c := range nc.Commands {
				if i < len(nc.What) && nc.What[i] != "" {
					wrap("    # ", nc.What[i])
				}
				g.commandLines(c, wrap, &out)
			}
		}
	}
	return out
}

// countOf is "1 more script line", "2 more script lines".
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// commandLines shows one command. A multi-line shell script (park, unpark,
// restore, write) is folded to its first line, which says it is a script,
// and its last, which holds the arguments that differ per node and step:
// the files and directories it acts on. ctrl+x shows every line.
func (g *gateDialog) commandLines(c string, wrap func(prefix, s string), out *[]string) {
	lines := strings.Split(c, "\n")
	if g.expanded || len(lines) <= 2 {
		wrap("    $ ", c)
		return
	}
	wrap("    $ ", lines[0])
	shows := "them"
	if len(lines)-2 == 1 {
		shows = "it"
	}
	*out = append(*out, fmt.Sprintf("      ⋯ %s (ctrl+x shows %s)", countOf(len(lines)-2, "more script line"), shows))
	wrap("      ", lines[len(lines)-1])
}
