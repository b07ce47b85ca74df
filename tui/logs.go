package tui

import (
	"sort"
	"strings"

	"charm.land/bubbles/v2/textinput"

	"github.com/etcd-dr/etcd-dr/steps/event"
)

// Ring sizes: enough history to read back through a step on every node,
// bounded so a 50-node flood cannot grow memory without end.
const (
	nodeRingLines = 2000
	allRingLines  = 10000
)

// logsPane is the live tail. It keeps one ring per node plus one of all nodes
// interleaved, and only ever draws the lines on screen, so a
// frame costs the same with ten lines of history or ten thousand.
type logsPane struct {
	keys    keyMap
	perNode map[string]*ring
	all     *ring
	empty   *ring  // the source of a node with no output yet
	node    string // node selected in the inventory
	allMode bool   // show every node interleaved
	follow  bool
	top     uint64 // sequence of the top line while paused
	mark    uint64 // sequence of the error line jumped to (+1; 0 = none)
	filter  string
	index   []uint64 // sequences in the source ring matching filter, ascending
	input   textinput.Model
	editing bool // the filter input has the keyboard
	notice  string
	width   int
	height  int
	focused bool
	nameW   int
}

func newLogsPane(keys keyMap, nodeNames []string) logsPane {
	in := textinput.New()
	in.Prompt = "/"
	in.Placeholder = "filter (enter to apply, esc to clear)"
	nameW := 4
	for _, n := range nodeNames {
		nameW = max(nameW, min(len(n), 16))
	}
	return logsPane{
		keys: keys, perNode: map[string]*ring{}, all: newRing(allRingLines), empty: newRing(1),
		allMode: true, follow: true, input: in, nameW: nameW,
	}
}

func (p *logsPane) SetSize(w, h int) {
	p.width, p.height = w, h
	p.input.SetWidth(max(1, w-2))
}

func (p *logsPane) Focus(on bool) {
	p.focused = on
	if !on {
		p.editing = false
		p.input.Blur()
	}
}

// selectNode follows the inventory's cursor.
func (p *logsPane) selectNode(name string) {
	if p.node == name && !p.allMode {
		return
	}
	p.node, p.allMode = name, false
	if p.perNode[name] == nil {
		// Created here, in Update, so lines that arrive later land in the
		// ring the filter index points at.
		p.perNode[name] = newRing(nodeRingLines)
	}
	p.rebuildIndex()
	p.follow = true
}

// logText is a line as the pane shows it: a command after "$ ", the
// engine's own note after "# ", as a shell transcript reads.
func logText(l event.LogLine) string {
	switch l.Kind {
	case event.LogCommand:
		return "$ " + l.Text
	case event.LogNote:
		return "# " + l.Text
	}
	return l.Text
}

// appendLines stores one batch. Work is proportional to the batch only.
func (p *logsPane) appendLines(lines []event.LogLine) {
	src := p.source()
	for _, ln := range lines {
		l := newLogLine(ln.Node, logText(ln), ln.At)
		r := p.perNode[ln.Node]
		if r == nil {
			r = newRing(nodeRingLines)
			p.perNode[ln.Node] = r
		}
		r.push(l)
		p.all.push(l)
		if p.filter != "" && (r == src || p.all == src) && p.matches(l) {
			p.index = append(p.index, src.next-1)
		}
	}
	if p.filter != "" {
		first := src.first()
		drop := sort.Search(len(p.index), func(i int) bool { return p.index[i] >= first })
		p.index = p.index[drop:]
	}
}

func (p *logsPane) source() *ring {
	if p.allMode || p.node == "" {
		return p.all
	}
	if r := p.perNode[p.node]; r != nil {
		return r
	}
	return p.empty
}

func (p *logsPane) matches(l logLine) bool {
	return strings.Contains(strings.ToLower(l.text), p.filter) ||
		(p.allMode && strings.Contains(strings.ToLower(l.node), p.filter))
}

// rebuildIndex scans the source ring once, when the filter or source changes.
func (p *logsPane) rebuildIndex() {
	p.index = p.index[:0]
	if p.filter == "" {
		return
	}
	src := p.source()
	for seq := src.first(); seq < src.next; seq++ {
		if l, _ := src.at(seq); p.matches(l) {
			p.index = append(p.index, seq)
		}
	}
}

func (p *logsPane) length() int {
	if p.filter != "" {
		return len(p.index)
	}
	return p.source().n
}

func (p *logsPane) seqAt(i int) uint64 {
	if p.filter != "" {
		return p.index[i]
	}
	return p.source().first() + uint64(i)
}

func (p *logsPane) posOf(seq uint64) int {
	if p.filter != "" {
		return sort.Search(len(p.index), func(i int) bool { return p.index[i] >= seq })
	}
	first := p.source().first()
	if seq < first {
		return 0
	}
	return int(seq - first)
}

func (p *logsPane) rows() int { return max(0, p.height-1) }

// start is the list position of the top row on screen.
func (p *logsPane) start() int {
	bottom := max(0, p.length()-p.rows())
	if p.follow {
		return bottom
	}
	return min(p.posOf(p.top), bottom)
}

func (p *logsPane) scrollTo(pos int) {
	bottom := max(0, p.length()-p.rows())
	pos = max(0, min(pos, bottom))
	if pos == bottom {
		p.follow = true // reaching the newest line resumes following
		return
	}
	p.follow, p.top = false, p.seqAt(pos)
}

// LogStats says what the console did with the log lines it was given. The
// console is lossy by design (bounded rings: the oldest lines go first);
// the transcript is where every line is kept.
type LogStats struct {
	Received    uint64 // lines handed to the console
	KeptAll     int    // lines held in the all-nodes ring
	KeptPerNode int    // lines held over every per-node ring
	Dropped     uint64 // lines rotated out of the all-nodes ring
	RingCap     int    // the all-nodes ring's capacity (each node's: NodeRingCap)
	NodeRingCap int
}

// LogStats reports the log rings' counters (the flood benchmark reads them).
func (m Model) LogStats() LogStats {
	p := &m.logs
	s := LogStats{Received: p.all.next, KeptAll: p.all.n, Dropped: p.all.next - uint64(p.all.n),
		RingCap: len(p.all.buf), NodeRingCap: nodeRingLines}
	for _, r := range p.perNode {
		s.KeptPerNode += r.n
	}
	return s
}
