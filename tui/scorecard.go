package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/etcd-dr/etcd-dr/steps/event"
)

// scorecardView is the end screen: time per step, total RTO, and the
// invariants the verify step proved or broke.
func (m Model) scorecardView() string {
	st := m.st
	verdict, style := "RESTORE COMPLETE", st.ok
	if m.rs.runbook != "" && m.rs.runbook != event.RunbookRestore {
		verdict = strings.ToUpper(m.rs.runbook) + " COMPLETE"
	}
	last := m.rs.lastStep()
	if last == nil || last.State != event.Done {
		verdict, style = "RUN ENDED BEFORE VERIFY PASSED", st.bad
	}
	var inv []invariant
	if last != nil {
		inv = groupInvariants(last.Checks)
	}
	failed := 0
	for _, iv := range inv {
		if !iv.ok {
			failed++
		}
	}
	if failed > 0 {
		verdict, style = fmt.Sprintf("%d INVARIANT(S) FAILED", failed), st.bad
	}
	out := []string{
		paneTitle(st, "Scorecard · "+m.o.Cluster.Name, true, m.width),
		style.Render(verdict) + "   total RTO " + st.bold.Render(clock(m.rs.rto(m.nowT))) + " (cluster down)",
		st.dim.Render(fmt.Sprintf("at gates: %s of the RTO, %s in the whole run",
			clock(m.rs.atGates(m.nowT, true)), clock(m.rs.atGates(m.nowT, false)))),
		"",
		st.dim.Render(fmt.Sprintf("  %-22s %-16s %8s", "STEP", "RESULT", "TIME")),
	}
	for _, s := range m.rs.steps {
		sty, glyph := st.state(s.State)
		el := "–"
		if !s.Started.IsZero() {
			el = clock(s.elapsed(m.nowT))
		}
		out = append(out, sty.Render(fmt.Sprintf("%s %s %-20s %-16s %8s", glyph, label(s), truncate(s.shortTitle(), 20), s.State, el)))
	}
	if len(inv) > 0 {
		out = append(out, "", st.dim.Render(fmt.Sprintf("  INVARIANTS  %d passed, %d failed", len(inv)-failed, failed)))
		for _, iv := range inv {
			out = append(out, m.invariantLines(iv)...)
		}
	}
	return strings.Join(out, "\n")
}

// invariant is one line of the scorecard: a check, on the nodes where it
// came out the same way with the same detail.
type invariant struct {
	check, detail string
	ok            bool
	nodes         []string
}

// groupInvariants folds one check passed the same way on several nodes
// ("lock released" on every control-plane node) into one line, and puts
// the failed ones first: on a small terminal the end of the list is what
// gets cut, and a broken invariant must never be.
//
// A node's check joins the first line of the same check, result and detail
// that holds nodes (one map look-up: step 5 has a check per node); a check
// of no node is a line of its own.
func groupInvariants(checks []event.CheckEvent) []invariant {
	type same struct {
		check, detail string
		ok            bool
	}
	var out []invariant
	first := map[same]int{}
	for _, c := range checks {
		if c.Node == "" {
			out = append(out, invariant{check: c.Check, detail: c.Detail, ok: c.OK})
			continue
		}
		k := same{c.Check, c.Detail, c.OK}
		i, ok := first[k]
		if !ok {
			out = append(out, invariant{check: c.Check, detail: c.Detail, ok: c.OK})
			i = len(out) - 1
			first[k] = i
		}
		out[i].nodes = append(out[i].nodes, c.Node)
	}
	slices.SortStableFunc(out, func(a, b invariant) int {
		switch {
		case a.ok == b.ok:
			return 0
		case !a.ok:
			return -1
		}
		return 1
	})
	return out
}

// invariantLines renders one invariant. A passed one is cut to the width;
// a failed one wraps, since its detail is the reason in plain words.
func (m Model) invariantLines(iv invariant) []string {
	sty, glyph := m.st.ok, "✓"
	if !iv.ok {
		sty, glyph = m.st.bad, "✗"
	}
	text := glyph + " " + iv.check
	if len(iv.nodes) > 0 {
		text += " on " + strings.Join(iv.nodes, ", ")
	}
	if iv.detail != "" {
		text += " — " + iv.detail
	}
	if iv.ok || m.width < 20 {
		return []string{sty.Render(truncate(text, m.width))}
	}
	var out []string
	for i, l := range strings.Split(lipgloss.Wrap(text, m.width-2, ""), "\n") {
		if i > 0 {
			l = "  " + l
		}
		out = append(out, sty.Render(l))
	}
	return out
}

// scrollScorecard moves the scorecard's window. The bounds are settled when
// it is drawn (scrolled), which knows the height.
func (m *Model) scrollScorecard(msg tea.KeyPressMsg) {
	k, page := m.keys, max(1, m.height-4)
	last := strings.Count(m.card, "\n") // drawn by the last message's layout
	switch {
	case key.Matches(msg, k.Down):
		m.cardTop++
	case key.Matches(msg, k.Up):
		m.cardTop--
	case key.Matches(msg, k.PageDown):
		m.cardTop += page
	case key.Matches(msg, k.PageUp):
		m.cardTop -= page
	case key.Matches(msg, k.Top):
		m.cardTop = 0
	case key.Matches(msg, k.Bottom):
		m.cardTop = last
	}
	m.cardTop = max(0, min(m.cardTop, last))
}

// scrolled shows h lines of s from top. When s is taller, the last line
// says how much is hidden below (and the first how much above), so a cut
// list of invariants never passes for a complete one.
func scrolled(s string, top, h int, dim lipgloss.Style) string {
	lines := strings.Split(s, "\n")
	if len(lines) <= h || h < 3 {
		return s
	}
	top = max(0, min(top, len(lines)-h))
	var out []string
	start := 0
	if top > 0 {
		start = top + 1 // the first row says what is above it
		out = append(out, dim.Render(fmt.Sprintf("↑ %d more line(s) above (k/pgup)", start)))
	}
	room := h - len(out)
	if len(lines)-start <= room {
		return strings.Join(append(out, lines[start:]...), "\n")
	}
	end := start + room - 1
	out = append(out, lines[start:end]...)
	out = append(out, dim.Render(fmt.Sprintf("↓ %d more line(s) below (j/pgdn)", len(lines)-end)))
	return strings.Join(out, "\n")
}

// shortTitle is the runbook's short name for the step ("restore etcd"):
// the scorecard's column has no room for a gate's full title.
func (s *stepInfo) shortTitle() string {
	if s.Short != "" {
		return s.Short
	}
	return s.Title
}
