package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps/event"
)

// inventoryPane lists every node with what the run knows about it, so the
// operator sees at a glance which node holds a step back.
type inventoryPane struct {
	keys    keyMap
	cursor  int
	width   int
	height  int
	focused bool
	nameW   int
}

func newInventoryPane(keys keyMap, nodeNames []string) inventoryPane {
	nameW := 4
	for _, n := range nodeNames {
		nameW = max(nameW, min(len(n), 16))
	}
	return inventoryPane{keys: keys, nameW: nameW}
}

func (p *inventoryPane) SetSize(w, h int) { p.width, p.height = w, h }
func (p *inventoryPane) Focus(on bool)    { p.focused = on }

// Update moves the cursor; it reports whether the selected node changed.
func (p *inventoryPane) Update(msg tea.KeyPressMsg, rs *runState) bool {
	before := p.cursor
	switch {
	case key.Matches(msg, p.keys.Up):
		p.cursor--
	case key.Matches(msg, p.keys.Down):
		p.cursor++
	case key.Matches(msg, p.keys.PageUp):
		p.cursor -= p.rows()
	case key.Matches(msg, p.keys.PageDown):
		p.cursor += p.rows()
	case key.Matches(msg, p.keys.Top):
		p.cursor = 0
	case key.Matches(msg, p.keys.Bottom):
		p.cursor = len(rs.nodes) - 1
	}
	p.cursor = max(0, min(p.cursor, len(rs.nodes)-1))
	return p.cursor != before
}

func (p *inventoryPane) selected(rs *runState) string {
	if p.cursor < len(rs.nodes) {
		return rs.nodes[p.cursor].Name
	}
	return ""
}

func (p *inventoryPane) rows() int { return max(1, p.height-2) }

// compCols are the inventory's component columns, in component order.
var compCols = [numComponents]string{"ETCD", "API", "SCHED", "CM", "KUBELET"}

// compApplies says whether a node runs a component at all, from its roles.
func compApplies(roles []string, c component) bool {
	n := config.Node{Roles: roles}
	switch c {
	case compEtcd:
		return n.Has(config.RoleEtcd)
	case compAPI, compScheduler, compCM:
		return n.Has(config.RoleControlPlane)
	}
	return true
}

func (p inventoryPane) title(rs *runState) string {
	t := p.titleText(rs)
	if rows := p.rows(); len(rs.nodes) > rows {
		first := max(0, p.cursor-rows+1)
		t += fmt.Sprintf(" · rows %d–%d of %d", first+1, first+rows, len(rs.nodes))
	}
	return t
}

func (p inventoryPane) titleText(rs *runState) string {
	cur := rs.busy()
	if cur == nil {
		return fmt.Sprintf("Nodes · %d", len(rs.nodes))
	}
	var holding []string
	for _, name := range cur.Nodes {
		if st := cur.Progress[name].State; st != event.Done && st != event.Skipped {
			holding = append(holding, name)
		}
	}
	if len(holding) == 0 {
		return fmt.Sprintf("Nodes · %d", len(rs.nodes))
	}
	return fmt.Sprintf("Nodes · %d still on %s: %s", len(holding), cur.shortTitle(), strings.Join(holding, ", "))
}

// View renders the header row and the visible node rows.
func (p inventoryPane) View(st styles, rs *runState, now time.Time) string {
	if p.height <= 0 {
		return ""
	}
	rows := p.rows()
	offset := max(0, p.cursor-rows+1) // keep the cursor on screen
	out := []string{paneTitle(st, p.title(rs), p.focused, p.width)}
	hdr := padRight("NODE", p.nameW) + " " + padRight("ROLES", 8) + " " + padRight("SSH", 10)
	for _, c := range compCols {
		hdr += " " + padRight(c, len(c))
	}
	out = append(out, st.dim.Render(truncate(" "+hdr+" NOW", p.width)))
	for i := offset; i < len(rs.nodes) && i < offset+rows; i++ {
		out = append(out, p.row(st, rs.nodes[i], i == p.cursor, now))
	}
	return strings.Join(out, "\n")
}

func (p inventoryPane) row(st styles, n *nodeInfo, selected bool, now time.Time) string {
	cursor := " "
	if selected && p.focused {
		cursor = "›"
	}
	ssh := n.SSH
	if ssh == "" {
		ssh = "?"
	}
	if n.Latency != "" {
		ssh += " " + n.Latency
	}
	b := cursor + padRight(truncate(n.Name, p.nameW), p.nameW) + " " +
		padRight(truncate(shortRoles(n.Roles), 8), 8) + " " + padRight(truncate(ssh, 10), 10)
	for c := compEtcd; c < numComponents; c++ {
		b += " " + padRight(compCell(n, c), len(compCols[c]))
	}
	style, glyph := st.state(n.State)
	now2 := ""
	if n.Step != "" {
		now2 = glyph + " " + nodeAction(n, now)
	}
	line := truncate(b+" "+now2, p.width)
	switch {
	case n.SSH == "dead" || n.State == event.Failed:
		line = st.bad.Render(line)
	case n.State == event.Running || n.State == event.Verifying:
		line = style.Render(line)
	}
	if selected {
		line = st.selected.Render(padRight(line, p.width))
	}
	return line
}

func compCell(n *nodeInfo, c component) string {
	if len(n.Roles) > 0 && !compApplies(n.Roles, c) {
		return ""
	}
	switch n.Comp[c] {
	case compUp:
		return "up"
	case compDown:
		return "down"
	case compStale:
		return "old"
	}
	return "?"
}

// nodeAction is what a node is doing, with how long it has been at it while
// it runs: a long wait shows its progress as a growing clock.
func nodeAction(n *nodeInfo, now time.Time) string {
	switch {
	case n.State == event.Failed && n.Err != "":
		return n.Err
	case n.Action != "" && (n.State == event.Running || n.State == event.Verifying) && !n.Since.IsZero():
		return n.Action + " · " + clock(now.Sub(n.Since))
	case n.Action != "":
		return n.Action
	}
	return n.State.String()
}

func shortRoles(roles []string) string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if r == config.RoleControlPlane {
			r = "cp"
		}
		out = append(out, r)
	}
	return strings.Join(out, "+")
}

func (p *inventoryPane) help(gatePending bool) bindings {
	k := p.keys
	return bindings{
		short: append([]key.Binding{k.Up, k.Down}, k.global(gatePending)...),
		full:  [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom}, k.global(gatePending)},
	}
}
