package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/etcd-dr/etcd-dr/steps/event"
)

// styles is the one place for colours. It is built once per background
// (light or dark) and carries no colour at all when NO_COLOR is set, so a
// monochrome terminal or a screen reader still gets the glyphs and words that
// carry the meaning (colour is never the only signal).
type styles struct {
	header, drill, dim, bold, title, titleFocused lipgloss.Style
	ok, warn, bad, run, pending, selected         lipgloss.Style
	dialog, dialogDanger, input                   lipgloss.Style
	help                                          help.Styles
}

func newStyles(isDark, noColor bool) styles {
	if noColor {
		plain := lipgloss.NewStyle()
		b := plain.Bold(true)
		box := plain.Border(lipgloss.NormalBorder()).Padding(0, 1)
		h := help.Styles{}
		return styles{
			header: b, drill: b.Reverse(true), dim: plain, bold: b, title: b, titleFocused: b.Reverse(true),
			ok: plain, warn: b, bad: b, run: b, pending: plain, selected: plain.Reverse(true),
			dialog: box, dialogDanger: box.Border(lipgloss.ThickBorder()), input: plain, help: h,
		}
	}
	ld := lipgloss.LightDark(isDark)
	fg := func(light, dark string) lipgloss.Style {
		return lipgloss.NewStyle().Foreground(ld(lipgloss.Color(light), lipgloss.Color(dark)))
	}
	box := lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1)
	return styles{
		header:       fg("#1F2937", "#E5E7EB").Bold(true),
		drill:        lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("#000000")).Background(lipgloss.Color("#FBBF24")),
		dim:          fg("#6B7280", "#9CA3AF"),
		bold:         lipgloss.NewStyle().Bold(true),
		title:        fg("#374151", "#D1D5DB").Bold(true),
		titleFocused: fg("#1D4ED8", "#93C5FD").Bold(true).Underline(true),
		ok:           fg("#047857", "#34D399"),
		warn:         fg("#B45309", "#FBBF24").Bold(true),
		bad:          fg("#B91C1C", "#F87171").Bold(true),
		run:          fg("#1D4ED8", "#60A5FA").Bold(true),
		pending:      fg("#6B7280", "#9CA3AF"),
		selected:     lipgloss.NewStyle().Background(ld(lipgloss.Color("#E5E7EB"), lipgloss.Color("#374151"))),
		dialog:       box.BorderForeground(ld(lipgloss.Color("#1D4ED8"), lipgloss.Color("#60A5FA"))),
		dialogDanger: box.BorderForeground(ld(lipgloss.Color("#B91C1C"), lipgloss.Color("#F87171"))),
		input:        fg("#111827", "#F9FAFB"),
		help:         help.DefaultStyles(isDark),
	}
}

// state returns the style and glyph for a step or node state. The glyph
// differs per state so the state reads without colour.
func (s styles) state(st event.State) (lipgloss.Style, string) {
	switch st {
	case event.Done:
		return s.ok, "✓"
	case event.Failed:
		return s.bad, "✗"
	case event.Running:
		return s.run, "▶"
	case event.Verifying:
		return s.run, "◆"
	case event.WaitingGate:
		return s.warn, "?"
	case event.Skipped:
		return s.dim, "–"
	default:
		return s.pending, "·"
	}
}

// paneTitle is a pane's first line. The focused pane is marked by a glyph as
// well as colour so focus is visible without colour.
func paneTitle(st styles, text string, focused bool, width int) string {
	mark, style := "  ", st.title
	if focused {
		mark, style = "▌ ", st.titleFocused
	}
	text = truncate(text, max(0, width-3))
	fill := max(0, width-cellWidth(mark+text)-1)
	return mark + style.Render(text) + " " + st.dim.Render(strings.Repeat("─", fill))
}

// truncate cuts s to width cells, marking the cut.
func truncate(s string, width int) string {
	if isPlainASCII(s) {
		switch {
		case len(s) <= width:
			return s
		case width <= 0:
			return ""
		}
		return s[:width-1] + "…"
	}
	return ansi.Truncate(s, width, "…")
}

// padRight pads s with spaces to width cells.
func padRight(s string, width int) string {
	if w := cellWidth(s); w < width {
		return s + strings.Repeat(" ", width-w)
	}
	return s
}

// cellWidth is the width of s on screen. Log lines are mostly plain ASCII,
// where a byte is a cell; the grapheme-aware measure is for the rest.
func cellWidth(s string) int {
	if isPlainASCII(s) {
		return len(s)
	}
	return ansi.StringWidth(s)
}

// isPlainASCII reports printable ASCII without escape sequences.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// clock formats a duration as the operator reads a stopwatch: m:ss, or
// h:mm:ss past an hour. Negative durations (clock skew) show as 0:00.
func clock(d time.Duration) string {
	d = max(0, d).Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
