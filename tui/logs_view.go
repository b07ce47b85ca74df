package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Update handles a key while the logs pane has focus.
func (p *logsPane) Update(msg tea.KeyPressMsg) tea.Cmd {
	if p.editing {
		return p.updateFilter(msg)
	}
	p.notice = ""
	k := p.keys
	switch {
	case key.Matches(msg, k.Up):
		p.scrollTo(p.start() - 1)
	case key.Matches(msg, k.Down):
		p.scrollTo(p.start() + 1)
	case key.Matches(msg, k.PageUp):
		p.scrollTo(p.start() - p.rows())
	case key.Matches(msg, k.PageDown):
		p.scrollTo(p.start() + p.rows())
	case key.Matches(msg, k.Top):
		p.scrollTo(0)
		if p.length() > p.rows() {
			p.follow, p.top = false, p.seqAt(0)
		}
	case key.Matches(msg, k.Bottom):
		p.follow = true
	case key.Matches(msg, k.Follow):
		if p.follow {
			p.follow, p.top = false, p.seqAtOr(p.start())
		} else {
			p.follow = true
		}
	case key.Matches(msg, k.AllNodes):
		p.allMode = !p.allMode
		p.rebuildIndex()
		p.follow = true
	case key.Matches(msg, k.NextError):
		p.nextError()
	case key.Matches(msg, k.Filter):
		p.editing = true
		p.input.SetValue(p.filter)
		return p.input.Focus()
	}
	return nil
}

func (p *logsPane) seqAtOr(i int) uint64 {
	if i < p.length() {
		return p.seqAt(i)
	}
	return p.source().next
}

func (p *logsPane) updateFilter(msg tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(msg, p.keys.Submit):
		p.editing = false
		p.input.Blur()
		p.filter = strings.ToLower(strings.TrimSpace(p.input.Value()))
		p.rebuildIndex()
		p.follow = true
		return nil
	case key.Matches(msg, p.keys.Back):
		p.editing = false
		p.input.Blur()
		p.input.SetValue("")
		p.filter = ""
		p.rebuildIndex()
		p.follow = true
		return nil
	}
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	return cmd
}

// nextError pauses on the next line below the top row that looks like an
// error, wrapping to the oldest line once.
func (p *logsPane) nextError() {
	from := p.start() + 1
	if p.mark != 0 && !p.follow {
		from = p.posOf(p.mark-1) + 1
	}
	src := p.source()
	n := p.length()
	for i := 0; i < n; i++ {
		pos := (from + i) % n
		seq := p.seqAt(pos)
		if l, ok := src.at(seq); ok && l.isErr {
			p.mark = seq + 1
			p.follow, p.top = false, seq
			if pos >= max(0, n-p.rows()) {
				p.follow = true // already on the last screen
			}
			return
		}
	}
	p.notice = "no error lines"
}

func (p *logsPane) title() string {
	src := "all nodes"
	if !p.allMode && p.node != "" {
		src = p.node
	}
	mode := "following"
	if !p.follow {
		mode = fmt.Sprintf("paused, %d newer", max(0, p.length()-p.start()-p.rows()))
	}
	t := "Logs · " + src + " · " + mode
	if p.filter != "" {
		t += " · filter " + p.filter
	}
	if p.notice != "" {
		t += " · " + p.notice
	}
	return t
}

// View renders the title and the rows on screen.
func (p *logsPane) View(st styles) string {
	if p.height <= 0 || p.width <= 0 {
		return ""
	}
	head := paneTitle(st, p.title(), p.focused, p.width)
	if p.editing {
		head = ansi.Truncate(p.input.View(), p.width, "…")
	}
	rows := p.rows()
	start := p.start()
	end := min(p.length(), start+rows)
	src := p.source()
	lines := make([]string, 0, rows)
	for i := start; i < end; i++ {
		seq := p.seqAt(i)
		l, _ := src.at(seq)
		lines = append(lines, p.renderLine(st, l, p.mark == seq+1))
	}
	if len(lines) == 0 {
		lines = append(lines, st.dim.Render("no output yet"))
	}
	return head + "\n" + block(lines, p.width, rows)
}

// block is lines as a w×h block, cut (not marked) at w and padded with
// spaces: what a viewport of that size drew for them (a lipgloss style
// measuring, wrapping and aligning every line again, a third of a flood
// frame's View), from lines that renderLine already cut to the width.
// TestLogsBlockDrawsAsTheViewportDid holds the two equal.
func block(lines []string, w, h int) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	var b strings.Builder
	for i := range h {
		if i > 0 {
			b.WriteByte('\n')
		}
		l := ""
		if i < len(lines) {
			l = lines[i]
		}
		cw := cellWidth(l)
		if cw > w {
			l, cw = ansi.Cut(l, 0, w), w
		}
		b.WriteString(l)
		b.WriteString(strings.Repeat(" ", w-cw))
	}
	return b.String()
}

func (p *logsPane) renderLine(st styles, l logLine, marked bool) string {
	var b strings.Builder
	b.WriteString(l.at.Format("15:04:05"))
	b.WriteByte(' ')
	if p.allMode || p.node == "" {
		b.WriteString(padRight(truncate(l.node, p.nameW), p.nameW))
		b.WriteByte(' ')
	}
	b.WriteString(l.text)
	s := ansi.Truncate(b.String(), p.width, "…")
	switch {
	case marked:
		return st.selected.Render(st.bad.Render(s))
	case l.isErr:
		return st.bad.Render(s)
	}
	return s
}

// keyMap for the footer.
func (p *logsPane) help(gatePending bool) bindings {
	k := p.keys
	if p.editing {
		return bindings{short: []key.Binding{k.Submit, k.Back}, full: [][]key.Binding{{k.Submit, k.Back}}}
	}
	return bindings{
		short: append([]key.Binding{k.Follow, k.Filter, k.NextError, k.AllNodes}, k.global(gatePending)...),
		full: [][]key.Binding{
			{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
			{k.Follow, k.Filter, k.NextError, k.AllNodes},
			k.global(gatePending),
		},
	}
}
