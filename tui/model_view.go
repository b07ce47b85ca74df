package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
)

// wideWidth is where the logs move beside the steps and nodes.
const wideWidth = 120

// layout sizes the panes for the window and the current content. It runs
// in Update, so View only draws.
func (m *Model) layout() {
	if m.width <= 0 || m.height <= 0 {
		return
	}
	m.help.SetWidth(m.width)
	m.card = ""
	if m.scorecard {
		m.card = m.scorecardView() // as of this message's clock, which View reads too
	}
	m.footerText = m.footer()
	bodyH := max(0, m.height-1-lipgloss.Height(m.footerText))
	nodesWant := len(m.rs.nodes) + 2
	m.gate.SetSize(m.width, bodyH)
	if m.width >= wideWidth {
		leftW := m.width / 2
		stepsH := min(m.steps.wantHeight(m.rs), max(1+len(m.rs.steps), bodyH-min(nodesWant, bodyH/3)))
		m.steps.SetSize(leftW, stepsH)
		m.inv.SetSize(leftW, bodyH-stepsH)
		m.logs.SetSize(m.width-leftW-1, bodyH)
		return
	}
	const minLogs = 5
	invH := min(nodesWant, max(4, bodyH/4))
	stepsH := max(0, min(m.steps.wantHeight(m.rs), bodyH-invH-minLogs))
	m.steps.SetSize(m.width, stepsH)
	m.inv.SetSize(m.width, invH)
	m.logs.SetSize(m.width, max(0, bodyH-invH-stepsH))
}

// footer is the focused part's keys. Lines are cut to the width because
// help.Model adds an item that overflows when even its ellipsis would not fit.
func (m *Model) footer() string {
	lines := strings.Split(m.help.View(m.helpKeys()), "\n")
	if m.help.ShowAll && m.focus == focusNodes && !m.confirmQuit && !m.gate.open && !m.scorecard {
		for _, r := range unknownReasons(m.rs, m.rs.byNode[m.inv.selected(m.rs)]) {
			lines = append(lines, m.st.dim.Render(r))
		}
	}
	for i, l := range lines {
		lines[i] = truncate(l, m.width)
	}
	return strings.Join(lines, "\n")
}

// View draws the frame from the model's state; it does no I/O and reads the
// clock only as of the last message, so equal states draw equal frames.
func (m Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "etcd-dr " + m.o.Cluster.Name
	return v
}

func (m Model) render() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	footer := m.footerText // built in Update by layout
	bodyH := max(0, m.height-1-lipgloss.Height(footer))
	var body string
	switch {
	case m.confirmQuit:
		body = m.center(m.quitDialog(), bodyH)
	case m.gate.open:
		body = m.center(m.gate.View(m.st), bodyH)
	case m.scorecard:
		body = fit(scrolled(m.card, m.cardTop, bodyH, m.st.dim), m.width, bodyH)
	case m.width >= wideWidth:
		left := fit(m.steps.View(m.st, m.rs, m.nowT)+"\n"+m.inv.View(m.st, m.rs, m.nowT), m.width/2, bodyH)
		right := fit(m.logs.View(m.st), m.width-m.width/2-1, bodyH)
		body = beside(left, m.st.dim.Render("│"), right)
	default:
		body = fit(strings.Join([]string{
			fitH(m.steps.View(m.st, m.rs, m.nowT), m.steps.height),
			fitH(m.inv.View(m.st, m.rs, m.nowT), m.inv.height),
			m.logs.View(m.st),
		}, "\n"), m.width, bodyH)
	}
	return m.header() + "\n" + body + "\n" + footer
}

func (m Model) center(box string, h int) string {
	return lipgloss.Place(m.width, h, lipgloss.Center, lipgloss.Center, box)
}

// header: who, what, whether it is a drill, and the RTO clock.
func (m Model) header() string {
	left := m.st.header.Render("etcd-dr · " + m.o.Cluster.Name)
	if m.o.Drill {
		left += " " + m.st.drill.Render(" THIS IS A DRILL ")
	}
	if m.o.ReadOnly {
		left += " " + m.st.warn.Render("read-only")
	}
	right := "RTO " + clock(m.rs.rto(m.nowT))
	switch {
	case m.rs.finished():
		right = "ended · " + right
	case m.gate.pending && !m.gate.open:
		right = "gate waiting (o) · " + right
	}
	if g := m.rs.atGates(m.nowT, true); g > 0 {
		// The part of the downtime the operator spent deciding, while it
		// fits: the clock itself is never pushed out.
		if withGates := right + " (gates " + clock(g) + ")"; lipgloss.Width(left)+lipgloss.Width(withGates)+1 <= m.width {
			right = withGates
		}
	}
	if h := m.rs.holes; len(h) > 0 {
		// Never dropped: a watcher must not take a picture with holes for
		// the whole run. The long form while it fits beside the clock.
		long := fmt.Sprintf("JOURNAL INCOMPLETE: line %d not read", h[0])
		if len(h) > 1 {
			long = fmt.Sprintf("JOURNAL INCOMPLETE: line %d and %d more not read", h[0], len(h)-1)
		}
		n := m.st.bad.Render(long)
		if lipgloss.Width(left)+lipgloss.Width(n)+lipgloss.Width(right)+2 > m.width {
			n = m.st.bad.Render("JOURNAL INCOMPLETE")
		}
		left += " " + n
	}
	if m.o.Notice != "" {
		// Shown while it fits beside the clock; the clock wins on narrow screens.
		room := m.width - lipgloss.Width(left) - lipgloss.Width(right) - 2
		if n := m.st.warn.Render(m.o.Notice); lipgloss.Width(n) <= room {
			left += " " + n
		}
	}
	gap := m.width - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return truncate(left, m.width)
	}
	return left + strings.Repeat(" ", gap) + m.st.bold.Render(right)
}

func (m Model) quitDialog() string {
	busy := m.rs.busy()
	lines := []string{m.st.bold.Render("Quit while a step is running?")}
	if busy != nil {
		lines = append(lines, fmt.Sprintf("%s is %s: quitting interrupts it mid-change.", busy.shortTitle(), busy.State))
	}
	if m.o.Resume != "" {
		lines = append(lines, "Resume later with: "+m.o.Resume)
	}
	lines = append(lines, "", "y quit · n stay")
	w := min(m.width-2, 70)
	return m.st.dialogDanger.Width(w).Render(lipgloss.Wrap(strings.Join(lines, "\n"), w-4, ""))
}

// beside joins two blocks of equal height line by line. Both come from fit,
// so no line needs measuring again.
func beside(left, sep, right string) string {
	l, r := strings.Split(left, "\n"), strings.Split(right, "\n")
	var b strings.Builder
	for i := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l[i])
		b.WriteString(sep)
		if i < len(r) {
			b.WriteString(r[i])
		}
	}
	return b.String()
}

// fit makes s exactly w×h cells: long lines cut, missing lines padded.
func fit(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		lines[i] = fitLine(l, w)
	}
	for len(lines) < h {
		lines = append(lines, strings.Repeat(" ", w))
	}
	return strings.Join(lines, "\n")
}

// fitH makes s exactly h lines.
func fitH(s string, h int) string {
	if h <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// fitLine makes one line exactly w cells, measuring it once.
func fitLine(l string, w int) string {
	cw := cellWidth(l)
	switch {
	case cw == w:
		return l
	case cw < w:
		return l + strings.Repeat(" ", w-cw)
	}
	return padRight(truncate(l, w), w)
}
