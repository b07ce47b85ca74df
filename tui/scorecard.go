package tui

import (
	"fmt"
	"strings"

	"github.com/etcd-dr/etcd-dr/steps"
)

// scorecardView is the end screen: time per step, total RTO, and the
// invariants the verify step proved or broke.
func (m Model) scorecardView() string {
	st := m.st
	verdict, style := "RESTORE COMPLETE", st.ok
	if v := m.rs.step(steps.VerifyReport); v.State != steps.Done {
		verdict, style = "RUN ENDED BEFORE VERIFY PASSED", st.bad
	}
	inv := m.rs.step(steps.VerifyReport).Checks
	failed := 0
	for _, c := range inv {
		if !c.OK {
			failed++
		}
	}
	if failed > 0 {
		verdict, style = fmt.Sprintf("%d INVARIANT(S) FAILED", failed), st.bad
	}
	out := []string{
		paneTitle(st, "Scorecard · "+m.o.Cluster.Name, true, m.width),
		style.Render(verdict) + "   total RTO " + st.bold.Render(clock(m.rs.rto(m.nowT))),
		"",
		st.dim.Render(fmt.Sprintf("  %-22s %-16s %8s", "STEP", "RESULT", "TIME")),
	}
	for i, s := range m.rs.steps {
		sty, glyph := st.state(s.State)
		el := "–"
		if !s.Started.IsZero() {
			el = clock(s.elapsed(m.nowT))
		}
		out = append(out, sty.Render(fmt.Sprintf("%s %s %-20s %-16s %8s", glyph, label(i, s), truncate(s.Title, 20), s.State, el)))
	}
	if len(inv) > 0 {
		out = append(out, "", st.dim.Render(fmt.Sprintf("  INVARIANTS  %d passed, %d failed", len(inv)-failed, failed)))
		for _, c := range inv {
			sty, glyph := st.ok, "✓"
			if !c.OK {
				sty, glyph = st.bad, "✗"
			}
			text := glyph + " " + c.Check
			if c.Node != "" {
				text += " (" + c.Node + ")"
			}
			if c.Detail != "" {
				text += " — " + c.Detail
			}
			out = append(out, sty.Render(truncate(text, m.width)))
		}
	}
	return strings.Join(out, "\n")
}
